"""Task callables for the Airflow DAG `her2_registry_audit` (dags/her2_registry_audit.py).

Each Airflow task opens the run's work file (`<db>.work/run.duckdb`, made by the first
task), rebuilds the run's `RunContext` from `build.run_info`, runs its pipeline stage(s)
with `pipeline.run_stage` — the same functions `her2audit run` calls — and closes the file.
The last task publishes by renaming the work file over `db`, so dashboards reading `db`
are never blocked by the tasks, and never see half a run. Tasks hand each other only the
run id and paths (XCom-sized strings), never data. Nothing here imports Airflow, so the
callables can be tested and reused without it.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from her2audit import context, environment, pipeline, warehouse
from her2audit.errors import UsageError
from her2audit.parameters import RunParameters, load_parameters

log = logging.getLogger("her2audit")

DAG_ID = "her2_registry_audit"
# DuckDB allows one read-write process per file: every task that opens the run's work file
# takes the one slot of this pool (create it: `airflow pools set her2audit_duckdb 1 ...`).
POOL = "her2audit_duckdb"
DEFAULT_SCHEDULE = "@monthly"

# Airflow tasks in order, and the pipeline stages each runs (those present in
# pipeline.STAGES, in STAGES order). `marts` runs inside the report task.
TASK_STAGES: dict[str, tuple[str, ...]] = {
    "extract": ("extract",),
    "validate": ("validate",),
    "cohort": ("cohort",),
    "lines": ("lines",),
    "concordance": ("concordance",),
    "outcomes": ("outcomes",),
    "report": ("marts", "report"),
    "publish": ("account", "share", "publish"),
}

PARAMETER_NAMES = ("pre_index_days", "regimen_window_days", "max_gap_days", "data_cutoff",
                   "guideline")


def schedule() -> str | None:
    """The DAG's schedule: `HER2AUDIT_SCHEDULE` (or the env-backed Airflow Variable
    `AIRFLOW_VAR_HER2AUDIT_SCHEDULE`), a cron expression or preset; `none` for manual
    runs only. Default monthly. Read from the environment so parsing needs no database."""
    value = (os.environ.get("HER2AUDIT_SCHEDULE")
             or os.environ.get("AIRFLOW_VAR_HER2AUDIT_SCHEDULE") or DEFAULT_SCHEDULE).strip()
    return None if value.lower() in ("none", "manual", "") else value


def max_active_runs() -> int:
    """DAG runs at the same time: 1 (one warehouse). Raise `HER2AUDIT_MAX_ACTIVE_RUNS` (with
    the pool's slots) only when every concurrent run writes its own warehouse file."""
    value = os.environ.get("HER2AUDIT_MAX_ACTIVE_RUNS", "1")
    try:
        runs = int(value)
    except ValueError:
        raise UsageError(
            f"HER2AUDIT_MAX_ACTIVE_RUNS must be a whole number, got {value!r}") from None
    if runs < 1:
        raise UsageError("HER2AUDIT_MAX_ACTIVE_RUNS must be at least 1")
    return runs


def default_param(name: str, fallback: Any = None) -> Any:
    """Default of a DAG param from `HER2AUDIT_<NAME>` (e.g. HER2AUDIT_REGISTRY)."""
    return os.environ.get(f"HER2AUDIT_{name.upper()}", fallback)


def stages_for_task(task: str) -> list[str]:
    known = [s.name for s in pipeline.STAGES]
    wanted = TASK_STAGES[task]
    return [name for name in known if name in wanted]


def _require(params: Mapping[str, Any], name: str) -> str:
    value = params.get(name)
    if value is None or not str(value).strip():
        raise UsageError(f"DAG param {name!r} is not set: pass it in the run's conf or set "
                         f"HER2AUDIT_{name.upper()} for the scheduler")
    return str(value).strip()


def run_parameters(params: Mapping[str, Any]) -> RunParameters:
    """Line-of-therapy parameters from DAG params (None or '' means: rule-file default)."""
    overrides = {n: params.get(n) for n in PARAMETER_NAMES}
    return load_parameters(None, {n: (None if v == "" else v) for n, v in overrides.items()})


def _progress(message: str) -> None:
    log.info(message.strip())


def _run_stages(ctx: context.RunContext, task: str) -> None:
    for name in stages_for_task(task):
        _progress(f"[{name}] {pipeline.stage(name).description} …")
        seconds = pipeline.run_stage(ctx, name)
        _progress(f"[{name}] done in {seconds:.1f} s")


def start_and_extract(params: Mapping[str, Any], command: str = "airflow") -> str:
    """First task: check the environment, make the run's work file (the append-only tables
    carried over from the published warehouse), record `build.run_info` and extract the
    registry. Returns the run id the other tasks need."""
    registry = _require(params, "registry")
    db = Path(_require(params, "db"))
    run_params = run_parameters(params)
    reports = _reports(params)
    environment.check_run(db, reports, registry, run_params)
    run_id = context.new_run_id(registry, run_params)
    with _faults(db):
        con = context.open_new_run(db, run_id, registry, run_params, command, reports)
        try:
            ctx = context.RunContext(con, run_id, registry, run_params, reports, _progress)
            _run_stages(ctx, "extract")
        except BaseException:
            con.close()
            # a failed start leaves no work file behind (nothing in it is worth keeping)
            pipeline.clean_up_failed_run(db, reports, created=True, finished=[], fault=True)
            raise
        con.close()
    return run_id


@contextlib.contextmanager
def _faults(db: Path) -> Iterator[None]:
    """An environment fault (a lock, a full or read-only disk) as its one-line error."""
    try:
        yield
    except Exception as exc:
        fault = environment.fault_from(exc, db)
        if fault is None:
            raise
        raise fault from None


def _reports(params: Mapping[str, Any]) -> Path | None:
    value = params.get("reports")
    return Path(value) if value else None


def context_for(con, run_id: str, reports: Path | None) -> context.RunContext:
    """Rebuild the RunContext of `run_id` from `build.run_info` (fails if another run has
    since started on this warehouse)."""
    current = None
    if "run_info" in warehouse.table_names(con, warehouse.BUILD):
        current = context.run_info(con).get("run_id")
    if current != run_id:
        raise RuntimeError(
            f"the warehouse's current run is {current!r}, not {run_id!r}: another run "
            f"started on this warehouse; one DAG run per warehouse at a time "
            f"(max_active_runs=1 and the {POOL} pool)"
        )
    return context.context_from_warehouse(con, reports, _progress)


def run_task(task: str, run_id: str, db: str | Path, reports: str | Path | None = None) -> str:
    """Any task after the first: run its stage(s) for `run_id` on the run's work file;
    returns the run id."""
    with _faults(Path(db)):
        con = context.open_run(Path(db))
        try:
            ctx = context_for(con, run_id, Path(reports) if reports else None)
            _run_stages(ctx, task)
        finally:
            con.close()
    return run_id


def published_tables(db: str | Path) -> list[str]:
    """The `audit` tables of a warehouse (for the asset event of the publish task)."""
    con = warehouse.connect(Path(db), read_only=True)
    try:
        return warehouse.table_names(con, warehouse.AUDIT)
    finally:
        con.close()


def asset_extra(task: str, run_id: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """What the asset event of the report/publish task says (for downstream DAGs)."""
    extra: dict[str, Any] = {"run_id": run_id, "db": str(params.get("db"))}
    if task == "report" and params.get("reports"):
        report = Path(params["reports"]) / "index.html"
        if report.exists():
            extra["report"] = str(report)
    if task == "publish":
        extra["tables"] = published_tables(params["db"])
    return extra
