"""An Airflow 3 CeleryExecutor deployment of the DAGs, started as docs/deployment.md
describes it; used by `tests/dags/test_celery_deployment.py` and
`benchmarks/celery_network.py`.

Airflow's components run as separate processes with their own AIRFLOW_HOME — scheduler,
DAG processor, API server and one Celery worker — with Redis (127.0.0.1:6379) as the
Celery broker and a fresh PostgreSQL database (127.0.0.1:5432) as Airflow's metadata
database and Celery result backend. `Deployment` signs in through the simple auth
manager's token endpoint and talks to the REST API (`/api/v2`): unpause a DAG, trigger a
run, follow it, list its task instances. The DAGs' tasks go to the worker's own queue
(`HER2AUDIT_QUEUE`), so other Celery users of the same Redis cannot take them. Nothing is
left behind: the processes are stopped and the database dropped.

`Unavailable` says why a deployment cannot be started here (no PostgreSQL, no Redis, no
Celery provider, no psycopg); the test skips with that reason, the benchmark stops with it.
"""

from __future__ import annotations

import contextlib
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
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parents[1]
DAGS_FOLDER = PROJECT / "dags"
PG_HOST, PG_PORT, PG_ADMIN_DB = "127.0.0.1", 5432, "test"
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
STARTUP_SECONDS = 240  # migrate the database, API server up, DAG parsed
ADMIN = "her2audit_admin"
TERMINAL_STATES = ("success", "failed")


class Unavailable(RuntimeError):
    """A service or package the deployment needs is not there (the message says which)."""


def listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def metadata_db() -> Iterator[str]:
    """A fresh PostgreSQL database for Airflow's metadata (its SQLAlchemy URL); dropped
    afterwards."""
    try:
        import psycopg
    except ImportError:
        raise Unavailable("psycopg (the dev extra) is not installed") from None
    if not listening(PG_HOST, PG_PORT):
        raise Unavailable(f"no PostgreSQL server on {PG_HOST}:{PG_PORT}")
    name = f"her2audit_airflow_{secrets.token_hex(4)}"
    admin = f"postgresql://postgres@{PG_HOST}:{PG_PORT}/{PG_ADMIN_DB}"
    try:
        with psycopg.connect(admin, autocommit=True) as con:
            con.execute(f"create database {name}")
    except psycopg.Error as exc:
        raise Unavailable(f"cannot create a database on {PG_HOST}:{PG_PORT}: {exc}") from None
    try:
        yield f"postgresql+psycopg://postgres@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as con:
            con.execute(f"drop database if exists {name} with (force)")


def broker() -> str:
    """The Redis broker URL, once the Celery provider and a Redis server are known there."""
    try:  # asked of the installed distributions: importing Airflow here would configure it
        importlib.metadata.distribution("apache-airflow-providers-celery")
    except importlib.metadata.PackageNotFoundError:
        raise Unavailable("the Celery provider is not installed "
                          "(pip install 'her2audit[celery]')") from None
    if not listening(REDIS_HOST, REDIS_PORT):
        raise Unavailable(f"no Redis server on {REDIS_HOST}:{REDIS_PORT}")
    return f"redis://{REDIS_HOST}:{REDIS_PORT}/0"


