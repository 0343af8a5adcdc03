"""The Airflow DAG `her2_registry_audit`: integrity, and end-to-end runs with `dag.test()`
over the same library code as `her2audit run`."""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from her2audit import guidelines, orchestration, pipeline, work_file
from her2audit.errors import UsageError
from her2audit.parameters import RunParameters

SMALL_REGISTRY = Path(__file__).resolve().parent / "data" / "registry"

pytestmark = pytest.mark.airflow

TASKS = ["extract", "validate", "cohort", "lines", "concordance", "outcomes", "report", "publish"]
# columns that differ between two runs of the same registry by design
RUN_DEPENDENT = {"run_id", "started_at", "finished_at", "checked_at", "command", "registry"}


# ---- integrity ---------------------------------------------------------------------

def test_the_dag_file_imports_cleanly(dagbag):
    assert dagbag.import_errors == {}
    assert "her2_registry_audit" in dagbag.dag_ids


def test_the_task_graph_is_a_chain_in_pipeline_order(audit_dag):
    assert sorted(audit_dag.task_ids) == sorted(TASKS)
    for upstream, downstream in zip(TASKS, TASKS[1:], strict=False):
        assert audit_dag.get_task(upstream).downstream_task_ids == {downstream}
    assert audit_dag.get_task("extract").upstream_task_ids == set()


def test_retries_back_off_on_every_task(audit_dag):
    # only transient errors reach a retry: the tasks fail permanent ones at once
    # (see test_a_permanent_error_fails_at_once_without_retries)
    for t in audit_dag.tasks:
        assert t.retries >= 1 and t.retry_exponential_backoff > 1, t.task_id
        assert t.max_retry_delay is not None


def test_no_pool_is_needed_and_writers_never_overlap(audit_dag):
    # every task in Airflow's default pool: nothing for a deployment to create by hand
    assert {(t.pool, t.pool_slots) for t in audit_dag.tasks} == {("default_pool", 1)}
    # one run at a time, one task at a time: one DuckDB writer per warehouse
    assert audit_dag.max_active_runs == 1
    assert audit_dag.max_active_tasks == 1


def test_params_schedule_and_assets(audit_dag):
    assert set(audit_dag.params) >= {"registry", "db", "reports", "guideline", "rulebooks",
                                     "pre_index_days", "regimen_window_days", "max_gap_days",
                                     "data_cutoff"}
    assert audit_dag.params["max_gap_days"] == RunParameters().max_gap_days
    assert audit_dag.timetable.expression == "0 0 1 * *"  # @monthly by default
    outlets = {t.task_id: [(type(a).__name__, a.name) for a in t.outlets]
               for t in audit_dag.tasks if t.outlets}
    assert outlets == {"publish": [("AssetAlias", "her2audit_warehouse"),
                                   ("AssetAlias", "her2audit_report")]}


def test_every_param_is_described_and_guideline_is_a_choice_of_known_rulebooks(audit_dag):
    params = {name: audit_dag.params.get_param(name) for name in audit_dag.params}
    undescribed = [name for name, param in params.items() if not param.description]
    schemas = {name: param.schema for name, param in params.items()}
    assert undescribed == []
    known = [b.id for b in guidelines.load_rulebooks()]
    assert schemas["guideline"]["enum"] == [orchestration.BY_DATE, *known]
    assert audit_dag.params["guideline"] == orchestration.BY_DATE
    assert set(schemas["guideline"]["values_display"]) == set(schemas["guideline"]["enum"])


def test_the_tasks_run_exactly_the_cli_stages_in_order():
    by_task = [s for task in TASKS for s in orchestration.stages_for_task(task)]
    assert by_task == [s.name for s in pipeline.STAGES]


def test_concurrent_runs_are_configurable_but_at_least_one(monkeypatch):
    monkeypatch.delenv("HER2AUDIT_MAX_ACTIVE_RUNS", raising=False)
    assert orchestration.max_active_runs() == 1
    monkeypatch.setenv("HER2AUDIT_MAX_ACTIVE_RUNS", "4")
    assert orchestration.max_active_runs() == 4
    monkeypatch.setenv("HER2AUDIT_MAX_ACTIVE_RUNS", "0")
    with pytest.raises(UsageError):
        orchestration.max_active_runs()


