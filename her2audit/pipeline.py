"""The audit pipeline: one ordered list of stages shared by the CLI and the Airflow DAG.

A stage is a function `run(ctx: RunContext) -> None` that reads `staging`/`build`
tables and writes `build` tables (or files under the reports folder). Stages pass
nothing in memory: the DuckDB file is the hand-over, so each stage can run in its own
process (an Airflow task) or all in one (`her2audit run`).

The run's identity (run id, start time, registry, parameters, source fingerprint) is
kept in `build.run_info` so the publish stage, possibly in another process, can record
it in `audit.runs`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import importlib
import json
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import duckdb

from her2audit import __version__, warehouse
from her2audit.parameters import RunParameters
from her2audit.registry.sources import display_source


def _default_progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclasses.dataclass
class RunContext:
    """Everything a stage needs. `con` is open read-write on the warehouse."""

    con: duckdb.DuckDBPyConnection
    run_id: str
    registry: str
    params: RunParameters
    reports_dir: Path | None = None
    progress: Callable[[str], None] = _default_progress

    def set_sql_variables(self) -> None:
        warehouse.set_variables(self.con, {"run_id": self.run_id, **self.params.sql_variables()})


@dataclasses.dataclass(frozen=True)
class Stage:
    name: str
    target: str  # "module:function"
    description: str

    def function(self) -> Callable[[RunContext], None]:
        module, func = self.target.split(":")
        return getattr(importlib.import_module(module), func)


# DuckDB's memory for the row-disposition joins over every treatment row (spills beyond it).
PUBLISH_MEMORY_LIMIT = "1500MB"

# What the row-disposition step needs; a partial run (extract only) publishes without it.
DISPOSITION_INPUTS = {("build", "patients"), ("staging", "line_administrations")}


def record_row_dispositions(con: duckdb.DuckDBPyConnection) -> None:
    """`build.row_dispositions`: every input row used, quarantined or out of scope, with
    the reason; fails the run if any table's rows do not add up."""
    present = {(s, t) for s in ("build", "staging") for t in warehouse.table_names(con, s)}
    if not DISPOSITION_INPUTS.issubset(present):
        return
    warehouse.run_sql_stage(con, "90_publish")
    unbalanced = con.execute(
        """
        select accounting.source_table, accounting.rows_in, sum(d.n_rows)::bigint
        from build.row_accounting as accounting
        left join build.row_dispositions as d using (source_table)
        group by all
        having accounting.rows_in <> coalesce(sum(d.n_rows), 0)
        """
    ).fetchall()
    if unbalanced:
        raise RuntimeError(f"row dispositions do not add up to the rows read: {unbalanced}")


def publish_stage(ctx: RunContext) -> None:
    """Publish `build` to `audit` atomically and record the run in `audit.runs`."""
    from her2audit.quality import check_outputs

    with warehouse.settings(ctx.con, memory_limit=PUBLISH_MEMORY_LIMIT):
        record_row_dispositions(ctx.con)
    check_outputs(ctx)  # output invariants on build.*; a critical failure publishes nothing
    info = run_info(ctx.con)
    row_counts = {
        name: warehouse.row_count(ctx.con, f"{warehouse.BUILD}.{name}")
        for name in warehouse.table_names(ctx.con, warehouse.BUILD)
        if name != "run_info"
    }
    guideline_versions = _guideline_versions(ctx.con)
    run_row = {
        "run_id": ctx.run_id,
        "started_at": info.get("started_at"),
        "finished_at": dt.datetime.now(dt.UTC).replace(tzinfo=None),
        "status": "published",
        "command": info.get("command"),
        "registry": display_source(ctx.registry),  # a database password never recorded
        "source_fingerprint": info.get("source_fingerprint"),
        "parameters": json.dumps(ctx.params.as_dict(), sort_keys=True),
        "guideline_versions": json.dumps(guideline_versions, sort_keys=True),
        "row_counts": json.dumps(row_counts, sort_keys=True),
        "software_version": __version__,
    }
    tables = [t for t in warehouse.table_names(ctx.con, warehouse.BUILD) if t != "run_info"]
    warehouse.publish(ctx.con, run_row, tables)
    ctx.progress(f"published {len(tables)} tables to audit (run {ctx.run_id})")


