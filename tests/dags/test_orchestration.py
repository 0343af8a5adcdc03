"""The task callables behind the DAG, without Airflow: run id hand-over and its guard."""

from __future__ import annotations

import pytest

from her2audit import orchestration, work_file
from her2audit.errors import UsageError


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


def test_asset_events_say_where_the_outputs_are(tmp_path):
    params = {"db": "/x/w.duckdb", "reports": str(tmp_path)}
    assert orchestration.asset_extra("report", "r1", params) == {"run_id": "r1",
                                                                  "db": "/x/w.duckdb"}
    (tmp_path / "index.html").write_text("<html></html>")
    assert orchestration.asset_extra("report", "r1", params)["report"] == str(
        tmp_path / "index.html")
