"""Where the files the pipeline reads at run time live.

The rule files are package data (`her2audit/rules/`). The SQL, the expectation suites and
the Airflow DAG file stay at the top of the repository (`sql/`, `expectations/`, `dags/`)
and a built wheel carries them inside the package as `her2audit/_sql/`,
`her2audit/_expectations/` and `her2audit/_dags/` (see setup.py). So an installed wheel
reads its own copies, and a source checkout or an editable install (`pip install -e .`),
which has no such copies, reads the repository's folders.
"""

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_DIR = PACKAGE_DIR.parent  # the repository root in a checkout; site-packages when installed


def _resource_dir(packaged: str, checkout: str) -> Path:
    """`her2audit/<packaged>` when installed from a wheel, else `<checkout>` in the repository."""
    inside = PACKAGE_DIR / packaged
    return inside if inside.is_dir() else PROJECT_DIR / checkout


RULES_DIR = PACKAGE_DIR / "rules"
SQL_DIR = _resource_dir("_sql", "sql")
EXPECTATIONS_DIR = _resource_dir("_expectations", "expectations")
DAGS_DIR = _resource_dir("_dags", "dags")  # the Airflow DAG file, for a deployment to copy
