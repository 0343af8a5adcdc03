"""Helpers for the registry adapter tests: PostgreSQL loading, pipeline runs, and the
comparison of an adapter's tables with the canonical reader's."""

from __future__ import annotations

import os
import socket
from pathlib import Path

PG_HOST, PG_PORT = "127.0.0.1", 5432
PG_URI_BASE = os.environ.get("HER2AUDIT_TEST_PG", f"postgresql://postgres@{PG_HOST}:{PG_PORT}/test")


# OMOP vocabulary columns named *_id that hold text
VOCABULARY_TEXT_IDS = ("domain_id", "vocabulary_id", "concept_class_id", "relationship_id")


def server_answers() -> bool:
    try:
        with socket.create_connection((PG_HOST, PG_PORT), timeout=2):
            return True
    except OSError:
        return False


def synthetic_registry(folder: Path, patients: int, seed: int) -> Path:
    """The project's synthetic registry (canonical CSV, with its injected data errors)."""
    from her2audit import synth

    synth.write_registry(folder, patients=patients, seed=seed, fmt="csv", progress=None)
    return folder


def load_omop_folder_into_postgres(folder: Path, schema: str) -> None:
    """Create OMOP tables (the columns the export wrote, with CDM types) and COPY the CSVs."""
    import csv

    import psycopg

    types = {
        "date": "date",
        "datetime": "timestamp",
        "value_as_number": "numeric",
    }
    with psycopg.connect(PG_URI_BASE, autocommit=True) as conn:
        for path in sorted(folder.glob("*.csv")):
            with open(path, encoding="utf-8") as f:
                header = next(csv.reader(f))

            def pg_type(col: str) -> str:
                if col.endswith("_date"):
                    return types["date"]
                if col.endswith("_datetime"):
                    return types["datetime"]
                if col == "value_as_number":
                    return types["value_as_number"]
                if (col.endswith("_id") and col not in VOCABULARY_TEXT_IDS) or col in (
                        "year_of_birth", "month_of_birth", "day_of_birth", "concept_id_1",
                        "concept_id_2"):
                    return "bigint"
                return "varchar(255)"

            cols = ", ".join(f"{c} {pg_type(c)}" for c in header)
            conn.execute(f"create table {schema}.{path.stem} ({cols})")
            with conn.cursor().copy(
                f"copy {schema}.{path.stem} from stdin with (format csv, header true)"
            ) as copy, open(path, "rb") as f:
                while block := f.read(1 << 20):
                    copy.write(block)


# Tables compared between the canonical registry and the same registry read through an
# adapter. Columns a format cannot carry are left out where noted.
AUDIT_TABLES = ("lines_of_therapy", "line_concordance")
DATA_CUTOFF = "2026-06-30"


def run_extract(source: str, db: Path, stages: list[str] | None = None) -> None:
    """Run the pipeline (every stage, or `stages`) on SOURCE into DB."""
    from her2audit import pipeline
    from her2audit.parameters import load_parameters

    # A fixed data cut-off: by default it is the latest date in the data, and the
    # canonical registry's progressions (which OMOP and FHIR do not carry) can be later.
    params = load_parameters(None, {"data_cutoff": DATA_CUTOFF})
    pipeline.run_pipeline(
        db, source, params, db.parent / f"{db.stem}_reports", command="test",
        stages=stages, progress=lambda m: None,
    )


def table_rows(db: Path, sql: str) -> list[tuple]:
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        return sorted(con.execute(sql).fetchall(), key=repr)
    finally:
        con.close()


def has_table(db: Path, schema: str, table: str) -> bool:
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(
            "select count(*) from information_schema.tables where table_schema = ? "
            "and table_name = ?", [schema, table]
        ).fetchone()[0] > 0
    finally:
        con.close()


def compare_with_canonical(canonical_db: Path, adapter_db: Path, *, setting: bool,
                           drug_code: bool) -> None:
    """Assert the adapter's staging (and audit, when those stages exist) tables equal the
    canonical reader's."""
    queries = {
        "patients": "select * from staging.patients",
        "diagnoses": "select * from staging.diagnoses",
        "biomarkers": "select patient_id, test_date, marker, "
                      "case when marker = 'HER2' then method end, result, result_percent "
                      "from staging.biomarkers",
        "metastases": "select * from staging.metastases",
        "treatments": "select patient_id, drug_key, start_date, coalesce(end_date, start_date), "
                      "route"
                      + (", setting" if setting else "")
                      + (", drug_code, code_system" if drug_code else "")
                      + " from staging.treatments",
        # OMOP and FHIR carry no progressions
        "row_accounting": "select source_table, rows_staged, balanced from audit.row_accounting "
                          "where source_table <> 'progressions'",
    }
    for name, sql in queries.items():
        expected, got = table_rows(canonical_db, sql), table_rows(adapter_db, sql)
        assert got == expected, f"{name} differs: first mismatch " + next(
            (f"{a} != {b}" for a, b in zip(got, expected, strict=False) if a != b),
            f"{len(got)} rows vs {len(expected)}",
        )
    if has_table(canonical_db, "staging", "administrations"):
        sql = "select patient_id, ingredient, start_date from staging.administrations"
        assert table_rows(adapter_db, sql) == table_rows(canonical_db, sql)
    for table in AUDIT_TABLES:
        if has_table(canonical_db, "audit", table):
            sql = f"select * from audit.{table}"
            expected = table_rows(canonical_db, sql)
            assert table_rows(adapter_db, sql) == expected, table
            assert expected or table != "lines_of_therapy", "no lines: the comparison is empty"
