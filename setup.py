"""Which files the wheel carries (the project's metadata is in pyproject.toml).

The pipeline reads SQL (`sql/`) and expectation suites (`expectations/`) at run time. They
stay at the top of the repository, beside the code that runs them, and ship inside the
package as `her2audit/_sql/` and `her2audit/_expectations/`; `her2audit.paths` finds them
in either place. The rule files (`her2audit/rules/`) are package data of `her2audit`.
The Airflow DAG file (`dags/`) ships as `her2audit/_dags/` for a deployment to copy into
its DAGs folder (docs/deployment.md).
"""

from setuptools import find_packages, setup

RESOURCE_PACKAGES = {
    "her2audit._sql": "sql",
    "her2audit._expectations": "expectations",
    "her2audit._dags": "dags",
}

setup(
    packages=[*find_packages(include=["her2audit", "her2audit.*"]), *RESOURCE_PACKAGES],
    package_dir=RESOURCE_PACKAGES,
    package_data={
        "her2audit": ["rules/*.yaml", "rules/*.json", "rules/**/*.yaml", "synth/README.md",
                      "stages/report/wording.yaml", "stages/report/templates/**/*",
                      "network/*.yaml", "network/templates/*"],
        "her2audit._sql": ["**/*.sql"],
        "her2audit._expectations": ["*.json"],
        "her2audit._dags": ["*.py"],
    },
)