class Deployment:
    """Airflow's components as processes, their logs in files, and a REST client."""

    def __init__(self, home: Path, env: dict[str, str], api_port: int, password: str):
        self.home, self.env, self.password = home, env, password
        self.api = f"http://127.0.0.1:{api_port}"
        self.processes: dict[str, subprocess.Popen] = {}
        self.token: str | None = None

    @property
    def queue(self) -> str:
        return self.env["HER2AUDIT_QUEUE"]

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

    def wait_for(self, what: str, seconds: float, check: Callable[[], Any],
                 every: float = 2) -> Any:
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
            time.sleep(every)
        logs = "\n".join(f"--- {n}\n{self.log_tail(n)}" for n in self.processes)
        raise AssertionError(f"timed out after {seconds:.0f} s waiting for {what}\n{logs}")

    def sign_in(self, seconds: float = STARTUP_SECONDS) -> None:
        """Wait for the API server, then sign in: the simple auth manager hands out a JWT
        for a user and password."""
        self.wait_for("the API server", seconds,
                      lambda: self.request("GET", "/api/v2/monitor/health")[0] == 200 or None)
        status, body = self.request("POST", "/auth/token",
                                    {"username": ADMIN, "password": self.password})
        if status != 201:
            raise AssertionError(f"sign-in refused ({status}): {body}")
        self.token = body["access_token"]

    def unpause(self, dag_id: str, seconds: float = STARTUP_SECONDS) -> None:
        """Wait for the DAG processor to have parsed `dag_id`, then unpause it."""
        self.wait_for(f"the DAG {dag_id} to be parsed", seconds,
                      lambda: self.request("GET", f"/api/v2/dags/{dag_id}")[0] == 200 or None)
        status, body = self.request("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})
        if status != 200 or body.get("is_paused") is not False:
            raise AssertionError(f"cannot unpause {dag_id} ({status}): {body}")

    def trigger(self, dag_id: str, conf: dict[str, Any]) -> str:
        """Trigger a run of `dag_id` with `conf`; returns the run's API path."""
        status, run = self.request("POST", f"/api/v2/dags/{dag_id}/dagRuns",
                                   {"logical_date": None, "conf": conf})
        if status != 200:
            raise AssertionError(f"trigger of {dag_id} refused ({status}): {run}")
        return f"/api/v2/dags/{dag_id}/dagRuns/{run['dag_run_id']}"

    def wait_for_run(self, run_path: str, seconds: float, every: float = 2) -> str:
        """Follow a triggered run until it succeeds or fails; returns its state."""
        def finished() -> str | None:
            state = self.request("GET", run_path)[1].get("state")
            return state if state in TERMINAL_STATES else None

        return self.wait_for("the DAG run to finish", seconds, finished, every)

    def task_instances(self, run_path: str) -> list[dict[str, Any]]:
        """Every task instance of the run (mapped ones too), as the API lists them."""
        out: list[dict[str, Any]] = []
        while True:
            status, body = self.request("GET", f"{run_path}/taskInstances?limit=100&offset="
                                               f"{len(out)}")
            if status != 200:
                raise AssertionError(f"task instances of {run_path} ({status}): {body}")
            out += body["task_instances"]
            if not body["task_instances"] or len(out) >= body["total_entries"]:
                return out


@contextlib.contextmanager
def celery_deployment(home: Path, metadata_db: str, broker: str, concurrency: int = 1,
                      env: dict[str, str] | None = None) -> Iterator[Deployment]:
    """Migrate the metadata database, start API server, scheduler, DAG processor and one
    Celery worker (`concurrency` task processes) on a queue of its own; stop them all on
    leaving. `env` adds to (or overrides) the components' environment."""
    api_port = free_port()
    password = secrets.token_urlsafe(12)
    (home / "passwords.json").write_text(json.dumps({ADMIN: password}))
    queue = f"her2audit_{secrets.token_hex(4)}"
    full_env = {
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
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(concurrency),
        "HER2AUDIT_QUEUE": queue,  # the DAGs' tasks go to this worker's queue only
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "10",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
        "HER2AUDIT_SCHEDULE": "none",
        "HER2AUDIT_LIBRARY_LOG_LEVEL": "WARNING",
        **(env or {}),
    }
    dep = Deployment(home, full_env, api_port, password)
    try:
        dep.airflow("db", "migrate")
        dep.start("api-server", "api-server", "--port", str(api_port))
        dep.start("scheduler", "scheduler")
        dep.start("dag-processor", "dag-processor")
        dep.start("celery-worker", "celery", "worker", "--queues", queue, "--concurrency",
                  str(concurrency), "--without-mingle", "--without-gossip")
        yield dep
    finally:
        dep.stop()