def test_schedule_comes_from_configuration(monkeypatch):
    monkeypatch.setenv("HER2AUDIT_SCHEDULE", "0 3 * * 1")
    assert orchestration.schedule() == "0 3 * * 1"
    monkeypatch.setenv("HER2AUDIT_SCHEDULE", "none")
    assert orchestration.schedule() is None
    monkeypatch.delenv("HER2AUDIT_SCHEDULE")
    monkeypatch.setenv("AIRFLOW_VAR_HER2AUDIT_SCHEDULE", "@weekly")
    assert orchestration.schedule() == "@weekly"


# ---- end to end --------------------------------------------------------------------

def run_dag(audit_dag, registry: Path, db: Path, reports: Path, only: str | None = None,
            **conf):
    """One `dag.test()` run; `only` runs that task alone (the others are marked success).
    `dag.test()` keeps a run's conf in the DAG's params, so every run names the optional
    params it could inherit from an earlier one."""
    conf = {"rulebooks": None, "guideline": orchestration.BY_DATE, **conf}
    dag_run = audit_dag.test(run_conf={"registry": str(registry), "db": str(db),
                                       "reports": str(reports), **conf},
                             mark_success_pattern=f"(?!{only}$).*" if only else None)
    states = {ti.task_id: ti.state for ti in dag_run.get_task_instances()}
    return str(dag_run.state), {k: str(v) for k, v in states.items()}


def tries(audit_dag, task_id: str) -> int:
    """How many times `task_id` ran in the DAG's latest run."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        ti = session.scalars(select(TaskInstance)
                             .where(TaskInstance.dag_id == audit_dag.dag_id,
                                    TaskInstance.task_id == task_id)
                             .order_by(TaskInstance.start_date.desc())).first()
        return ti.try_number


def audit_tables(db: Path, skip: frozenset[str] = frozenset()) -> dict[str, list[tuple]]:
    """Every audit table's rows (sorted), without columns that differ between runs."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        out = {}
        names = [r[0] for r in con.execute(
            "select table_name from information_schema.tables where table_schema = 'audit'"
        ).fetchall()]
        for name in sorted(set(names) - skip):
            cols = [r[0] for r in con.execute(
                "select column_name from information_schema.columns "
                "where table_schema = 'audit' and table_name = ? order by ordinal_position",
                [name]).fetchall() if r[0] not in RUN_DEPENDENT]
            rows = con.execute(f"select {', '.join(cols)} from audit.{name}").fetchall()
            out[name] = sorted(rows, key=repr)
        return out
    finally:
        con.close()


@pytest.fixture(scope="module")
def published(audit_dag, tmp_path_factory):
    """One DAG run on the small test registry (60 patients): its warehouse and task states."""
    out = tmp_path_factory.mktemp("dag_run")
    state, tasks = run_dag(audit_dag, SMALL_REGISTRY, out / "dag.duckdb", out / "reports")
    return {"db": out / "dag.duckdb", "state": state, "tasks": tasks}


def test_a_dag_run_publishes_the_same_tables_as_the_cli(published, tmp_path):
    from her2audit import cli

    assert published["state"] == "success", published["tasks"]
    assert set(published["tasks"].values()) == {"success"}
    assert cli.main(["run", "--registry", str(SMALL_REGISTRY), "--db", str(tmp_path / "cli.duckdb"),
                     "--reports", str(tmp_path / "cli_reports")]) == 0

    cli_tables = audit_tables(tmp_path / "cli.duckdb")
    dag_tables = audit_tables(published["db"])
    assert sorted(dag_tables) == sorted(cli_tables)
    assert dag_tables["lines_of_therapy"], "the comparison must cover lines of therapy"
    for name in cli_tables:
        assert dag_tables[name] == cli_tables[name], name
    # the warning-only registry (60 patients < 100) completed and recorded its warning
    con = duckdb.connect(str(published["db"]), read_only=True)
    warnings = con.execute("select expectation from audit.data_quality_results "
                           "where severity = 'warning' and status = 'failed'").fetchall()
    runs = con.execute("select command, status from audit.runs").fetchall()
    con.close()
    assert ("patients_at_least_100",) in warnings
    assert runs == [("airflow", "published")]


