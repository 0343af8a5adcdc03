"""Task callables for the Airflow DAG `her2_registry_audit` (dags/her2_registry_audit.py).

Each Airflow task opens the run's work file (`<db>.work/run.duckdb`, made by the first
task), rebuilds the run's `RunContext` from `build.run_info`, runs its pipeline stage(s)
with `pipeline.run_stage` — the same functions `her2audit run` calls — and closes the file.
The last task publishes by renaming the work file over `db`, so dashboards reading `db`
are never blocked by the tasks, and never see half a run. Tasks hand each other only the
run id and paths (XCom-sized strings), never data. Nothing here imports Airflow (but
`retry_only_transient`, when a task fails), so the callables can be tested and reused
without it; the DAG file only wires them up. `run_audit` runs every stage as one task,
for `her2_network_audit`, which audits many registries in one DAG run.

What the DAG needs to behave in a deployment lives here too:
- which errors are worth a retry (`is_transient`): a warehouse locked by another process,
  a dropped connection. Everything else — an unusable argument, an unreadable registry,
  a bad rule file, a failed data-quality gate — fails the task at once
  (`retry_only_transient`, around every task of both DAGs);
- library logs kept quiet (`quiet_library_logs`) so a task log holds the pipeline's own
  lines, and failed expectations show at warning/error level with their failing values;
- the choices and descriptions of the trigger form (`guideline_choices`);
- the assets a run publishes, named after the warehouse and report files of that run
  (`asset_events`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import duckdb
import yaml

from her2audit import context, environment, guidelines, pipeline, warehouse, yaml_file
from her2audit.commands import check_rulebooks
from her2audit.errors import Her2AuditError, UsageError
from her2audit.parameters import RunParameters, load_parameters

log = logging.getLogger("her2audit")

DAG_ID = "her2_registry_audit"
DEFAULT_SCHEDULE = "@monthly"
# Value of the `guideline` param meaning: no pinned rulebook, each line is judged by the
# rulebook in force at its start (a string, not null: trigger forms of some Airflow 3
# releases cannot show a null choice).
BY_DATE = "by_date"

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
                   "guideline", "rulebooks")

# Loggers of libraries the stages call, kept at WARNING in task logs unless
# HER2AUDIT_LIBRARY_LOG_LEVEL says otherwise (Great Expectations alone logs ~200 INFO
# lines per validation about its own documentation decorators).
LIBRARY_LOGGERS = ("great_expectations", "numexpr", "matplotlib", "fontTools", "PIL",
                   "urllib3", "asyncio")


def schedule() -> str | None:
    """The DAG's schedule: `HER2AUDIT_SCHEDULE` (or the env-backed Airflow Variable
    `AIRFLOW_VAR_HER2AUDIT_SCHEDULE`), a cron expression or preset; `none` for manual
    runs only. Default monthly. Read from the environment so parsing needs no database."""
    value = (os.environ.get("HER2AUDIT_SCHEDULE")
             or os.environ.get("AIRFLOW_VAR_HER2AUDIT_SCHEDULE") or DEFAULT_SCHEDULE).strip()
    return None if value.lower() in ("none", "manual", "") else value


def max_active_runs() -> int:
    """DAG runs at the same time: 1, so two runs never write one warehouse together (DuckDB
    allows one writing process per file). Raise `HER2AUDIT_MAX_ACTIVE_RUNS` only when every
    run is triggered with its own `db` file."""
    value = os.environ.get("HER2AUDIT_MAX_ACTIVE_RUNS", "1")
    try:
        runs = int(value)
    except ValueError:
        raise UsageError(
            f"HER2AUDIT_MAX_ACTIVE_RUNS must be a whole number, got {value!r}") from None
    if runs < 1:
        raise UsageError("HER2AUDIT_MAX_ACTIVE_RUNS must be at least 1")
    return runs


def default_args() -> dict[str, Any]:
    """Every task's settings. Retries are for transient errors only: the DAG fails a task
    at once on any other (see `is_transient`). `HER2AUDIT_QUEUE` sends the tasks to one
    executor queue, e.g. the Celery worker on the machine that holds the warehouse."""
    args: dict[str, Any] = {
        "owner": "her2audit",
        "retries": 3,
        "retry_delay": dt.timedelta(seconds=30),
        "retry_exponential_backoff": 2.0,  # 30 s, 1 min, 2 min
        "max_retry_delay": dt.timedelta(minutes=10),
    }
    if queue := os.environ.get("HER2AUDIT_QUEUE", "").strip():
        args["queue"] = queue
    return args


def default_param(name: str, fallback: Any = None) -> Any:
    """Default of a DAG param from `HER2AUDIT_<NAME>` (e.g. HER2AUDIT_REGISTRY)."""
    return os.environ.get(f"HER2AUDIT_{name.upper()}", fallback)


def guideline_choices(rulebooks_dir: str | Path | None = None) -> dict[str, str]:
    """The `guideline` param's choices and their labels: BY_DATE, then every rulebook id
    found (built in, plus those in `rulebooks_dir`). Reads only each file's id and title,
    so parsing the DAG stays cheap; the full checks run when a task starts."""
    choices = {BY_DATE: "none pinned: each line judged by the rulebook in force at its start"}
    for path in guidelines.rulebook_files(rulebooks_dir):
        try:
            doc = yaml_file.load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise UsageError(f"{path}: cannot read this rulebook ({exc})") from None
        if isinstance(doc, dict) and doc.get("id"):
            choices[str(doc["id"])] = f"{doc['id']}: {doc.get('title', '')}".rstrip(": ")
    return choices


def rule_params() -> dict[str, dict[str, Any]]:
    """The DAG params that set an audit's rules (rulebook, extra rulebooks, line-of-therapy
    parameters, data cut-off), as the keyword arguments of each `Param`: both DAGs take
    them from here, so their trigger forms offer the same choices with the same help.
    Defaults come from her2audit/rules/parameters.yaml; `guideline` is a choice of the
    rulebooks found (built in, plus HER2AUDIT_RULEBOOKS)."""
    rules = load_parameters()
    choices = guideline_choices(default_param("rulebooks"))

    def days(default: int, what: str) -> dict[str, Any]:
        return {"default": default, "type": "integer", "minimum": 0, "description": what}

    return {
        "guideline": {
            "default": rules.guideline or BY_DATE, "type": "string", "enum": list(choices),
            "values_display": choices,
            "description": "Rulebook that judges every line, or none pinned: each line judged "
                           "by the rulebook in force at its start."},
        "rulebooks": {
            "default": default_param("rulebooks"), "type": ["null", "string"],
            "description": "Folder of extra guideline rulebooks (YAML), e.g. a local pathway, "
                           "used beside the built-in ones. Default HER2AUDIT_RULEBOOKS (its "
                           "rulebooks are then choices of `guideline`)."},
        "pre_index_days": days(rules.pre_index_days,
                               "Administrations from this many days before the metastatic "
                               "diagnosis belong to the metastatic setting."),
        "regimen_window_days": days(rules.regimen_window_days,
                                    "Drugs first given within this many days of a line's "
                                    "start form its regimen."),
        "max_gap_days": days(rules.max_gap_days,
                             "A longer gap between administrations ends the line."),
        "data_cutoff": {
            "default": None, "type": ["null", "string"], "format": "date",
            "description": "Censoring date YYYY-MM-DD; empty: the latest date in the data."},
    }


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
    """Run parameters from DAG params (None or '' means: rule-file default; `guideline`
    BY_DATE means: none pinned)."""
    overrides = {n: params.get(n) for n in PARAMETER_NAMES}
    if overrides["guideline"] == BY_DATE:
        overrides["guideline"] = None
    return load_parameters(None, {n: (None if v == "" else v) for n, v in overrides.items()})


# ---- errors: retry or fail at once ---------------------------------------------------

def _chain(exc: BaseException):
    """The exception and everything it was raised from or during (also `from None`)."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def _is_lock(exc: BaseException) -> bool:
    """DuckDB refusing a file another process holds ("Could not set lock on file …")."""
    return isinstance(exc, duckdb.IOException | duckdb.ConnectionException) and (
        "lock" in str(exc).lower())


