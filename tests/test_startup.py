"""Start-up cost: `her2audit --help` and each stage's process import only what they use.
Checked on `sys.modules` in a fresh interpreter (not timed: a shared machine makes time
flaky)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("duckdb", "pyarrow", "pandas", "numpy", "great_expectations", "airflow", "lifelines",
         "plotly", "scipy", "sqlalchemy", "statsmodels")


def imported_after(code: str) -> list[str]:
    """The heavy top-level packages loaded by running `code` in a new interpreter."""
    probe = (f"import sys\n{code}\nimport json\n"
             f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_importing_the_cli_loads_no_heavy_library():
    assert imported_after("import her2audit.cli") == []


def test_help_loads_no_heavy_library():
    code = ("from her2audit.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "try:\n    main(['run', '--help'])\nexcept SystemExit:\n    pass")
    assert imported_after(code) == []


@pytest.mark.parametrize(("stage", "not_loaded"), [
    ("extract", {"great_expectations", "lifelines", "plotly", "airflow", "pandas"}),
    ("validate", {"great_expectations", "lifelines", "plotly", "airflow"}),
    ("cohort", {"great_expectations", "lifelines", "plotly", "airflow"}),
    ("concordance", {"great_expectations", "lifelines", "plotly", "airflow"}),
    # lifelines and pandas are loaded in the process that fits, started by the stage
    ("outcomes", {"great_expectations", "lifelines", "plotly", "airflow", "pandas"}),
    ("publish", {"great_expectations", "lifelines", "plotly", "airflow"}),
])
def test_a_stage_module_loads_only_what_it_uses(stage, not_loaded):
    """GX is imported when the suites run, not with the module."""
    assert not_loaded.isdisjoint(imported_after(f"import her2audit.stages.{stage}"))


def test_the_network_command_loads_the_statistics_libraries_only_to_merge():
    """`her2audit network` checks paths and packages without SciPy, pandas, lifelines,
    statsmodels or plotly: a refused package fails fast (they load in the steps that use
    them)."""
    loaded = imported_after("import her2audit.network.build, her2audit.network.package")
    assert {"scipy", "pandas", "lifelines", "statsmodels", "plotly", "airflow"}.isdisjoint(
        loaded)
