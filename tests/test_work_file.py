"""Readers and the schedule coexist: a run builds in its own work file and publishes by
renaming it over the warehouse, so a reader never blocks a run, is never shut out by one,
and never sees half a run; the report appears with its run's tables, never before them."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest

from her2audit import cli, orchestration, work_file
from tests.conftest import SMALL_REGISTRY, published_run_id, row_groups_after_later_writes

RUN_ID = re.compile(r"\d{8}T\d{6}Z-[0-9a-f]{8}")


def report_run_id(reports: Path) -> str:
    return set(RUN_ID.findall((reports / "index.html").read_text())).pop()


def run_cli(db: Path, reports: Path) -> None:
    assert cli.main(["run", "--registry", str(SMALL_REGISTRY), "--db", str(db),
                     "--reports", str(reports)]) == 0


# A reader process: one read-only connection held across the run, and a poller that opens
# a fresh read-only connection every 50 ms for as long as the run lasts.
READER = textwrap.dedent("""
    import sys, time, duckdb
    db = sys.argv[1]
    def latest(con):
        return con.execute("select run_id from audit.runs order by finished_at desc "
                           "limit 1").fetchone()[0]
    held = duckdb.connect(db, read_only=True)
    print("held", latest(held), flush=True)
    while not sys.stdin.readline().strip() == "stop":
        pass
    print("held", latest(held), flush=True)
    held.close()  # DuckDB keeps one instance per file in a process: close, then reconnect
    fresh = duckdb.connect(db, read_only=True)
    print("fresh", latest(fresh), flush=True)
""")

POLLER = textwrap.dedent("""
    import sys, time, duckdb
    import os
    db, stop = sys.argv[1], sys.argv[2]
    polls = failures = 0
    while not os.path.exists(stop):
        try:
            con = duckdb.connect(db, read_only=True)
            con.execute("select count(*) from audit.runs").fetchone()
            con.close()
        except Exception as exc:
            failures += 1
            print("failed:", str(exc).splitlines()[0], flush=True)
        polls += 1
        time.sleep(0.05)
    print("polls", polls, "failures", failures, flush=True)
""")


def _start(script: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", script, *args], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _watch(db: Path, tmp_path: Path):
    """A reader holding a connection and a poller; returns (reader, poller, stop file)."""
    reader = _start(READER, str(db))
    assert reader.stdout.readline().split()[0] == "held"
    stop = tmp_path / "stop-polling"
    poller = _start(POLLER, str(db), str(stop))
    return reader, poller, stop


def _finish(reader, poller, stop: Path) -> tuple[list[str], str]:
    stop.touch()
    poll_out, poll_err = poller.communicate(timeout=60)
    reader_out, reader_err = reader.communicate("stop\n", timeout=60)
    assert reader.returncode == 0, reader_err
    assert poller.returncode == 0, poll_err
    return reader_out.split(), poll_out


def test_a_reader_keeps_its_snapshot_while_a_run_publishes(copy_published, tmp_path):
    db, reports = copy_published
    before = published_run_id(db)
    reader, poller, stop = _watch(db, tmp_path)
    run_cli(db, reports)  # succeeds although a reader holds the warehouse open
    after = published_run_id(db)
    seen, polls = _finish(reader, poller, stop)
    assert after != before
    # the held connection still sees the old run; a new connection sees the new one
    assert seen == ["held", before, "fresh", after]
    # the poller was never shut out
    assert re.search(r"polls (\d+) failures 0$", polls.strip()), polls
    assert int(polls.split()[1]) > 5
    assert report_run_id(reports) == after
    assert not work_file.work_dir(db).exists()


def test_airflow_tasks_run_while_a_dashboard_polls(copy_published, tmp_path):
    db, reports = copy_published
    before = published_run_id(db)
    reader, poller, stop = _watch(db, tmp_path)
    params = {"registry": str(SMALL_REGISTRY), "db": str(db), "reports": str(reports)}
    run_id = orchestration.start_and_extract(params)
    for task in list(orchestration.TASK_STAGES)[1:]:  # each reopens the work file
        assert orchestration.run_task(task, run_id, db, reports) == run_id
    seen, polls = _finish(reader, poller, stop)
    assert published_run_id(db) == run_id != before
    assert seen == ["held", before, "fresh", run_id]
    assert re.search(r"polls (\d+) failures 0$", polls.strip()), polls
    assert report_run_id(reports) == run_id


def test_append_only_tables_carry_over_and_so_does_a_stopped_runs_history(copy_published):
    db, reports = copy_published
    con = duckdb.connect(str(db), read_only=True)
    runs_before = con.execute("select count(*) from audit.runs").fetchone()[0]
    history_before = con.execute(
        "select count(distinct run_id) from audit.data_quality_results_history").fetchone()[0]
    con.close()
    # a run the gate stops after validate: not published, its history kept in its work file
    params = {"registry": str(SMALL_REGISTRY), "db": str(db), "reports": str(reports)}
    stopped = orchestration.start_and_extract(params)
    orchestration.run_task("validate", stopped, db, reports)
    assert work_file.work_path(db).is_file()
    run_cli(db, reports)  # the next run carries both into the published warehouse
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("select count(*) from audit.runs").fetchone()[0] == runs_before + 1
    histories = {r[0] for r in con.execute(
        "select distinct run_id from audit.data_quality_results_history").fetchall()}
    con.close()
    assert len(histories) == history_before + 2 and stopped in histories


# ---- crash consistency: kill -9 at a few points ----------------------------------------

KILLED_RUN = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from her2audit import cli, work_file
    from her2audit.stages import share
    db, reports, registry, point = sys.argv[1:5]

    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    real_replace = os.replace
    def replace(src, dst):
        src = Path(src)
        if point == "before_warehouse_rename" and src.name == work_file.WORK_FILE:
            die()
        real_replace(src, dst)
        if point == "after_warehouse_rename" and src.name == work_file.WORK_FILE:
            die()
        moved_out = (src.parent.name == work_file.PENDING_REPORTS
                     and Path(dst).parent.name != work_file.PENDING_REPORTS)
        if point == "after_first_report_file" and moved_out:
            die()
    work_file.os.replace = replace

    if point == "in_a_stage":
        share.run = lambda ctx: die()
    real_move = work_file.move_reports
    if point == "before_journal_removed":
        def move(*args):
            real_move(*args)
            die()
        work_file.move_reports = move
    sys.exit(cli.main(["run", "--registry", registry, "--db", db, "--reports", reports]))
""")


