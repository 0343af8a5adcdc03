"""A run's work file, and publishing it by renaming it over the published warehouse.

Readers (dashboards, notebooks, BI tools, `her2audit sql`) open the *published* file,
e.g. `her2audit.duckdb`, read-only. A run never writes that file:

- it builds in its own work file, `<db>.work/run.duckdb`, opened as the DuckDB catalog
  `build` with `build.audit` as the default schema, so the stages' `build.<table>` are
  the work file's `audit.<table>`: nothing is copied at publish time;
- the append-only tables (`audit.runs`, `audit.data_quality_results_history`) are carried
  over from the published file (read-only, a shared lock that readers hold too) when the
  work file is made, and from an unpublished earlier work file (a run the gate stopped);
- publishing checkpoints and closes the work file, fsyncs it and renames it over the
  published file (`os.replace`, atomic). Open readers keep the snapshot they opened (on
  Linux an open file survives the rename); readers that connect afterwards see the new run;
- the report is rendered into `<reports>/.her2audit-pending/` and moved into place right
  after the rename. A journal (`<db>.work/publish.json`, written before the rename) lets
  the next run finish that move if the process died between the two (`recover`); a run
  that dies before the rename leaves the previous warehouse and report.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path

import duckdb

from her2audit import warehouse
from her2audit.errors import UsageError

WORK_SUFFIX = ".work"
WORK_FILE = "run.duckdb"
JOURNAL = "publish.json"
SPILL = "spill"
PENDING_REPORTS = ".her2audit-pending"
PENDING_MARK = "RUN_ID"
WORK_SCHEMAS = ("raw", "staging", warehouse.AUDIT, warehouse.SHARE)


def work_dir(db: Path) -> Path:
    return Path(db).with_name(Path(db).name + WORK_SUFFIX)


def work_path(db: Path) -> Path:
    return work_dir(db) / WORK_FILE


def published_path(con: duckdb.DuckDBPyConnection) -> Path:
    """The published warehouse of the work file `con` is open on."""
    path = con.execute(
        "select path from duckdb_databases() where database_name = 'build'").fetchone()[0]
    folder = Path(path).parent
    return folder.with_name(folder.name[: -len(WORK_SUFFIX)])


def _attach(path: Path, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    try:
        con.execute("set enable_progress_bar = false")
        con.execute("set temp_directory = ?", [str(path.parent / SPILL)])
        con.execute(warehouse.NO_ROW_GROUP_VACUUM)
        mode = " (read_only)" if read_only else ""
        con.execute(f"attach '{_quoted(path)}' as build{mode}")
        con.execute(f"use build.{warehouse.AUDIT}")
    except BaseException:
        con.close()
        raise
    return con


def _quoted(path: Path) -> str:
    return str(path).replace("'", "''")


def open_work(db: Path, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the work file of the run in progress on `db` (an Airflow task, a stage run in
    its own process, a look at a run the gate stopped)."""
    path = work_path(db)
    if not path.is_file():
        raise UsageError(f"{db}: no run in progress (no work file {path}); start one with "
                         "`her2audit run` or the DAG's extract task")
    return _attach(path, read_only)


def create(db: Path, reports_dir: Path | None = None) -> duckdb.DuckDBPyConnection:
    """A fresh work file for a new run on `db`, with the append-only tables carried over;
    returns a connection open on it. Finishes a publication a killed run left half done and
    drops a killed run's unpublished report first. Refuses (exit 2) when another process
    writes the work file or the published file."""
    db = Path(db)
    recover(db)
    folder = work_dir(db)
    carried_history = _unpublished_history(db)
    if folder.exists():
        shutil.rmtree(folder)
    discard_pending(reports_dir)
    folder.mkdir(parents=True)
    try:
        con = _attach_new(folder / WORK_FILE)
        try:
            _carry_over(con, db, carried_history)
        except BaseException:
            con.close()
            raise
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)  # e.g. the published file locked by a writer
        raise
    return con