def _guideline_versions(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Guideline versions used by the run, if the concordance stage recorded them."""
    if "guideline_versions" not in warehouse.table_names(con, warehouse.BUILD):
        return []
    rows = con.execute(
        "select * from build.guideline_versions order by all"
    ).fetchall()
    cols = [d[0] for d in con.description]
    return [
        {c: (v.isoformat() if isinstance(v, dt.date) else v) for c, v in zip(cols, r, strict=True)}
        for r in rows
    ]


# The pipeline, in order. Later stages are appended here as they are built.
STAGES: list[Stage] = [
    Stage("extract", "her2audit.extract:run", "read the registry into raw, staging and quarantine"),
    Stage("validate", "her2audit.quality:run", "data-quality gate (Great Expectations suites)"),
    Stage("cohort", "her2audit.cohort:run", "HER2-positive metastatic cohort and attrition"),
    Stage("lines", "her2audit.lines:run", "infer lines of therapy and name their regimens"),
    Stage("concordance", "her2audit.concordance:run", "guideline concordance of lines, sequences"),
    Stage("outcomes", "her2audit.outcomes:run", "OS, time to next treatment, to discontinuation"),
    Stage("marts", "her2audit.report.marts:run", "concordance marts for dashboards"),
    Stage("report", "her2audit.report:run", "render the HTML report and the case-review file"),
    Stage("publish", "her2audit.pipeline:publish_stage", "publish build tables to audit"),
]


def stage(name: str) -> Stage:
    for s in STAGES:
        if s.name == name:
            return s
    raise KeyError(f"no stage {name!r}; stages: {', '.join(s.name for s in STAGES)}")


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


def run_info(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    rows = con.execute("select * from build.run_info").fetchall()
    cols = [d[0] for d in con.description]
    return dict(zip(cols, rows[0], strict=True)) if rows else {}


def context_from_warehouse(
    con: duckdb.DuckDBPyConnection,
    reports_dir: Path | None = None,
    progress: Callable[[str], None] = _default_progress,
) -> RunContext:
    """Rebuild the RunContext of the run in progress from `build.run_info`, so a stage can
    run in its own process (an Airflow task, a benchmark step)."""
    from her2audit.parameters import load_parameters

    info = run_info(con)
    if not info:
        raise RuntimeError("no run in progress in this warehouse (build.run_info is empty)")
    params = load_parameters(overrides=json.loads(info["parameters"]))
    return RunContext(con, info["run_id"], info["registry"], params, reports_dir, progress)


def run_stage(ctx: RunContext, name: str) -> float:
    """Run one stage; returns its wall time in seconds."""
    started = time.perf_counter()
    ctx.set_sql_variables()
    stage(name).function()(ctx)
    return time.perf_counter() - started


def run_pipeline(
    db_path: Path,
    registry: str,
    params: RunParameters,
    reports_dir: Path | None,
    command: str = "run",
    stages: Iterable[str] | None = None,
    progress: Callable[[str], None] = _default_progress,
) -> tuple[str, dict[str, float]]:
    """Run the stages (all by default) in one process. Returns the run id and timings."""
    names = list(stages) if stages is not None else [s.name for s in STAGES]
    run_id = new_run_id(registry, params)
    con = warehouse.connect(db_path)
    timings: dict[str, float] = {}
    try:
        start_run(con, run_id, registry, params, command)
        ctx = RunContext(con, run_id, registry, params, reports_dir, progress)
        for name in names:
            progress(f"[{name}] {stage(name).description} …")
            timings[name] = run_stage(ctx, name)
            progress(f"[{name}] done in {timings[name]:.1f} s")
    finally:
        con.close()
    return run_id, timings