def test_publish_emits_assets_named_after_the_runs_warehouse_and_report(published):
    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        events = {e.uri: e.extra for e in session.scalars(select(AssetEvent))}
    warehouse_uri = published["db"].resolve().as_uri()
    report_uri = (published["db"].parent / "reports" / "index.html").resolve().as_uri()
    assert warehouse_uri.startswith("file:///") and warehouse_uri in events
    assert events[warehouse_uri]["db"] == str(published["db"])
    assert "lines_of_therapy" in events[warehouse_uri]["tables"]
    assert events[report_uri]["report"].endswith("index.html")
    assert events[report_uri]["run_id"] == events[warehouse_uri]["run_id"]


def test_a_permanent_error_fails_at_once_without_retries(audit_dag, tmp_path):
    # a registry path that does not exist: exit 2 on the command line
    state, tasks = run_dag(audit_dag, tmp_path / "no_such_registry", tmp_path / "w.duckdb",
                           tmp_path / "reports")
    assert state == "failed"
    assert tasks["extract"] == "failed"  # not up_for_retry
    assert tries(audit_dag, "extract") == 1
    assert {tasks[t] for t in TASKS[1:]} == {"upstream_failed"}

    # a rulebooks folder that does not exist: refused before the warehouse is touched
    state, tasks = run_dag(audit_dag, SMALL_REGISTRY, tmp_path / "w2.duckdb",
                           tmp_path / "reports", only="extract",
                           rulebooks=str(tmp_path / "no_such_folder"))
    assert (state, tasks["extract"], tries(audit_dag, "extract")) == ("failed", "failed", 1)
    assert not (tmp_path / "w2.duckdb").exists()


# Holds the warehouse open for writing until the extract task has failed on the lock and
# is waiting for its retry (read from the test's SQLite metadata database), then lets go.
LOCK_HOLDER = """
import os, sqlite3, sys, time
import duckdb
con = duckdb.connect(sys.argv[1])
print("locked", flush=True)
meta = sqlite3.connect(os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"][len("sqlite:///"):])
deadline = time.monotonic() + 300
while time.monotonic() < deadline:
    states = meta.execute("select state from task_instance where dag_id = ? and task_id = "
                          "'extract' and start_date >= ?", sys.argv[2:4]).fetchall()
    if ("up_for_retry",) in states:
        break
    time.sleep(0.5)
"""


@pytest.mark.slow
def test_a_locked_warehouse_is_retried_until_it_is_free(audit_dag, tmp_path):
    """Another process holds the warehouse (a CLI run, a second writer): extract fails on
    the lock, waits for its retry (30 s) and succeeds once the file is free."""
    import datetime as dt

    db = tmp_path / "w.duckdb"
    since = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
    holder = subprocess.Popen([sys.executable, "-c", LOCK_HOLDER, str(db), audit_dag.dag_id,
                               since], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        state, tasks = run_dag(audit_dag, SMALL_REGISTRY, db, tmp_path / "reports",
                               only="extract")
    finally:
        holder.kill()
        holder.wait()
    assert (state, tasks["extract"]) == ("success", "success")
    assert tries(audit_dag, "extract") == 2


def test_a_critical_failure_stops_at_validate_and_keeps_the_published_tables(
        audit_dag, published, small_registry, tmp_path):
    db = tmp_path / "dag.duckdb"
    shutil.copy(published["db"], db)
    before = audit_tables(db, skip=frozenset({"data_quality_results_history"}))

    broken = tmp_path / "broken"
    broken.mkdir()
    for path in small_registry.glob("*.csv"):
        rows = list(csv.DictReader(path.open()))
        if path.stem == "biomarkers":  # no HER2 results at all
            rows = [r for r in rows if r["marker"] != "HER2"]
        with (broken / path.name).open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)

    state, tasks = run_dag(audit_dag, broken, db, tmp_path / "reports")
    assert state == "failed"
    assert tasks["extract"] == "success" and tasks["validate"] == "failed"
    assert {tasks[t] for t in TASKS[2:]} == {"upstream_failed"}
    assert audit_tables(db, skip=frozenset({"data_quality_results_history"})) == before

    con = work_file.open_work(db, read_only=True)  # the stopped run's own work file
    failed = con.execute(
        "select expectation from audit.data_quality_results_history h "
        "where severity = 'critical' and status = 'failed' and run_id = "
        "(select run_id from build.run_info) order by 1").fetchall()
    con.close()
    assert failed == [("biomarkers_has_her2_results",),
                      ("patients_with_her2_test_at_least_50pct",)]