def _attach_new(path: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(f"attach '{_quoted(path)}' as build")
    for schema in WORK_SCHEMAS:
        con.execute(f"create schema build.{schema}")
    con.close()
    return _attach(path)


def _unpublished_history(db: Path):
    """History rows of an earlier work file that was never published (a run the gate
    stopped): they belong in the append-only history too. None when there is none."""
    path = work_path(db)
    if not path.is_file():
        return None
    # read-write, so a run still working in that file is found out (its lock) rather
    # than having its file removed from under it
    try:
        con = _attach(path)
    except duckdb.Error as exc:
        from her2audit import environment

        fault = environment.fault_from(exc, db)
        if fault is not None:
            raise fault from None
        return None  # an unreadable leftover of a crashed run: nothing to keep
    try:
        if "data_quality_results_history" not in warehouse.table_names(con, warehouse.AUDIT):
            return None
        return con.sql("select * from audit.data_quality_results_history").to_arrow_table()
    except duckdb.Error:
        return None  # an unreadable leftover of a crashed run: nothing to keep
    finally:
        con.close()


def _carry_over(con: duckdb.DuckDBPyConnection, db: Path, unpublished_history) -> None:
    con.execute(warehouse.RUNS_DDL)
    if db.exists():
        try:
            con.execute(f"attach '{_quoted(db)}' as published (read_only)")
        except duckdb.Error as exc:
            from her2audit import environment

            raise environment.fault_from(exc, db) or exc from None
        try:
            published = set(con.execute(
                "select table_name from information_schema.tables "
                "where table_catalog = 'published' and table_schema = ?",
                [warehouse.AUDIT]).fetchall())
            published = {r[0] for r in published}
            if "runs" in published:
                _insert_by_name(con, "published.audit.runs", "audit.runs")
            if "data_quality_results_history" in published:
                con.execute("create table audit.data_quality_results_history as "
                            "select * from published.audit.data_quality_results_history")
        finally:
            con.execute("detach published")
    if unpublished_history is not None and unpublished_history.num_rows:
        con.register("unpublished_history", unpublished_history)
        try:
            if "data_quality_results_history" in warehouse.table_names(con, warehouse.AUDIT):
                con.execute(
                    "insert into audit.data_quality_results_history by name "
                    "select * from unpublished_history where run_id not in "
                    "(select run_id from audit.data_quality_results_history)")
            else:
                con.execute("create table audit.data_quality_results_history as "
                            "select * from unpublished_history")
        finally:
            con.unregister("unpublished_history")


def _insert_by_name(con: duckdb.DuckDBPyConnection, source: str, target: str) -> None:
    """Copy rows by column name (an older table's columns: those the target still has)."""
    target_cols = set(warehouse.column_names(con, target))
    catalog, schema, table = source.split(".")
    source_cols = [r[0] for r in con.execute(
        "select column_name from information_schema.columns where table_catalog = ? "
        "and table_schema = ? and table_name = ? order by ordinal_position",
        [catalog, schema, table]).fetchall()]
    cols = ", ".join(c for c in source_cols if c in target_cols)
    con.execute(f"insert into {target} ({cols}) select {cols} from {source}")


# ---- the report of the run ---------------------------------------------------------

def pending_reports(reports_dir: Path, run_id: str) -> Path:
    """An empty folder for this run's report, moved into `reports_dir` at publish."""
    pending = Path(reports_dir) / PENDING_REPORTS
    if pending.exists():
        shutil.rmtree(pending)
    pending.mkdir(parents=True)
    (pending / PENDING_MARK).write_text(run_id)
    return pending


def _pending_for(reports_dir: Path | None, run_id: str) -> Path | None:
    if reports_dir is None:
        return None
    pending = Path(reports_dir) / PENDING_REPORTS
    mark = pending / PENDING_MARK
    if mark.is_file() and mark.read_text() == run_id:
        return pending
    return None


def discard_pending(reports_dir: Path | None) -> None:
    """Remove an unpublished report (a failed run's)."""
    if reports_dir is not None:
        shutil.rmtree(Path(reports_dir) / PENDING_REPORTS, ignore_errors=True)


def move_reports(reports_dir: Path | None, run_id: str) -> list[Path]:
    """Move this run's pending report files into `reports_dir` (each an atomic rename)."""
    pending = _pending_for(reports_dir, run_id)
    if pending is None:
        return []
    moved = []
    for path in sorted(pending.iterdir()):
        if path.name != PENDING_MARK:
            target = Path(reports_dir) / path.name
            os.replace(path, target)
            moved.append(target)
    _fsync_dir(Path(reports_dir))
    shutil.rmtree(pending, ignore_errors=True)
    return moved


# ---- publishing --------------------------------------------------------------------

def publish(con: duckdb.DuckDBPyConnection, run_id: str, reports_dir: Path | None) -> Path:
    """Close the work file `con` is open on and rename it over the published warehouse,
    then move the run's report into place. Returns the published path. `con` is left
    open on nothing (the caller closes it)."""
    db = published_path(con)
    work = work_path(db)
    journal = work_dir(db) / JOURNAL
    _write_synced(journal, json.dumps({
        "run_id": run_id, "db": str(db),
        "reports": str(reports_dir) if reports_dir is not None else None,
    }))
    con.execute("checkpoint build")
    con.execute("use memory")
    con.execute("detach build")
    if work.with_name(work.name + ".wal").exists():
        raise RuntimeError(f"{work}: write-ahead log left after checkpoint; not published")
    _fsync(work)
    os.replace(work, db)
    _fsync_dir(db.parent)
    move_reports(reports_dir, run_id)
    journal.unlink()
    shutil.rmtree(work_dir(db), ignore_errors=True)
    return db


def recover(db: Path) -> None:
    """Finish or forget a publication a killed process left half done: if the published
    warehouse already holds the journal's run, move that run's report into place;
    otherwise the rename never happened and the pending report is dropped."""
    journal = work_dir(db) / JOURNAL
    if not journal.is_file():
        return
    try:
        entry = json.loads(journal.read_text())
    except (OSError, ValueError):
        journal.unlink(missing_ok=True)
        return
    reports = Path(entry["reports"]) if entry.get("reports") else None
    if _published_run_ids(Path(db)) & {entry["run_id"]}:
        move_reports(reports, entry["run_id"])
    else:
        discard_pending(reports)
    journal.unlink(missing_ok=True)


def _published_run_ids(db: Path) -> set[str]:
    if not db.is_file():
        return set()
    try:
        con = duckdb.connect(str(db), read_only=True)
    except duckdb.Error as exc:
        from her2audit import environment

        raise environment.fault_from(exc, db) or exc from None
    try:
        if "runs" not in warehouse.table_names(con, warehouse.AUDIT):
            return set()
        return {r[0] for r in con.execute("select run_id from audit.runs").fetchall()}
    finally:
        con.close()


def discard(db: Path) -> None:
    """Remove the work folder of a run that failed before it had anything worth keeping
    (no stub warehouse, no half-written file left behind)."""
    with contextlib.suppress(OSError):
        shutil.rmtree(work_dir(db))


def _write_synced(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not every file system syncs a folder
        _fsync(folder)
