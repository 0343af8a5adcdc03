"""The DAG on a real CeleryExecutor deployment, as docs/deployment.md describes it.

The test starts Airflow's components as separate processes with their own AIRFLOW_HOME —
scheduler, DAG processor, API server and one Celery worker — with Redis (127.0.0.1:6379)
as the Celery broker and a fresh PostgreSQL database (127.0.0.1:5432) as Airflow's
metadata database and Celery result backend. It signs in through the simple auth
manager's token endpoint, unpauses the DAG and triggers a run through the REST API
(`/api/v2`), and follows the run to success within a bounded time. Its tasks go to the
worker's own queue (`HER2AUDIT_QUEUE`), so other Celery users of the same Redis cannot
take them. Nothing is
left behind: the processes are stopped and the database dropped.

Skips, with the reason, when PostgreSQL, Redis or the Celery provider is absent.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

PROJECT = Path(__file__).resolve().parents[2]
DAGS_FOLDER = PROJECT / "dags"
SMALL_REGISTRY = Path(__file__).resolve().parent / "data" / "registry"
pytestmark = [pytest.mark.slow, pytest.mark.airflow, pytest.mark.postgres]

PG_HOST, PG_PORT, PG_ADMIN_DB = "127.0.0.1", 5432, "test"
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
DAG_ID = "her2_registry_audit"
STARTUP_SECONDS = 240  # migrate the database, API server up, DAG parsed
RUN_SECONDS = 600  # the triggered run, queued to success
ADMIN = "her2audit_admin"


def _listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def metadata_db() -> Iterator[str]:
    """A fresh PostgreSQL database for Airflow's metadata; dropped afterwards."""
    psycopg = pytest.importorskip("psycopg", reason="psycopg (the dev extra) is not installed")
    if not _listening(PG_HOST, PG_PORT):
        pytest.skip(f"no PostgreSQL server on {PG_HOST}:{PG_PORT}")
    name = f"her2audit_airflow_{secrets.token_hex(4)}"
    admin = f"postgresql://postgres@{PG_HOST}:{PG_PORT}/{PG_ADMIN_DB}"
    try:
        with psycopg.connect(admin, autocommit=True) as con:
            con.execute(f"create database {name}")
    except psycopg.Error as exc:
        pytest.skip(f"cannot create a database on {PG_HOST}:{PG_PORT}: {exc}")
    try:
        yield f"postgresql+psycopg://postgres@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as con:
            con.execute(f"drop database if exists {name} with (force)")


@pytest.fixture
def broker() -> str:
    try:  # asked of the installed distributions: importing Airflow here would configure it
        importlib.metadata.distribution("apache-airflow-providers-celery")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("the Celery provider is not installed (pip install 'her2audit[celery]')")
    if not _listening(REDIS_HOST, REDIS_PORT):
        pytest.skip(f"no Redis server on {REDIS_HOST}:{REDIS_PORT}")
    return f"redis://{REDIS_HOST}:{REDIS_PORT}/0"


