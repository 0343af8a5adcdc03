"""The Airflow DAG `her2_registry_audit`: integrity, and end-to-end runs with `dag.test()`
over the same library code as `her2audit run`."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import duckdb
import pytest

from her2audit import orchestration, pipeline, work_file
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


def test_retries_back_off_on_extraction_only(audit_dag):
    extract = audit_dag.get_task("extract")
    assert extract.retries >= 1 and extract.retry_exponential_backoff > 1
    assert extract.max_retry_delay is not None
    # a failed data-quality gate is not retried: the data will not improve by itself
    assert audit_dag.get_task("validate").retries == 0


def test_every_task_uses_the_single_writer_pool(audit_dag):
    assert {(t.pool, t.pool_slots) for t in audit_dag.tasks} == {("her2audit_duckdb", 1)}
    assert audit_dag.max_active_runs == 1


def test_params_schedule_and_assets(audit_dag):
    assert set(audit_dag.params) >= {"registry", "db", "reports", "guideline", "pre_index_days",
                                     "regimen_window_days", "max_gap_days"}
    assert audit_dag.params["max_gap_days"] == RunParameters().max_gap_days
    assert audit_dag.timetable.expression == "0 0 1 * *"  # @monthly by default
    outlets = {t.task_id: [a.name for a in t.outlets] for t in audit_dag.tasks if t.outlets}
    assert outlets == {"report": ["her2audit_report"], "publish": ["her2audit_warehouse"]}


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

def run_dag(audit_dag, registry: Path, db: Path, reports: Path, **conf):
    dag_run = audit_dag.test(run_conf={"registry": str(registry), "db": str(db),
                                       "reports": str(reports), **conf})
    states = {ti.task_id: ti.state for ti in dag_run.get_task_instances()}
    return str(dag_run.state), {k: str(v) for k, v in states.items()}


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
