"""`her2audit sql`: read-only SQL on the published warehouse without a DuckDB CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import duckdb
import pyarrow.parquet as pq
import pytest

from her2audit import cli, sql_shell


def test_a_query_prints_a_table(published_run, capsys):
    db, _ = published_run
    assert cli.main(["sql", "--db", str(db),
                     "select indicator, numerator from share.quality_indicators "
                     "where site_id = 'all' and period = 'all' order by indicator"]) == 0
    out = capsys.readouterr().out
    assert "indicator" in out and "first_line_thp" in out and "│" in out


def test_max_rows_says_when_rows_are_left_out(published_run, capsys):
    db, _ = published_run
    assert cli.main(["sql", "--db", str(db), "select * from range(30)", "--max-rows", "5"]) == 0
    assert "first 5 rows shown" in capsys.readouterr().out


@pytest.mark.parametrize("fmt", ["csv", "json", "parquet"])
def test_a_result_goes_to_a_file(published_run, tmp_path, fmt):
    db, _ = published_run
    out = tmp_path / f"runs.{fmt}"
    assert cli.main(["sql", "--db", str(db), "select run_id, status from audit.runs",
                     "--format", fmt, "--out", str(out)]) == 0
    if fmt == "csv":
        lines = out.read_text().splitlines()
        assert lines[0] == "run_id,status" and lines[1].endswith(",published")
    elif fmt == "json":
        assert json.loads(out.read_text())[0]["status"] == "published"
    else:
        assert pq.read_table(out).column("status").to_pylist() == ["published"]
    assert not list(tmp_path.glob(".*.tmp"))


def test_csv_to_the_terminal(published_run, capsys):
    db, _ = published_run
    assert cli.main(["sql", "--db", str(db), "select 1 as one", "--format", "csv"]) == 0
    assert capsys.readouterr().out.splitlines() == ["one", "1"]


@pytest.mark.parametrize("argv, needle", [
    (["select * from audit.no_such_table"], "query failed: Catalog Error"),
    (["select 1", "--format", "parquet"], "--format parquet needs --out"),
    (["--format", "csv"], "--format and --out need a QUERY"),
])
def test_unusable_queries_exit_2_with_one_line(published_run, capsys, argv, needle):
    db, _ = published_run
    assert cli.main(["sql", "--db", str(db), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and needle in err


def test_a_missing_warehouse_or_a_folder_exit_2(tmp_path, capsys):
    assert cli.main(["sql", "--db", str(tmp_path / "none.duckdb"), "select 1"]) == 2
    assert "no such warehouse file" in capsys.readouterr().err
    assert cli.main(["sql", "--db", str(tmp_path), "select 1"]) == 2
    assert "is a folder" in capsys.readouterr().err


def test_the_warehouse_is_read_only(published_run, capsys):
    db, _ = published_run
    assert cli.main(["sql", "--db", str(db), "drop table audit.runs"]) == 2
    assert "read-only" in capsys.readouterr().err


def test_the_interactive_prompt_keeps_a_history(published_run, tmp_path):
    db, _ = published_run
    session = ".tables\nselect count(*) as n_runs\nfrom audit.runs;\n.schema audit.runs\n.quit\n"
    proc = subprocess.run([sys.executable, "-m", "her2audit", "sql", "--db", str(db)],
                          input=session, capture_output=True, text=True,
                          env={**os.environ, "XDG_STATE_HOME": str(tmp_path / "state")})
    assert proc.returncode == 0, proc.stderr
    assert "quality_indicators" in proc.stdout  # .tables
    assert "n_runs" in proc.stdout              # the two-line statement ran
    assert "source_fingerprint" in proc.stdout and "SHA-256" in proc.stdout  # .schema
    assert sql_shell.history_file().name == "sql_history"


def test_the_prompt_reconnects_after_a_run_publishes(copy_published, tmp_path, capsys):
    db, _ = copy_published
    shell = sql_shell.Shell(db)
    try:
        shell.onecmd("select count(*) as runs_seen from audit.runs;")
        first = capsys.readouterr().out
        # a "run" publishes: another file is renamed over the warehouse
        newer = tmp_path / "newer.duckdb"
        shutil.copy(db, newer)
        con = duckdb.connect(str(newer))
        con.execute("insert into audit.runs (run_id, status) values ('later-run', 'published')")
        con.close()
        os.replace(newer, db)
        shell.onecmd("select count(*) as runs_seen from audit.runs;")
        second = capsys.readouterr().out
    finally:
        shell.close()
    assert "reconnected" in second
    count = lambda text: int(text.split("│")[-2].strip())  # noqa: E731
    assert count(second) == count(first) + 1
