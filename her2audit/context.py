"""A run's identity and what every stage is handed: the `RunContext`.

The run's identity (run id, start time, registry, parameters, source fingerprint) is kept
in `build.run_info`, so a stage running in another process (an Airflow task, a benchmark
step) can rebuild its context from the run's work file alone (`open_run`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb

from her2audit import warehouse, work_file
from her2audit.parameters import RunParameters, load_parameters
from her2audit.sources.dispatch import display_source


def default_progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclasses.dataclass
class RunContext:
    """Everything a stage needs. `con` is open read-write on the warehouse."""

    con: duckdb.DuckDBPyConnection
    run_id: str
    registry: str
    params: RunParameters
    reports_dir: Path | None = None
    progress: Callable[[str], None] = default_progress

    def set_sql_variables(self) -> None:
        warehouse.set_variables(self.con, {"run_id": self.run_id, **self.params.sql_variables()})


def new_run_id(registry: str, params: RunParameters) -> str:
    """Sortable, unique run id: UTC time plus a short hash of what was asked."""
    now = dt.datetime.now(dt.UTC)
    asked = f"{registry}|{json.dumps(params.as_dict(), sort_keys=True)}|{time.perf_counter_ns()}"
    digest = hashlib.sha256(asked.encode()).hexdigest()[:8]
    return f"{now:%Y%m%dT%H%M%SZ}-{digest}"


def start_run(
    con: duckdb.DuckDBPyConnection, run_id: str, registry: str, params: RunParameters, command: str
) -> None:
    """Empty `build` and record the run's identity in `build.run_info`."""
    warehouse.reset_build(con)
    con.execute(
        """
        create table build.run_info as
        select ?::varchar as run_id, ?::timestamp as started_at, ?::varchar as registry,
               ?::json as parameters, ?::varchar as command, null::varchar as source_fingerprint
        """,
        [
            run_id,
            dt.datetime.now(dt.UTC).replace(tzinfo=None),
            display_source(registry),
            json.dumps(params.as_dict(), sort_keys=True),
            command,
        ],
    )


def open_new_run(
    db: Path, run_id: str, registry: str, params: RunParameters, command: str,
    reports_dir: Path | None = None,
) -> duckdb.DuckDBPyConnection:
    """Make the work file of a new run on the warehouse `db` (its report goes to
    `reports_dir`) and record the run's identity; returns a connection open on it."""
    con = work_file.create(Path(db), reports_dir)
    try:
        start_run(con, run_id, registry, params, command)
    except BaseException:
        con.close()
        raise
    return con


def open_run(db: Path) -> duckdb.DuckDBPyConnection:
    """Reopen the work file of the run in progress on `db` (a stage in its own process)."""
    return work_file.open_work(Path(db))


def run_info(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    rows = con.execute("select * from build.run_info").fetchall()
    cols = [d[0] for d in con.description]
    return dict(zip(cols, rows[0], strict=True)) if rows else {}


def context_from_warehouse(
    con: duckdb.DuckDBPyConnection,
    reports_dir: Path | None = None,
    progress: Callable[[str], None] = default_progress,
) -> RunContext:
    """Rebuild the RunContext of the run in progress from `build.run_info`, so a stage can
    run in its own process (an Airflow task, a benchmark step)."""
    info = run_info(con)
    if not info:
        raise RuntimeError("no run in progress in this warehouse (build.run_info is empty)")
    params = load_parameters(overrides=json.loads(info["parameters"]))
    return RunContext(con, info["run_id"], info["registry"], params, reports_dir, progress)