@pytest.mark.parametrize("point", ["in_a_stage", "before_warehouse_rename",
                                   "after_warehouse_rename", "after_first_report_file",
                                   "before_journal_removed"])
def test_after_a_kill_the_tables_and_the_report_belong_to_the_same_run(copy_published, point):
    db, reports = copy_published
    before = published_run_id(db)
    assert report_run_id(reports) == before
    proc = subprocess.run([sys.executable, "-c", KILLED_RUN, str(db), str(reports),
                           str(SMALL_REGISTRY), point], capture_output=True, text=True)
    assert proc.returncode == -9, proc.stderr[-2000:]
    tables, report = published_run_id(db), report_run_id(reports)
    if point in ("in_a_stage", "before_warehouse_rename"):
        assert tables == report == before  # nothing of the killed run is published
    else:
        assert tables != before  # the rename happened: the killed run is the published one
    if tables != report:
        # killed between the warehouse's rename and the report's: the journal says so, and
        # the next command that opens the warehouse for writing finishes the move
        assert (work_file.work_dir(db) / work_file.JOURNAL).is_file()
    work_file.recover(db)
    assert published_run_id(db) == report_run_id(reports) == tables
    assert not list(reports.glob("*.tmp"))


@pytest.mark.parametrize("point", ["in_a_stage", "after_warehouse_rename"])
def test_a_run_after_a_crash_starts_clean(copy_published, point):
    db, reports = copy_published
    proc = subprocess.run([sys.executable, "-c", KILLED_RUN, str(db), str(reports),
                           str(SMALL_REGISTRY), point], capture_output=True)
    assert proc.returncode == -9
    run_cli(db, reports)  # finishes or forgets what the killed run left, then runs
    assert published_run_id(db) == report_run_id(reports)
    assert not work_file.work_dir(db).exists()
    assert not (reports / work_file.PENDING_REPORTS).exists()


def test_publish_costs_a_rename(copy_published, monkeypatch):
    """The warehouse is never copied at publish time: the work file itself becomes it."""
    db, reports = copy_published
    renamed = []
    real = work_file.os.replace

    def replace(src, dst):
        renamed.append((Path(src).name, Path(dst).name, Path(src).stat().st_ino))
        real(src, dst)

    monkeypatch.setattr(work_file.os, "replace", replace)
    run_cli(db, reports)
    work = [r for r in renamed if r[0] == work_file.WORK_FILE]
    assert len(work) == 1 and work[0][1] == db.name
    assert db.stat().st_ino == work[0][2]  # the same file, renamed


def test_a_work_file_keeps_its_row_groups_at_checkpoints(tmp_path):
    # Landing a large file leaves part-filled row groups; merging them at the next stage's
    # checkpoint would rewrite most of the table for nothing, so a work file never vacuums.
    db = tmp_path / "her2audit.duckdb"
    work_file.create(db).close()
    assert row_groups_after_later_writes(lambda: work_file.open_work(db)) == 4