def is_transient(exc: BaseException) -> bool:
    """Whether the same task may succeed if it simply runs again later.

    Transient: the warehouse file locked by another process (a CLI run, a second writer),
    wherever it sits in the exception chain; a connection dropped or timed out while
    reading a database source (ConnectionError, TimeoutError, a DB-API OperationalError)
    when no her2audit error has judged it first. Everything else is permanent: the
    her2audit errors (exit 2: unusable argument, unreadable registry, bad rule file;
    exit 3: the data-quality gate) and any bug — retrying would repeat it.
    """
    chain = list(_chain(exc))
    if any(_is_lock(e) for e in chain):
        return True
    if isinstance(exc, Her2AuditError):
        return False
    return isinstance(exc, ConnectionError | TimeoutError) or type(exc).__name__ in (
        "OperationalError", "InterfaceError")


@contextlib.contextmanager
def retry_only_transient() -> Iterator[None]:
    """Around a task's work: let a transient error through (Airflow retries it); fail for
    good on any other (`AirflowFailException`, imported only then: nothing else here
    imports Airflow)."""
    try:
        yield
    except Exception as exc:
        if is_transient(exc):
            raise
        from airflow.sdk.exceptions import AirflowFailException

        raise AirflowFailException(failure_message(exc)) from exc


