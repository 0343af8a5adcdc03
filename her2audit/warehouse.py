"""The DuckDB warehouse: schemas, SQL stages, atomic publishing.

Schemas
- `raw`: registry tables as extracted (all text) plus load metadata columns
  `_source_file`, `_row_number`, `_file_sha256`, `_loaded_at`.
- `staging`: typed, normalised tables that later stages read.
- `build`: the tables a run is producing, under their published names. Nothing reads
  `build` except the run itself.
- `audit`: the published tables. `publish()` replaces them from `build` in one
  transaction, so a failed run leaves the previous audit tables untouched.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import duckdb

from her2audit.paths import SQL_DIR

SCHEMAS = ("raw", "staging", "build", "audit")
BUILD = "build"
AUDIT = "audit"

# Tables that accumulate across runs instead of being replaced at publish time.
APPEND_ONLY = {"runs", "data_quality_results_history"}


def connect(db_path: str | Path, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the warehouse file (created if missing) with all schemas present."""
    db_path = Path(db_path)
    if not read_only:
        db_path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(db_path), read_only=read_only)
    con.execute("set enable_progress_bar = false")
    if not read_only:
        for schema in SCHEMAS:
            con.execute(f"create schema if not exists {schema}")
    return con


def set_variables(con: duckdb.DuckDBPyConnection, variables: Mapping[str, Any]) -> None:
    """Expose run parameters to SQL as `getvariable('name')`."""
    for name, value in variables.items():
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
            raise ValueError(f"bad variable name {name!r}")
        con.execute(f"set variable {name} = ?", [value])


@contextlib.contextmanager
def settings(con: duckdb.DuckDBPyConnection, **values: Any) -> Iterator[None]:
    """Change DuckDB settings (e.g. `memory_limit='1500MB'`, `preserve_insertion_order=False`)
    for a block and put the previous values back afterwards, even on error."""
    saved = dict(
        con.execute(
            "select name, value from duckdb_settings() where list_contains(?, name)",
            [list(values)],
        ).fetchall()
    )
    for name, value in values.items():
        con.execute(f"set {name} = ?", [value])
    try:
        yield
    finally:
        for name, value in saved.items():
            con.execute(f"set {name} = '{value}'")


def sql_files(stage: str) -> list[Path]:
    """The SQL files of a stage (`sql/<stage>/*.sql`) in the order they run (by name)."""
    folder = SQL_DIR / stage
    files = sorted(folder.glob("*.sql"))
    if not files:
        raise FileNotFoundError(f"no SQL files in {folder}")
    return files


def run_sql_file(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    try:
        con.execute(path.read_text())
    except duckdb.Error as exc:
        raise RuntimeError(f"{path.relative_to(SQL_DIR.parent)} failed: {exc}") from exc


def run_sql_stage(con: duckdb.DuckDBPyConnection, stage: str) -> list[str]:
    """Run every SQL file of a stage in order; returns the files run."""
    ran = []
    for path in sql_files(stage):
        run_sql_file(con, path)
        ran.append(path.name)
    return ran


def table_names(con: duckdb.DuckDBPyConnection, schema: str) -> list[str]:
    rows = con.execute(
        "select table_name from information_schema.tables "
        "where table_schema = ? and table_catalog = current_database() order by table_name",
        [schema],
    ).fetchall()
    return [r[0] for r in rows]


def row_count(con: duckdb.DuckDBPyConnection, qualified_table: str) -> int:
    return con.execute(f"select count(*) from {qualified_table}").fetchall()[0][0]


def reset_build(con: duckdb.DuckDBPyConnection) -> None:
    """Start a run with an empty `build` schema."""
    con.execute(f"drop schema if exists {BUILD} cascade")
    con.execute(f"create schema {BUILD}")


def publish(
    con: duckdb.DuckDBPyConnection,
    run_row: Mapping[str, Any] | None = None,
    tables: Iterable[str] | None = None,
) -> list[str]:
    """Replace `audit.<t>` with `build.<t>` for every built table, in one transaction.

    `audit.runs` is appended to (with `run_row`) in the same transaction. If anything
    fails, the transaction rolls back and the previously published tables stay.
    """
    names = list(tables) if tables is not None else table_names(con, BUILD)
    con.execute("begin transaction")
    try:
        for name in names:
            if name in APPEND_ONLY:
                continue
            con.execute(f"create or replace table {AUDIT}.{name} as select * from {BUILD}.{name}")
        if run_row is not None:
            append_run(con, run_row)
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    con.execute(f"drop schema if exists {BUILD} cascade")
    con.execute(f"create schema {BUILD}")
    return names


RUNS_DDL = f"""
create table if not exists {AUDIT}.runs (
    run_id varchar primary key,
    started_at timestamp,
    finished_at timestamp,
    status varchar,
    command varchar,
    registry varchar,
    source_fingerprint varchar,
    parameters json,
    guideline_versions json,
    row_counts json,
    software_version varchar
)
"""


def append_run(con: duckdb.DuckDBPyConnection, run_row: Mapping[str, Any]) -> None:
    con.execute(RUNS_DDL)
    cols = list(run_row)
    con.execute(
        f"insert into {AUDIT}.runs ({', '.join(cols)}) values ({', '.join('?' for _ in cols)})",
        [run_row[c] for c in cols],
    )
