"""The DuckDB warehouse: schemas, connections, SQL stages.

Schemas
- `raw`: registry tables as extracted (all text) plus load metadata columns
  `_source_file`, `_row_number`, `_file_sha256`, `_loaded_at`.
- `staging`: typed, normalised tables that later stages read.
- `build`: the tables a run is producing, under their published names. Nothing reads
  `build` except the run itself.
- `audit`: the published patient-level tables; `share`: the published aggregates that may
  leave the registry (suppressed small counts, nothing identifying).

A run builds in its own work file (`her2audit.work_file`), where `build` is the work file's
own `audit` schema: publishing is then a rename of the whole file, and readers of the
published file are never blocked. A connection opened on a plain file (`connect`) keeps
`build` as a schema of its own and publishes in place (`publish`): tests and partial
pipelines use it.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import duckdb

from her2audit.paths import SQL_DIR

SCHEMAS = ("raw", "staging", "build", "audit", "share")
BUILD = "build"
AUDIT = "audit"
SHARE = "share"

# DuckDB names a database after its file (up to the first dot, any case). A warehouse whose
# name is one of its own schemas would make every reader's `audit.runs` ambiguous.
RESERVED_NAMES = ("audit", "raw", "staging", "build", "share")

# Tables that accumulate across runs instead of being replaced at publish time.
APPEND_ONLY = {"runs", "data_quality_results_history"}


def catalog_name(db_path: str | Path) -> str:
    """The name DuckDB gives the database in `db_path` (the file name up to its first dot)."""
    return Path(db_path).name.split(".")[0].lower()


def check_name(db_path: str | Path) -> None:
    """Refuse a warehouse file named like one of its schemas (exit 2)."""
    from her2audit.errors import UsageError

    name = catalog_name(db_path)
    if name in RESERVED_NAMES:
        suggestion = Path(db_path).with_name("her2audit.duckdb")
        raise UsageError(
            f"{db_path}: a warehouse cannot be called {name!r}: DuckDB names the database after "
            f"its file, so readers' `{AUDIT}.runs` would be ambiguous; use another name, "
            f"e.g. {suggestion}")


# No row-group vacuum at checkpoints: a CSV landed in file order (in parallel) ends in
# part-filled row groups, and each later checkpoint would otherwise merge some of them
# again, rewriting the 10-million-row raw.treatments (about 5 s of CPU in each of extract
# and validate, 1.5 s in cohort, at 100,000 patients; 5.8 s in publish at 1,000,000). A run
# replaces tables rather than deleting rows, so there is nothing else to reclaim.
NO_ROW_GROUP_VACUUM = "set max_vacuum_tasks = 0"


def connect(db_path: str | Path, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the warehouse file (created if missing) with all schemas present."""
    db_path = Path(db_path)
    if not read_only:
        db_path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(db_path), read_only=read_only)
    con.execute("set enable_progress_bar = false")
    con.execute(NO_ROW_GROUP_VACUUM)
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


def is_work(con: duckdb.DuckDBPyConnection) -> bool:
    """True on a run's work file, where `build` is the catalog of the file itself and this
    run's tables live in its `audit` schema (see `her2audit.work_file`)."""
    return con.execute(
        "select current_database() = 'build' and not exists (select 1 from "
        "information_schema.schemata where catalog_name = 'build' and schema_name = 'build')"
    ).fetchone()[0]


def physical_schema(con: duckdb.DuckDBPyConnection, schema: str) -> str:
    """Where `schema`'s tables are stored: `build` is `audit` on a work file."""
    return AUDIT if schema == BUILD and is_work(con) else schema


def table_names(con: duckdb.DuckDBPyConnection, schema: str) -> list[str]:
    """Tables (and views) of `schema`; `build` lists this run's tables on a work file too
    (its `audit` tables less those carried over from earlier runs)."""
    stored = physical_schema(con, schema)
    rows = con.execute(
        "select table_name from information_schema.tables "
        "where table_schema = ? and table_catalog = current_database() order by table_name",
        [stored],
    ).fetchall()
    names = [r[0] for r in rows]
    if schema == BUILD and stored != BUILD:
        names = [n for n in names if n not in APPEND_ONLY]
    return names


def insert_rows(con: duckdb.DuckDBPyConnection, table: str,
                rows: Sequence[Sequence[Any]]) -> None:
    """Insert Python rows (tuples of one shape) into `table` in one statement: each column
    goes in as one list parameter, unnested. `executemany` runs a statement per row, about
    0.7 ms each on a database file (0.3 s for the drug vocabulary's 424 names, 0.015 s so)."""
    if not rows:
        return
    columns = [list(column) for column in zip(*rows, strict=True)]
    con.execute(f"insert into {table} select {', '.join(['unnest(?)'] * len(columns))}",
                columns)


def write_arrow(con: duckdb.DuckDBPyConnection, name: str, table: Any) -> None:
    """Create (or replace) table `name` from an Arrow table, keeping its column types."""
    view = "_her2audit_arrow"
    con.register(view, table)
    try:
        con.execute(f"create or replace table {name} as select * from {view}")
    finally:
        con.unregister(view)


def has_table(con: duckdb.DuckDBPyConnection, qualified_table: str) -> bool:
    """Whether `schema.table` (a table or a view) exists; `build.x` on a work file too."""
    schema, _, table = qualified_table.partition(".")
    return table in table_names(con, schema)


def column_names(con: duckdb.DuckDBPyConnection, qualified_table: str) -> list[str]:
    """Columns of `schema.table` in order ([] when there is no such table)."""
    schema, _, table = qualified_table.partition(".")
    rows = con.execute(
        "select column_name from information_schema.columns where table_schema = ? "
        "and table_name = ? and table_catalog = current_database() order by ordinal_position",
        [physical_schema(con, schema), table],
    ).fetchall()
    return [r[0] for r in rows]


def row_count(con: duckdb.DuckDBPyConnection, qualified_table: str) -> int:
    return con.execute(f"select count(*) from {qualified_table}").fetchall()[0][0]


def reset_build(con: duckdb.DuckDBPyConnection) -> None:
    """Start a run with an empty `build` schema (on a work file: its `audit` tables less
    the append-only ones carried over)."""
    if not is_work(con):
        con.execute(f"drop schema if exists {BUILD} cascade")
        con.execute(f"create schema {BUILD}")
        return
    for name, kind in con.execute(
        "select table_name, table_type from information_schema.tables "
        "where table_catalog = 'build' and table_schema = ?", [AUDIT]
    ).fetchall():
        if name not in APPEND_ONLY:
            con.execute(f"drop {'view' if kind == 'VIEW' else 'table'} {AUDIT}.{name}")


def publish(
    con: duckdb.DuckDBPyConnection,
    run_row: Mapping[str, Any] | None = None,
    tables: Iterable[str] | None = None,
) -> list[str]:
    """Publish in place (a plain file): replace `audit.<t>` with `build.<t>` for every
    built table, in one transaction.

    `audit.runs` is appended to (with `run_row`) in the same transaction. If anything
    fails, the transaction rolls back and the previously published tables stay. A run's
    work file publishes by renaming the file instead (`her2audit.work_file.publish`).
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
        with contextlib.suppress(duckdb.Error):  # the first error is the one to report
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
