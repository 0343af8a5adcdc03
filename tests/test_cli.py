"""The command line: exit statuses and one-line messages (SPEC §9)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from her2audit.cli import main
from tests.conftest import MINIMAL_REGISTRY


def test_bad_arguments_exit_2_with_one_line(capsys):
    assert main(["run", "--registry", "x"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert "--db" in err


def test_unknown_parameter_value_exits_2(capsys, tmp_path, registry_factory):
    assert main(["run", "--registry", str(registry_factory()), "--db", str(tmp_path / "w.db"),
                 "--reports", str(tmp_path), "--data-cutoff", "2024-13-01"]) == 2
    assert "data_cutoff must be a date" in capsys.readouterr().err


def test_unreadable_registry_exits_2_naming_the_file_without_traceback(tmp_path,
                                                                       registry_factory):
    folder = registry_factory({k: v for k, v in MINIMAL_REGISTRY.items() if k != "diagnoses"})
    proc = subprocess.run(
        [sys.executable, "-m", "her2audit", "run", "--registry", str(folder),
         "--db", str(tmp_path / "w.duckdb"), "--reports", str(tmp_path / "r")],
        capture_output=True, text=True,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("her2audit: error: ")
    assert "diagnoses.csv" in last and "required table diagnoses is missing" in last


@pytest.mark.parametrize("argv", [["--version"], ["run", "--help"]])
def test_help_and_version_exit_0(argv):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 0
