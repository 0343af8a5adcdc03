"""The command line: exit statuses, one-line messages, help that explains every option."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from her2audit import cli
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


def _options():
    parser = cli.build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, sub in subparsers.choices.items():
        for action in sub._actions:
            if action.option_strings and action.dest != "help":
                yield name, action


@pytest.mark.parametrize(("command", "action"), list(_options()),
                         ids=lambda v: v if isinstance(v, str) else v.option_strings[-1])
def test_every_option_says_what_it_does(command, action):
    assert action.help and len(action.help) > 10, f"{command} {action.option_strings} has no help"


def test_every_subcommand_shows_examples(capsys):
    parser = cli.build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, sub in subparsers.choices.items():
        assert "examples:" in sub.format_help(), name
        assert f"her2audit {name}" in sub.format_help(), name


def test_defaults_are_shown_in_help():
    text = cli.build_parser()._subparsers._group_actions[0].choices["demo"].format_help()
    assert "(default: 2000)" in text
    run_help = cli.build_parser()._subparsers._group_actions[0].choices["run"].format_help()
    assert "(rule default: 120)" in " ".join(run_help.split())


def test_a_misspelt_option_is_named_as_unknown_with_a_suggestion(capsys):
    status = main(["run", "--registy", "x", "--db", "y.duckdb", "--reports", "r"])
    err = capsys.readouterr().err.strip()
    assert status == 2
    assert len(err.splitlines()) == 1
    assert "unknown option --registy; did you mean --registry?" in err
    assert "required" not in err


def test_an_abbreviated_option_is_not_taken_for_the_full_one(capsys):
    assert main(["demo", "--pat", "10"]) == 2
    assert "unknown option --pat" in capsys.readouterr().err