class Deployment:
    """Airflow's components as processes, their logs in files, and a REST client."""

    def __init__(self, home: Path, env: dict[str, str], api_port: int, password: str):
        self.home, self.env, self.password = home, env, password
        self.api = f"http://127.0.0.1:{api_port}"
        self.processes: dict[str, subprocess.Popen] = {}
        self.token: str | None = None

    def airflow(self, *args: str, timeout: float = 300) -> None:
        subprocess.run([sys.executable, "-m", "airflow", *args], env=self.env, check=True,
                       timeout=timeout, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def start(self, name: str, *args: str) -> None:
        log = (self.home / f"{name}.log").open("w")
        self.processes[name] = subprocess.Popen(
            [sys.executable, "-m", "airflow", *args], env=self.env, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True)  # own group: stop its children

    def check_alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise AssertionError(f"{name} exited with {process.returncode}:\n"
                                     f"{self.log_tail(name)}")

    def log_tail(self, name: str, lines: int = 40) -> str:
        path = self.home / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        for process in self.processes.values():
            try:
                process.wait(timeout=max(1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.api + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=30) as response:
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")

    def wait_for(self, what: str, seconds: float, check) -> dict:
        """Poll `check()` (returns a result or None) until it answers or time runs out."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                result = check()
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                result = None
            if result is not None:
                return result
            time.sleep(2)
        logs = "\n".join(f"--- {n}\n{self.log_tail(n)}" for n in self.processes)
        raise AssertionError(f"timed out after {seconds:.0f} s waiting for {what}\n{logs}")


@pytest.fixture
def deployment(tmp_path_factory, metadata_db: str, broker: str) -> Iterator[Deployment]:
    home = tmp_path_factory.mktemp("celery_airflow_home")
    api_port = _free_port()
    password = secrets.token_urlsafe(12)
    (home / "passwords.json").write_text(json.dumps({ADMIN: password}))
    queue = f"her2audit_{secrets.token_hex(4)}"
    env = {
        **{k: v for k, v in os.environ.items()
           if not k.startswith(("AIRFLOW", "HER2AUDIT_"))},
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
        "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_db,
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": metadata_db,
        "AIRFLOW__CELERY__BROKER_URL": broker,
        "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{metadata_db}",
        "HER2AUDIT_QUEUE": queue,  # the DAG's tasks go to this worker's queue only
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "10",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
        "HER2AUDIT_SCHEDULE": "none",
        "HER2AUDIT_LIBRARY_LOG_LEVEL": "WARNING",
    }
    dep = Deployment(home, env, api_port, password)
    try:
        dep.airflow("db", "migrate")
        dep.start("api-server", "api-server", "--port", str(api_port))
        dep.start("scheduler", "scheduler")
        dep.start("dag-processor", "dag-processor")
        dep.start("celery-worker", "celery", "worker", "--queues", queue, "--concurrency", "1",
                  "--without-mingle", "--without-gossip")
        yield dep
    finally:
        dep.stop()


def test_a_run_triggered_through_the_rest_api_succeeds_on_a_celery_worker(deployment,
                                                                            tmp_path):
    started = time.monotonic()
    dep = deployment
    dep.wait_for("the API server", STARTUP_SECONDS,
                 lambda: dep.request("GET", "/api/v2/monitor/health")[0] == 200 or None)

    # sign in: the simple auth manager hands out a JWT for a user and password
    status, body = dep.request("POST", "/auth/token",
                               {"username": ADMIN, "password": dep.password})
    assert status == 201, body
    dep.token = body["access_token"]

    dep.wait_for("the DAG to be parsed", STARTUP_SECONDS,
                 lambda: dep.request("GET", f"/api/v2/dags/{DAG_ID}")[0] == 200 or None)
    status, body = dep.request("PATCH", f"/api/v2/dags/{DAG_ID}", {"is_paused": False})
    assert status == 200 and body["is_paused"] is False, body
    ready = time.monotonic()

    db, reports = tmp_path / "her2audit.duckdb", tmp_path / "reports"
    status, run = dep.request("POST", f"/api/v2/dags/{DAG_ID}/dagRuns", {
        "logical_date": None,
        "conf": {"registry": str(SMALL_REGISTRY), "db": str(db), "reports": str(reports)},
    })
    assert status == 200, run
    run_path = f"/api/v2/dags/{DAG_ID}/dagRuns/{run['dag_run_id']}"

    def finished():
        state = dep.request("GET", run_path)[1].get("state")
        return state if state in ("success", "failed") else None

    state = dep.wait_for("the DAG run to finish", RUN_SECONDS, finished)
    tasks = dep.request("GET", f"{run_path}/taskInstances")[1]["task_instances"]
    summary = {t["task_id"]: (t["state"], t["try_number"], t["queue"]) for t in tasks}
    assert state == "success", (summary, dep.log_tail("celery-worker"))
    queue = dep.env["HER2AUDIT_QUEUE"]
    assert set(summary.values()) == {("success", 1, queue)}, summary
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
