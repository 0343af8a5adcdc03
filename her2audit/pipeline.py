"""The audit pipeline: one ordered list of stages shared by the CLI and the Airflow DAG.

A stage is a module `her2audit.stages.<name>` with a function `run(ctx: RunContext)` that
reads `staging`/`build` tables and writes `build` tables (or files under the reports
folder); its SQL, if any, is in `sql/<NN>_<name>/`. Stages pass nothing in memory: the
run's DuckDB work file is the hand-over, so each stage can run in its own process (an
Airflow task) or all in one (`her2audit run`). `publish` renames the work file over the
published warehouse (`her2audit.work_file`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import duckdb

from her2audit import environment, warehouse, work_file
from her2audit.context import RunContext, default_progress, new_run_id, open_new_run, start_run
from her2audit.parameters import RunParameters


@dataclasses.dataclass(frozen=True)
class Stage:
    name: str
    description: str
    target: str | None = None  # "module:function"; default her2audit.stages.<name>:run
    check: str | None = None  # "module:function" run after the stage, e.g. a usage check

    def function(self) -> Callable[[RunContext], None]:
        return _resolve(self.target or f"her2audit.stages.{self.name}:run")


def _resolve(target: str) -> Callable[[RunContext], None]:
    module, _, func = target.partition(":")
    return getattr(importlib.import_module(module), func)


# The pipeline, in order; each name is a module of `her2audit.stages`.
STAGES: list[Stage] = [
    Stage("extract", "read the registry into raw, staging and quarantine",
          check="her2audit.environment:check_data_cutoff_in_registry"),
    Stage("validate", "data-quality gate (Great Expectations suites)"),
    Stage("cohort", "HER2-positive metastatic cohort and attrition"),
    Stage("lines", "infer lines of therapy and name their regimens"),
    Stage("concordance", "guideline concordance of lines, sequences"),
    Stage("outcomes", "OS, time to next treatment, to discontinuation"),
    Stage("marts", "concordance marts for dashboards"),
    Stage("report", "render the HTML report and the case-review file"),
    Stage("account", "account for every input row; check the outputs"),
    Stage("share", "suppressed aggregates that may leave the registry; table descriptions"),
    Stage("publish", "publish the run: rename its work file over the warehouse, then the report"),
]


def stage(name: str) -> Stage:
    for s in STAGES:
        if s.name == name:
            return s
    raise KeyError(f"no stage {name!r}; stages: {', '.join(s.name for s in STAGES)}")


def run_stage(ctx: RunContext, name: str) -> float:
    """Run one stage; returns its wall time in seconds."""
    started = time.perf_counter()
    ctx.set_sql_variables()
    step = stage(name)
    step.function()(ctx)
    if step.check:
        _resolve(step.check)(ctx)
    return time.perf_counter() - started


def run_pipeline(
    db_path: Path,
    registry: str,
    params: RunParameters,
    reports_dir: Path | None,
    command: str = "run",
    stages: Iterable[str] | None = None,
    progress: Callable[[str], None] = default_progress,
    work: bool | None = None,
) -> tuple[str, dict[str, float]]:
    """Run the stages (all by default) in one process. Returns the run id and timings.

    With `work` (the default whenever `publish` is among the stages) the run builds in its
    own work file and `publish` renames it over `db_path`: readers of `db_path` are never
    blocked and never see half a run. Without it (a partial pipeline, e.g. a test reading
    `build` tables) the stages work in `db_path` itself. The environment is checked before
    anything is written; a fault on the way is one line naming the path (exit 2).
    """
    names = list(stages) if stages is not None else [s.name for s in STAGES]
    work = "publish" in names if work is None else work
    db_path = Path(db_path)
    environment.check_run(db_path, reports_dir, registry, params)
    run_id = new_run_id(registry, params)
    timings: dict[str, float] = {}
    con = None
    created = False  # a work file of this run's own (never another process's)
    try:
        if work:
            con = open_new_run(db_path, run_id, registry, params, command, reports_dir)
            created = True
        else:
            con = warehouse.connect(db_path)
            start_run(con, run_id, registry, params, command)
        ctx = RunContext(con, run_id, registry, params, reports_dir, progress)
        for name in names:
            progress(f"[{name}] {stage(name).description} …")
            timings[name] = run_stage(ctx, name)
            progress(f"[{name}] done in {timings[name]:.1f} s")
    except BaseException as exc:
        fault = environment.fault_from(exc, db_path)
        _close(con)
        con = None
        clean_up_failed_run(db_path, reports_dir, created, timings, fault is not None)
        if fault is not None:
            raise fault from None
        raise
    finally:
        _close(con)
    return run_id, timings


def clean_up_failed_run(db: Path, reports_dir: Path | None, created: bool,
                        finished: Iterable[str], fault: bool) -> None:
    """After a failed run: finish or forget a publication it had begun, and drop its
    unpublished report; drop its work file too (`created`: its own) when that holds nothing
    worth keeping (the run failed in its first stage, or on a full or read-only disk). A
    work file kept holds the data-quality results of a run the gate stopped; the next run
    carries them into the history."""
    with contextlib.suppress(Exception):  # the run's own failure is the one to report
        work_file.recover(db)
    work_file.discard_pending(reports_dir)
    if created and (fault or not list(finished)):
        work_file.discard(db)


def _close(con: duckdb.DuckDBPyConnection | None) -> None:
    """Close quietly: after a fatal DuckDB error closing fails too, and the first error is
    the one to report."""
    if con is not None:
        with contextlib.suppress(duckdb.Error):
            con.close()
