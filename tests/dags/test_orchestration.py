"""The task callables behind the DAG, without Airflow: run id hand-over and its guard."""

from __future__ import annotations

import subprocess
import sys

import duckdb
import pytest

from her2audit import guidelines, orchestration, work_file
from her2audit.errors import (
    DataQualityError,
    Her2AuditError,
    RegistryError,
    RuleFileError,
    UsageError,
)
from her2audit.parameters import RunParameters


def test_tasks_hand_over_the_run_id_and_refuse_a_foreign_run(small_registry, tmp_path):
    db = tmp_path / "w.duckdb"
    params = {"registry": str(small_registry), "db": str(db), "reports": None,
              "max_gap_days": 90, "guideline": ""}
    run_id = orchestration.start_and_extract(params)
    assert orchestration.run_task("validate", run_id, db) == run_id

    con = work_file.open_work(db, read_only=True)  # nothing is published before `publish`
    recorded = con.execute("select run_id, parameters->>'max_gap_days' from build.run_info "
                           ).fetchone()
    n_results = con.execute("select count(*) from build.data_quality_results").fetchone()[0]
    con.close()
    assert recorded == (run_id, "90")  # DAG params become the run's parameters
    assert n_results > 0

    # a task of an older DAG run must not work on a newer run's build tables
    newer = orchestration.start_and_extract(params)
    with pytest.raises(RuntimeError, match="another run started on this warehouse"):
        orchestration.run_task("cohort", run_id, db)
    assert orchestration.run_task("validate", newer, db) == newer


def test_the_registry_must_be_given(tmp_path, monkeypatch):
    with pytest.raises(UsageError, match="HER2AUDIT_REGISTRY"):
        orchestration.start_and_extract({"registry": None, "db": str(tmp_path / "w.duckdb")})


def test_only_publish_emits_assets_and_they_say_where_the_outputs_are(small_registry,
                                                                       tmp_path):
    db, reports = tmp_path / "w.duckdb", tmp_path / "reports"
    params = {"registry": str(small_registry), "db": str(db), "reports": str(reports)}
    run_id = orchestration.start_and_extract(params)
    for task in list(orchestration.TASK_STAGES)[1:]:
        if task != orchestration.PUBLISHING_TASK:
            assert orchestration.asset_events(task, run_id, params) == []
        orchestration.run_task(task, run_id, db, reports)
    events = orchestration.asset_events("publish", run_id, params)
    assert [(alias, uri) for alias, uri, _ in events] == [
        ("her2audit_warehouse", f"file://{db.resolve()}"),
        ("her2audit_report", f"file://{(reports / 'index.html').resolve()}")]
    (_, _, warehouse_extra), (_, _, report_extra) = events
    assert warehouse_extra["run_id"] == report_extra["run_id"] == run_id
    assert "lines_of_therapy" in warehouse_extra["tables"]
    assert report_extra["report"] == str(reports / "index.html")
    # without a reports folder: the warehouse alone
    no_report = orchestration.asset_events("publish", run_id, {**params, "reports": None})
    assert [alias for alias, _, _ in no_report] == ["her2audit_warehouse"]


# ---- what is retried, what fails at once -------------------------------------------

def lock_error(small_registry, db) -> Exception:
    """What a task raises when another process holds the run's work file open for
    writing: the one-line environment fault, raised from DuckDB's lock error."""
    run_id = orchestration.start_and_extract({"registry": str(small_registry), "db": str(db)})
    work = work_file.work_path(db)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys; con = duckdb.connect(sys.argv[1]); "
         "print('locked', flush=True); sys.stdin.read()", str(work)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(Exception) as caught:
            orchestration.run_task("validate", run_id, db)
        return caught.value
    finally:
        holder.communicate("")


def test_a_locked_work_file_is_transient_though_reported_as_a_one_line_fault(small_registry,
                                                                            tmp_path):
    fault = lock_error(small_registry, tmp_path / "w.duckdb")
    assert isinstance(fault, Her2AuditError) and "lock" in str(fault).lower()
    assert any(isinstance(e, duckdb.IOException) for e in orchestration._chain(fault))
    assert orchestration.is_transient(fault)


