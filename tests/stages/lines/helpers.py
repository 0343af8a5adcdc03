"""Build a tiny warehouse from hand-written treatment rows and run the lines stage on it."""

from __future__ import annotations

import datetime as dt
import types
from collections.abc import Iterable, Sequence

import duckdb

from her2audit import vocabulary, warehouse
from her2audit.parameters import RunParameters
from her2audit.stages import lines

D = dt.date.fromisoformat


def day(base: str, offset: int) -> str:
    return (D(base) + dt.timedelta(days=offset)).isoformat()


def cycles(drug: str, first: str, n: int, every: int = 21, **extra) -> list[dict]:
    """`n` administrations of `drug` every `every` days from `first`."""
    return [{"drug": drug, "start": day(first, k * every), **extra} for k in range(n)]


def build(
    treatments: Iterable[dict],
    patients: Sequence[dict] | None = None,
    params: RunParameters | None = None,
    data_cutoff: str | None = None,
) -> duckdb.DuckDBPyConnection:
    """treatments: dicts with patient (default 'p1'), drug, start, end, setting, code,
    code_system. patients: dicts with patient, metastatic, death (default: p1 metastatic
    2020-01-01). Runs drug mapping and the lines stage; returns the open connection."""
    con = duckdb.connect()
    for schema in warehouse.SCHEMAS:
        con.execute(f"create schema if not exists {schema}")
    params = params or RunParameters()
    warehouse.set_variables(con, params.sql_variables())
    rows = [
        (
            f"t.csv:{n + 2}",
            t.get("patient", "p1"),
            t["drug"],
            " ".join(t["drug"].lower().split()),
            t.get("code"),
            t.get("code_system"),
            t["start"],
            t.get("end"),
            t.get("setting", "metastatic"),
        )
        for n, t in enumerate(treatments)
    ]
    con.execute(
        "create table staging.treatments (record_key varchar, record_id varchar, "
        "patient_id varchar, "
        "drug varchar, drug_key varchar, drug_code varchar, code_system varchar, start_date date, "
        "end_date date, setting varchar, route varchar)"
    )
    if rows:
        con.executemany(
            "insert into staging.treatments values (?, null, ?, ?, ?, ?, ?, ?, ?, ?, null)", rows
        )
    ctx = types.SimpleNamespace(con=con, progress=lambda m: None)
    vocabulary.map_drugs(ctx)
    patients = patients or [{"patient": "p1", "metastatic": "2020-01-01"}]
    con.execute(
        "create table build.patients (patient_id varchar, metastatic_date date, death_date date)"
    )
    con.executemany(
        "insert into build.patients values (?, ?, ?)",
        [(p["patient"], p["metastatic"], p.get("death")) for p in patients],
    )
    if data_cutoff:
        con.execute(
            "create table staging.data_cutoff as select ?::date as data_cutoff", [data_cutoff]
        )
    lines.infer_lines(con)
    return con


def lines_of(con: duckdb.DuckDBPyConnection, patient: str = "p1") -> list[dict]:
    rel = con.execute(
        "select * from build.lines_of_therapy where patient_id = ? order by line_number", [patient]
    )
    cols = [d[0] for d in rel.description]
    return [dict(zip(cols, r, strict=True)) for r in rel.fetchall()]


def boundaries_of(con: duckdb.DuckDBPyConnection, patient: str = "p1") -> list[dict]:
    rel = con.execute(
        "select * from build.line_boundaries where patient_id = ? order by line_number", [patient]
    )
    cols = [d[0] for d in rel.description]
    return [dict(zip(cols, r, strict=True)) for r in rel.fetchall()]


def summary(con: duckdb.DuckDBPyConnection, patient: str = "p1") -> list[tuple]:
    """(start, regimen, end_reason) per line: the compact view most tests compare."""
    return [(str(x["start_date"]), x["regimen"], x["end_reason"]) for x in lines_of(con, patient)]