def failure_message(exc: BaseException) -> str:
    """One line for a task that fails for good: a her2audit error's own message (as the
    CLI prints it, with its exit status), else the exception's type and message."""
    if isinstance(exc, Her2AuditError):
        return f"{exc} (her2audit exit status {exc.exit_status}: not retried)"
    return f"{type(exc).__name__}: {exc} (not retried)"


# ---- logs --------------------------------------------------------------------------

def quiet_library_logs() -> None:
    """Keep the libraries' loggers at WARNING (or HER2AUDIT_LIBRARY_LOG_LEVEL)."""
    level = os.environ.get("HER2AUDIT_LIBRARY_LOG_LEVEL", "WARNING").upper()
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(level)


def _progress(message: str) -> None:
    log.info(message.strip())


def _run_stages(ctx: context.RunContext, task: str) -> None:
    for name in stages_for_task(task):
        _progress(f"[{name}] {pipeline.stage(name).description} …")
        seconds = pipeline.run_stage(ctx, name)
        _progress(f"[{name}] done in {seconds:.1f} s")


# ---- task callables ------------------------------------------------------------------

def start_and_extract(params: Mapping[str, Any], command: str = "airflow") -> str:
    """First task: check the params, rulebooks and environment, make the run's work file
    (the append-only tables carried over from the published warehouse), record
    `build.run_info` and extract the registry. Returns the run id the other tasks need."""
    quiet_library_logs()
    registry = _require(params, "registry")
    db = Path(_require(params, "db"))
    run_params = run_parameters(params)
    reports = _reports(params)
    check_rulebooks(run_params)
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


def run_audit(params: Mapping[str, Any], command: str = "airflow") -> str:
    """The whole audit as one task: every stage in one process, as `her2audit run` runs
    them (the run builds in its work file and publishes it). For a DAG that audits many
    registries (`her2_network_audit`), where a process per stage would cost each registry
    seven more task start-ups. Returns the run id."""
    quiet_library_logs()
    registry = _require(params, "registry")
    db = Path(_require(params, "db"))
    run_params = run_parameters(params)
    check_rulebooks(run_params)
    run_id, _ = pipeline.run_pipeline(db, registry, run_params, _reports(params),
                                      command=command, progress=_progress)
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
            f"(max_active_runs=1, or a `db` of its own for every run)"
        )
    return context.context_from_warehouse(con, reports, _progress)


def run_task(task: str, run_id: str, db: str | Path, reports: str | Path | None = None) -> str:
    """Any task after the first: run its stage(s) for `run_id` on the run's work file;
    returns the run id."""
    quiet_library_logs()
    with _faults(Path(db)):
        con = context.open_run(Path(db))
        try:
            ctx = context_for(con, run_id, Path(reports) if reports else None)
            _run_stages(ctx, task)
        finally:
            con.close()
    return run_id


# ---- assets ------------------------------------------------------------------------

# Asset aliases the publishing task declares as outlets; at run time it attaches to them
# the assets of the files that run published (their paths are known only then).
WAREHOUSE_ALIAS = "her2audit_warehouse"
REPORT_ALIAS = "her2audit_report"
PUBLISHING_TASK = "publish"  # the warehouse and the run's report appear together here


def asset_uri(path: str | Path) -> str:
    """A `file://` URI naming one file (absolute, normalised), as Airflow asset URIs are."""
    return Path(path).expanduser().resolve().as_uri()


def published_tables(db: str | Path) -> list[str]:
    """The `audit` tables of a warehouse (for the asset event of the publish task)."""
    con = warehouse.connect(Path(db), read_only=True)
    try:
        return warehouse.table_names(con, warehouse.AUDIT)
    finally:
        con.close()


def asset_events(task: str, run_id: str, params: Mapping[str, Any]
                 ) -> list[tuple[str, str, dict[str, Any]]]:
    """(alias, asset URI, extra) of every asset event `task` emits: the publishing task
    emits the warehouse it published and, when a reports folder was given, the run's
    report. Downstream DAGs read `run_id`, `db`, `tables` or `report` from the extra."""
    if task != PUBLISHING_TASK:
        return []
    db = Path(params["db"])
    extra: dict[str, Any] = {"run_id": run_id, "db": str(db)}
    events = [(WAREHOUSE_ALIAS, asset_uri(db), {**extra, "tables": published_tables(db)})]
    report = Path(params["reports"]) / "index.html" if params.get("reports") else None
    if report is not None and report.is_file():
        events.append((REPORT_ALIAS, asset_uri(report), {**extra, "report": str(report)}))
    return events