def test_her2audit_errors_and_bugs_are_permanent_and_dropped_connections_transient(tmp_path):
    assert not orchestration.is_transient(RegistryError("registry/", "no such folder"))
    assert not orchestration.is_transient(DataQualityError(["patients.x (observed 0)"]))
    assert not orchestration.is_transient(UsageError("--guideline nope: no such rulebook"))
    assert not orchestration.is_transient(RuleFileError("rules/x.yaml: malformed"))
    assert not orchestration.is_transient(KeyError("a bug"))
    assert orchestration.is_transient(ConnectionResetError("connection reset by peer"))
    assert orchestration.is_transient(TimeoutError("timed out"))

    class OperationalError(Exception):  # the DB-API name drivers use for a lost server
        pass

    assert orchestration.is_transient(OperationalError("server closed the connection"))
    # a connection the source adapter already judged (e.g. wrong host) is its verdict
    try:
        try:
            raise OperationalError("could not connect")
        except OperationalError:
            raise RegistryError("postgresql://h/db", "cannot connect to PostgreSQL") from None
    except RegistryError as judged:
        assert not orchestration.is_transient(judged)
    assert "exit status 2" in orchestration.failure_message(RegistryError("r/", "missing"))


def test_an_unknown_rulebooks_folder_is_refused_before_the_warehouse_is_touched(
        small_registry, tmp_path):
    params = {"registry": str(small_registry), "db": str(tmp_path / "w.duckdb"),
              "rulebooks": str(tmp_path / "nowhere")}
    with pytest.raises(UsageError, match="nowhere"):
        orchestration.start_and_extract(params)
    assert not (tmp_path / "w.duckdb").exists()


# ---- params, logs, assets ----------------------------------------------------------

def test_guideline_choices_are_the_rulebooks_found(tmp_path):
    builtin = [b.id for b in guidelines.load_rulebooks()]
    choices = orchestration.guideline_choices()
    assert list(choices) == [orchestration.BY_DATE, *builtin]
    local = tmp_path / "local"
    local.mkdir()
    source = guidelines.BUILTIN_DIR / f"{builtin[-1]}.yaml"
    (local / "pathway.yaml").write_text(
        source.read_text().replace(f"id: {builtin[-1]}", "id: local-pathway-1"))
    assert list(orchestration.guideline_choices(local))[-1] == "local-pathway-1"


def test_dag_params_become_run_parameters():
    params = {"guideline": orchestration.BY_DATE, "max_gap_days": 90, "data_cutoff": "",
              "rulebooks": None}
    assert orchestration.run_parameters(params) == RunParameters(max_gap_days=90)
    pinned = orchestration.run_parameters({**params, "guideline": "her2-mbc-2020"})
    assert pinned.guideline == "her2-mbc-2020"


def test_task_logs_hold_the_pipelines_lines_not_the_libraries(small_registry, tmp_path,
                                                                   caplog):
    db = tmp_path / "w.duckdb"
    params = {"registry": str(small_registry), "db": str(db)}
    with caplog.at_level("DEBUG"):
        run_id = orchestration.start_and_extract(params)
        orchestration.run_task("validate", run_id, db)
    by_library = [r for r in caplog.records if r.name.startswith("great_expectations")]
    assert by_library == []
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("her2audit")]
    assert any("[validate] done" in m for m in ours)
    # the small registry's one failed expectation, at its severity, with what was observed
    warned = [r for r in caplog.records if r.levelname == "WARNING"]
    assert [r.getMessage().strip() for r in warned] == [
        "[warning] patients.patients_at_least_100: observed 60"]


def test_asset_uris_are_absolute_file_uris(tmp_path):
    uri = orchestration.asset_uri(tmp_path / "sub" / ".." / "w.duckdb")
    assert uri == f"file://{tmp_path.resolve()}/w.duckdb"


def test_retries_back_off_and_a_queue_can_be_named(monkeypatch):
    monkeypatch.delenv("HER2AUDIT_QUEUE", raising=False)
    args = orchestration.default_args()
    assert args["retries"] >= 1 and args["retry_exponential_backoff"] > 1
    assert "queue" not in args  # the executor's default queue
    monkeypatch.setenv("HER2AUDIT_QUEUE", "her2audit_site_a")
    assert orchestration.default_args()["queue"] == "her2audit_site_a"


def test_run_audit_runs_every_stage_in_one_task_and_publishes(small_registry, tmp_path):
    db = tmp_path / "w.duckdb"
    run_id = orchestration.run_audit({"registry": str(small_registry), "db": str(db),
                                      "reports": None}, command="airflow-network")
    con = duckdb.connect(str(db), read_only=True)
    try:
        assert con.execute("select run_id, command, status from audit.runs").fetchall() == [
            (run_id, "airflow-network", "published")]
    finally:
        con.close()


def test_run_audit_refuses_an_unknown_guideline_before_any_work(small_registry, tmp_path):
    db = tmp_path / "w.duckdb"
    with pytest.raises(UsageError):
        orchestration.run_audit({"registry": str(small_registry), "db": str(db),
                                 "guideline": "no-such-rulebook"})
    assert not db.exists() and not list(tmp_path.glob("w.duckdb*"))
