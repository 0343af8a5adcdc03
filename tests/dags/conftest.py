"""An isolated Airflow for the DAG tests: a temporary AIRFLOW_HOME with its own SQLite
metadata database, `dags/` as the DAG folder, no example DAGs.

The environment is set before Airflow is first imported (Airflow reads its
configuration at import time), then `airflow db migrate` creates the metadata database.
Test modules import Airflow only inside fixtures and tests.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]
DAGS_FOLDER = PROJECT / "dags"
SMALL_REGISTRY = Path(__file__).resolve().parent / "data" / "registry"


@pytest.fixture(scope="session")
def airflow_home(tmp_path_factory: pytest.TempPathFactory):
    home = tmp_path_factory.mktemp("airflow_home")
    env = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "HER2AUDIT_SCHEDULE": "",  # the DAG's own default, whatever the caller's shell says
    }
    if "airflow.configuration" in sys.modules:
        pytest.fail("Airflow was imported before the test AIRFLOW_HOME was set up")
    with pytest.MonkeyPatch.context() as mp:
        for name, value in env.items():
            mp.setenv(name, value)
        for name in ("HER2AUDIT_REGISTRY", "HER2AUDIT_DB", "HER2AUDIT_REPORTS",
                     "HER2AUDIT_MAX_ACTIVE_RUNS", "HER2AUDIT_RULEBOOKS", "HER2AUDIT_QUEUE",
                     "AIRFLOW_VAR_HER2AUDIT_SCHEDULE"):
            mp.delenv(name, raising=False)
        subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True,
                       env=os.environ.copy(), stdout=subprocess.DEVNULL)
        yield home


@pytest.fixture(scope="session")
def dagbag(airflow_home):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_FOLDER))


@pytest.fixture(scope="session")
def audit_dag(dagbag):
    return dagbag.get_dag("her2_registry_audit")


@pytest.fixture
def small_registry(tmp_path: Path) -> Path:
    """A writable copy of tests/dags/data/registry (60 patients, 2 quarantined rows)."""
    return Path(shutil.copytree(SMALL_REGISTRY, tmp_path / "registry"))
