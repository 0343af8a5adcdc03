"""Packaging: what the wheel carries and where the package finds its files.

An installed wheel reads the SQL, expectation suites, rules and DAG file it carries; a
source checkout or editable install reads the repository's folders. The built wheel gives
a working command line in a fresh environment without Airflow, and installs into an
environment that already holds another Airflow 3 patch release without changing any
installed package, the DAG importing there.

The wheel tests build and install with uv from the package index: slow, and skipped with
the reason when uv or the index cannot be reached.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from her2audit import paths

PROJECT = Path(__file__).resolve().parents[1]
SMALL_REGISTRY = PROJECT / "tests" / "dags" / "data" / "registry"
# An Airflow 3 release other than the one requirements.lock pins (3.3.2).
OTHER_AIRFLOW = os.environ.get("HER2AUDIT_TEST_AIRFLOW_VERSION", "3.3.1")
SOURCES = ("her2audit", "sql", "expectations", "dags", "setup.py", "pyproject.toml",
           "README.md")


def test_a_checkout_reads_the_repository_folders():
    assert paths.SQL_DIR == PROJECT / "sql"
    assert paths.EXPECTATIONS_DIR == PROJECT / "expectations"
    assert paths.DAGS_DIR == PROJECT / "dags"
    assert paths.RULES_DIR == PROJECT / "her2audit" / "rules"


def test_an_installed_package_reads_its_own_copies(tmp_path, monkeypatch):
    installed = tmp_path / "site-packages" / "her2audit"
    (installed / "_sql").mkdir(parents=True)
    monkeypatch.setattr(paths, "PACKAGE_DIR", installed)
    assert paths._resource_dir("_sql", "sql") == installed / "_sql"
    # a copy the package lacks falls back to the checkout's folder
    assert paths._resource_dir("_dags", "dags") == PROJECT / "dags"


# ---- the built wheel ---------------------------------------------------------------

def _run(*args: str | Path, timeout: float = 600, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True,
                          timeout=timeout, **kwargs)


@pytest.fixture(scope="module")
def uv() -> Path:
    found = Path(sys.executable).with_name("uv")
    if not found.exists():
        found = Path(shutil.which("uv") or "")
    if not found.is_file():
        pytest.skip("uv is not installed (make venv installs it)")
    resolved = _run(found, "pip", "compile", "--python-version", "3.11", "--no-header",
                    "-q", "-", input=f"apache-airflow=={OTHER_AIRFLOW}\n", timeout=300)
    if resolved.returncode != 0:
        why = (resolved.stderr.strip().splitlines() or ["no message"])[-1]
        pytest.skip(f"package index unreachable (cannot resolve apache-airflow=="
                    f"{OTHER_AIRFLOW}): {why}")
    return found


@pytest.fixture(scope="module")
def wheel(uv: Path, tmp_path_factory) -> Path:
    """The wheel built from a copy of the sources (the checkout stays untouched)."""
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "source"
    for name in SOURCES:
        path = PROJECT / name
        if path.is_dir():
            shutil.copytree(path, source / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            source.mkdir(exist_ok=True)
            shutil.copy(path, source / name)
    built = _run(uv, "build", "--wheel", "-o", tmp / "dist", source)
    assert built.returncode == 0, built.stderr
    return next((tmp / "dist").glob("her2audit-*.whl"))


def fresh_venv(uv: Path, where: Path) -> Path:
    made = _run(uv, "venv", "-q", "--python", sys.executable, where)
    assert made.returncode == 0, made.stderr
    return where / "bin" / "python"


def install(uv: Path, python: Path, *requirements: str | Path) -> None:
    done = _run(uv, "pip", "install", "-q", "--python", python, *requirements)
    assert done.returncode == 0, done.stderr


def installed_versions(uv: Path, python: Path) -> dict[str, str]:
    """name -> version (or `@ url` for a package installed from a file)."""
    frozen = _run(uv, "pip", "freeze", "--python", python).stdout.splitlines()
    pairs = [line.split("==", 1) if "==" in line else line.split(" ", 1) for line in frozen]
    return {name.strip(): version.strip() for name, version in pairs}


@pytest.mark.slow
def test_the_wheel_carries_everything_the_pipeline_reads(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {
        *(f"her2audit/_sql/{p.relative_to(PROJECT / 'sql')}"
          for p in (PROJECT / "sql").rglob("*.sql")),
        *(f"her2audit/_expectations/{p.name}" for p in (PROJECT / "expectations").glob("*.json")),
        *(f"her2audit/_dags/{p.name}" for p in (PROJECT / "dags").glob("*.py")),
        *(str(p.relative_to(PROJECT)) for p in (PROJECT / "her2audit").rglob("*")
          if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"),
    }
    assert len([n for n in expected if n.endswith(".sql")]) > 40
    assert sorted(expected - names) == []
    assert not [n for n in names if n.startswith(("sql/", "expectations/", "tests/"))]


@pytest.mark.slow
def test_the_wheel_gives_a_working_command_line_without_airflow(uv, wheel, tmp_path):
    python = fresh_venv(uv, tmp_path / "venv")
    install(uv, python, wheel)
    # run outside the checkout, where `python -c` would import its her2audit/ instead
    assert _run(python, "-c", "import airflow", cwd=tmp_path).returncode != 0  # not pulled in
    where = _run(python, "-c", "from her2audit import paths; print(paths.SQL_DIR)",
                 cwd=tmp_path)
    assert "site-packages/her2audit/_sql" in where.stdout, where.stderr

    run = _run(python.parent / "her2audit", "run", "--registry", SMALL_REGISTRY,
               "--db", tmp_path / "out" / "her2audit.duckdb", "--reports",
               tmp_path / "out" / "reports", cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    assert (tmp_path / "out" / "reports" / "index.html").is_file()


DAG_IMPORT = """
import json, sys
import airflow
from airflow.dag_processing.dagbag import DagBag
from her2audit import paths
bag = DagBag(dag_folder=str(paths.DAGS_DIR))
dag = bag.dags.get("her2_registry_audit")
print(json.dumps({"airflow": airflow.__version__, "dags_dir": str(paths.DAGS_DIR),
                  "import_errors": bag.import_errors,
                  "tasks": sorted(dag.task_ids) if dag else []}))
"""


@pytest.mark.slow
def test_the_wheel_joins_an_existing_airflow_without_changing_it(uv, wheel, tmp_path):
    python = fresh_venv(uv, tmp_path / "venv")
    install(uv, python, f"apache-airflow=={OTHER_AIRFLOW}")
    before = installed_versions(uv, python)
    assert before["apache-airflow"] == OTHER_AIRFLOW

    install(uv, python, wheel)
    after = installed_versions(uv, python)
    changed = {name: (version, after.get(name)) for name, version in before.items()
               if after.get(name) != version}
    assert changed == {}
    assert "her2audit" in after

    home = tmp_path / "airflow_home"
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "HER2AUDIT"))},
           "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
           "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}"}
    parsed = _run(python, "-c", DAG_IMPORT, env=env, cwd=tmp_path)
    assert parsed.returncode == 0, parsed.stderr[-2000:]
    result = json.loads(parsed.stdout.strip().splitlines()[-1])
    assert result["airflow"] == OTHER_AIRFLOW
    assert "site-packages/her2audit/_dags" in result["dags_dir"]  # the DAG the wheel ships
    assert result["import_errors"] == {}
    assert result["tasks"] == sorted(["extract", "validate", "cohort", "lines", "concordance",
                                      "outcomes", "report", "publish"])
