"""Run the drug mapping on hand-written treatment rows (no registry, no extract)."""

from __future__ import annotations

import types

import duckdb

from her2audit import vocabulary, warehouse


def map_rows(
    rows: list[tuple[str | None, str | None, str | None]],
    vocab: vocabulary.Vocabulary | None = None,
) -> duckdb.DuckDBPyConnection:
    """rows: (drug, drug_code, code_system) -> a connection on which the drug mapping ran
    (with the default vocabulary unless `vocab` is given)."""
    con = duckdb.connect()
    for schema in warehouse.SCHEMAS:
        con.execute(f"create schema if not exists {schema}")
    con.execute(
        "create table staging.treatments (record_key varchar, record_id varchar, "
        "patient_id varchar, drug varchar, drug_key varchar, drug_code varchar, "
        "code_system varchar, start_date date, end_date date, setting varchar, route varchar)"
    )
    con.executemany(
        "insert into staging.treatments values (?, null, 'p1', ?, ?, ?, ?, date '2020-01-01', "
        "null, 'metastatic', null)",
        [(f"t.csv:{n + 2}", d, " ".join(d.lower().split()) if d is not None else None, c, s)
         for n, (d, c, s) in enumerate(rows)],
    )
    vocabulary.map_drugs(types.SimpleNamespace(con=con, progress=lambda m: None), vocab)
    return con


def ingredients_by_spelling(spellings: list[str]) -> dict[str, list[str]]:
    """Each spelling -> the sorted ingredients it maps to (one mapping run for all)."""
    con = map_rows([(s, None, None) for s in spellings])
    out: dict[str, list[str]] = {s: [] for s in spellings}
    for drug, ingredient in con.execute(
        "select source_drug, ingredient from staging.administrations order by ingredient"
    ).fetchall():
        out[drug].append(ingredient)
    return out
