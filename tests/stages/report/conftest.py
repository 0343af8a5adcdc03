"""Report fixtures: a warehouse filled by `fixture_warehouse` (until every upstream stage
is on main), pushed through the real `marts`, `report` and `publish` stages."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import duckdb
import pytest

from her2audit import context, pipeline, warehouse
from her2audit.parameters import RunParameters
from her2audit.stages.report.data import Source
from her2audit.stages.report.privacy import KEY_ENV

from .fixture_warehouse import write_build_tables

TEST_KEY = "report-test-key"


def memory_source(table: str, columns: str, rows: list[tuple]) -> Source:
    """An in-memory warehouse whose `audit.<table>` (`columns` as in SQL) holds `rows`."""
    con = duckdb.connect()
    con.execute("create schema audit")
    con.execute(f"create table audit.{table} ({columns})")
    if rows:
        marks = ", ".join("?" * len(rows[0]))
        con.executemany(f"insert into audit.{table} values ({marks})", rows)
    return Source(con, "audit")


@dataclasses.dataclass(frozen=True)
class BuiltReport:
    db: Path
    reports: Path  # rendered by the `report` stage from `build`
    index: Path
    case_review: Path


def build_fixture_run(db: Path, reports: Path, n_patients: int = 600, seed: int = 7,
                      drop: tuple[str, ...] = ()) -> BuiltReport:
    """Fixture `build` tables → stages marts, report, publish (as `her2audit run` does)."""
    con = warehouse.connect(db)
    try:
        params = RunParameters()
        context.start_run(con, "fixture-run", "fixture-registry", params, "test")
        write_build_tables(con, n_patients=n_patients, seed=seed)
        for table in drop:
            con.execute(f"drop table build.{table}")
        ctx = context.RunContext(con, "fixture-run", "fixture-registry", params, reports,
                                  progress=lambda m: None)
        for name in ("marts", "report", "publish"):
            pipeline.run_stage(ctx, name)
    finally:
        con.close()
    return BuiltReport(db, reports, reports / "index.html", reports / "case_review.html")


@pytest.fixture(scope="session")
def built_report(tmp_path_factory: pytest.TempPathFactory) -> BuiltReport:
    root = tmp_path_factory.mktemp("report")
    old = os.environ.get(KEY_ENV)
    os.environ[KEY_ENV] = TEST_KEY
    try:
        return build_fixture_run(root / "warehouse.duckdb", root / "reports")
    finally:
        if old is None:
            os.environ.pop(KEY_ENV, None)
        else:
            os.environ[KEY_ENV] = old
