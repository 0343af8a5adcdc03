"""Shared test helpers: tiny hand-written registries and warehouses."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from pathlib import Path

import duckdb
import pytest

from her2audit import warehouse
from her2audit.context import RunContext, start_run
from her2audit.parameters import RunParameters

MINIMAL_REGISTRY: dict[str, list[dict[str, str]]] = {
    "patients": [
        {"patient_id": "P1", "site_id": "S1", "birth_date": "1960-01-01", "sex": "F",
         "death_date": "", "last_contact_date": "2024-01-01"},
    ],
    "diagnoses": [
        {"patient_id": "P1", "diagnosis_date": "2020-01-01", "stage_at_diagnosis": "IV",
         "metastatic_date": "2020-01-01"},
    ],
    "biomarkers": [
        {"patient_id": "P1", "test_date": "2020-01-01", "marker": "HER2", "method": "IHC",
         "result": "3+"},
    ],
    "treatments": [
        {"patient_id": "P1", "drug": "docetaxel", "start_date": "2020-01-10", "end_date": "",
         "setting": "metastatic"},
    ],
}


def write_table(folder: Path, name: str, rows: Iterable[Mapping[str, str]],
                header: list[str] | None = None) -> Path:
    rows = list(rows)
    header = header or (list(rows[0]) if rows else [])
    path = folder / f"{name}.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_registry(folder: Path, tables: Mapping[str, list[dict[str, str]]] | None = None) -> Path:
    """A registry folder from `{table: [row dicts]}` (defaults to a one-patient registry)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in (tables or MINIMAL_REGISTRY).items():
        write_table(folder, name, rows)
    return folder


@pytest.fixture
def registry_factory(tmp_path: Path):
    counter = iter(range(1000))

    def make(tables: Mapping[str, list[dict[str, str]]] | None = None) -> Path:
        return write_registry(tmp_path / f"registry{next(counter)}", tables)

    return make


@pytest.fixture
def run_context(tmp_path: Path):
    """A started run on a fresh warehouse; yields a RunContext, closes the connection."""
    con = warehouse.connect(tmp_path / "test.duckdb")
    params = RunParameters()
    start_run(con, "test-run", str(tmp_path), params, "test")
    ctx = RunContext(con, "test-run", str(tmp_path), params, tmp_path / "reports",
                     progress=lambda m: None)
    ctx.set_sql_variables()
    yield ctx
    con.close()


SMALL_REGISTRY = Path(__file__).resolve().parent / "dags" / "data" / "registry"


@pytest.fixture(scope="session")
def published_run(tmp_path_factory):
    """One whole `her2audit run` of the 60-patient test registry: (warehouse, reports).
    Tests that change them work on copies (`copy_published`)."""
    from her2audit import cli

    root = tmp_path_factory.mktemp("published")
    db, reports = root / "her2audit.duckdb", root / "reports"
    assert cli.main(["run", "--registry", str(SMALL_REGISTRY), "--db", str(db),
                     "--reports", str(reports)]) == 0
    return db, reports


@pytest.fixture
def copy_published(published_run, tmp_path):
    """A private copy of the published warehouse and its report: (warehouse, reports)."""
    import shutil

    db, reports = published_run
    mine = tmp_path / "published"
    mine.mkdir()
    shutil.copy(db, mine / db.name)
    shutil.copytree(reports, mine / "reports")
    return mine / db.name, mine / "reports"


def published_run_id(db: Path) -> str:
    """The run id of the run a published warehouse holds last."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute("select run_id from audit.runs order by finished_at desc "
                           "limit 1").fetchone()[0]
    finally:
        con.close()


def row_groups_after_later_writes(connect) -> int:
    """Row groups of a table appended in four commits (each append after a checkpoint
    starts a row group of its own, as a landed CSV leaves part-filled ones), after another
    connection from `connect()` wrote something else and closed (a later stage's
    checkpoint). Four when checkpoints leave row groups alone; one when they merge them."""
    con = connect()
    con.execute("create schema if not exists raw")
    con.execute("create or replace table raw.landed as select range as i from range(1000)")
    con.execute("checkpoint")
    for _ in range(3):
        con.execute("insert into raw.landed select range from range(1000)")
        con.execute("checkpoint")
    con.close()
    con = connect()
    con.execute("create or replace table raw.later_stage as select 1 as x")
    con.close()
    con = connect()
    try:
        return con.execute(
            "select count(distinct row_group_id) from pragma_storage_info('raw.landed')"
        ).fetchone()[0]
    finally:
        con.close()
