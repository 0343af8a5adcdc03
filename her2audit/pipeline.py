"""The audit pipeline: one ordered list of stages shared by the CLI and the Airflow DAG.

A stage is a module `her2audit.stages.<name>` with a function `run(ctx: RunContext)` that
reads `staging`/`build` tables and writes `build` tables (or files under the reports
folder); its SQL, if any, is in `sql/<NN>_<name>/`. Stages pass nothing in memory: the
DuckDB file is the hand-over, so each stage can run in its own process (an Airflow task)
or all in one (`her2audit run`).
"""

from __future__ import annotations

import dataclasses
import importlib
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from her2audit import warehouse
from her2audit.context import RunContext, default_progress, new_run_id, start_run
from her2audit.parameters import RunParameters


@dataclasses.dataclass(frozen=True)
class Stage:
    name: str
    description: str
    target: str | None = None  # "module:function"; default her2audit.stages.<name>:run

    def function(self) -> Callable[[RunContext], None]:
        module, _, func = (self.target or f"her2audit.stages.{self.name}:run").partition(":")
        return getattr(importlib.import_module(module), func)


# The pipeline, in order; each name is a module of `her2audit.stages`.
STAGES: list[Stage] = [
    Stage("extract", "read the registry into raw, staging and quarantine"),
    Stage("validate", "data-quality gate (Great Expectations suites)"),
    Stage("cohort", "HER2-positive metastatic cohort and attrition"),
    Stage("lines", "infer lines of therapy and name their regimens"),
    Stage("concordance", "guideline concordance of lines, sequences"),
    Stage("outcomes", "OS, time to next treatment, to discontinuation"),
    Stage("marts", "concordance marts for dashboards"),
    Stage("report", "render the HTML report and the case-review file"),
    Stage("publish", "publish build tables to audit"),
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
    stage(name).function()(ctx)
    return time.perf_counter() - started


def run_pipeline(
    db_path: Path,
    registry: str,
    params: RunParameters,
    reports_dir: Path | None,
    command: str = "run",
    stages: Iterable[str] | None = None,
    progress: Callable[[str], None] = default_progress,
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
