"""The DAG on a real CeleryExecutor deployment, as docs/deployment.md describes it.

`benchmarks.deployment` starts Airflow's components as separate processes with their own
AIRFLOW_HOME — scheduler, DAG processor, API server and one Celery worker — with Redis
(127.0.0.1:6379) as the Celery broker and a fresh PostgreSQL database (127.0.0.1:5432) as
Airflow's metadata database and Celery result backend. The test signs in through the
simple auth manager's token endpoint, unpauses the DAG and triggers a run through the REST
API (`/api/v2`), and follows the run to success within a bounded time. Its tasks go to the
worker's own queue (`HER2AUDIT_QUEUE`), so other Celery users of the same Redis cannot
take them. Nothing is left behind: the processes are stopped and the database dropped.

Skips, with the reason, when PostgreSQL, Redis or the Celery provider is absent.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from benchmarks.deployment import Deployment, Unavailable, broker, celery_deployment, metadata_db

SMALL_REGISTRY = Path(__file__).resolve().parent / "data" / "registry"
pytestmark = [pytest.mark.slow, pytest.mark.airflow, pytest.mark.postgres]

DAG_ID = "her2_registry_audit"
RUN_SECONDS = 600  # the triggered run, queued to success


@pytest.fixture
def deployment(tmp_path_factory) -> Iterator[Deployment]:
    with contextlib.ExitStack() as stack:
        try:
            url = broker()
            database = stack.enter_context(metadata_db())
        except Unavailable as exc:
            pytest.skip(str(exc))
        home = tmp_path_factory.mktemp("celery_airflow_home")
        yield stack.enter_context(celery_deployment(home, database, url))


def test_a_run_triggered_through_the_rest_api_succeeds_on_a_celery_worker(deployment,
                                                                            tmp_path):
    started = time.monotonic()
    dep = deployment
    dep.sign_in()
    dep.unpause(DAG_ID)
    ready = time.monotonic()

    db, reports = tmp_path / "her2audit.duckdb", tmp_path / "reports"
    run_path = dep.trigger(DAG_ID, {"registry": str(SMALL_REGISTRY), "db": str(db),
                                    "reports": str(reports)})
    state = dep.wait_for_run(run_path, RUN_SECONDS)
    tasks = dep.task_instances(run_path)
    summary = {t["task_id"]: (t["state"], t["try_number"], t["queue"]) for t in tasks}
    assert state == "success", (summary, dep.log_tail("celery-worker"))
    assert set(summary.values()) == {("success", 1, dep.queue)}, summary
    assert len(summary) == 8

    con = duckdb.connect(str(db), read_only=True)
    try:
        runs = con.execute("select command, status from audit.runs").fetchall()
        n_lines = con.execute("select count(*) from audit.lines_of_therapy").fetchone()[0]
    finally:
        con.close()
    assert runs == [("airflow", "published")] and n_lines > 0
    assert (reports / "index.html").is_file()
    print(f"\nCelery deployment: ready in {ready - started:.0f} s, run took "
          f"{time.monotonic() - ready:.0f} s")
