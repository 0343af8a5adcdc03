"""Faults of the environment are one-line errors (exit 2, no traceback) naming the path,
checked before the pipeline starts wherever they can be, leaving nothing behind."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest

from her2audit import cli, warehouse, work_file
from tests.conftest import MINIMAL_REGISTRY, SMALL_REGISTRY, published_run_id


def run_cli(*argv: str, env_prefix: list[str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*(env_prefix or []), sys.executable, "-m", "her2audit", *argv],
                          capture_output=True, text=True)


def one_line_error(proc: subprocess.CompletedProcess, *needles: str) -> str:
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    message = lines[-1]
    assert message.startswith("her2audit: error: "), proc.stderr
    assert all(n in message for n in needles), message
    return message


# ---- warehouse names ---------------------------------------------------------------------

@pytest.mark.parametrize("name", ["audit.duckdb", "raw.duckdb", "staging.duckdb",
                                  "build.duckdb", "share.duckdb", "Audit.db"])
def test_a_warehouse_named_like_a_schema_is_refused_before_anything_runs(name, tmp_path,
                                                                       registry_factory, capsys):
    db = tmp_path / name
    assert cli.main(["run", "--registry", str(registry_factory()), "--db", str(db),
                     "--reports", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and str(db) in err and "her2audit.duckdb" in err
    assert not db.exists() and not work_file.work_dir(db).exists()
    assert not (tmp_path / "r").exists()


def test_other_names_work_and_readers_query_audit_plainly(copy_published):
    db, _ = copy_published
    assert warehouse.catalog_name(db) == "her2audit"
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("select count(*) from audit.runs").fetchone()[0] >= 1
    con.close()


# ---- paths of the wrong kind, missing ones ------------------------------------------------

def test_reports_naming_an_existing_file(tmp_path, registry_factory):
    reports = tmp_path / "report.html"
    reports.write_text("not a folder")
    proc = run_cli("run", "--registry", str(registry_factory()), "--db", str(tmp_path / "w.duckdb"),
                   "--reports", str(reports))
    one_line_error(proc, str(reports), "is a file")
    assert not (tmp_path / "w.duckdb").exists()


def test_db_naming_a_folder(tmp_path, registry_factory):
    proc = run_cli("run", "--registry", str(registry_factory()), "--db", str(tmp_path),
                   "--reports", str(tmp_path / "r"))
    one_line_error(proc, str(tmp_path), "is a folder")


def test_a_missing_registry_leaves_no_stub_warehouse(tmp_path):
    db = tmp_path / "w.duckdb"
    proc = run_cli("run", "--registry", "/nonexistent", "--db", str(db), "--reports",
                   str(tmp_path / "r"))
    one_line_error(proc, "/nonexistent", "no such folder")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_registry_failing_in_extract_leaves_no_stub_warehouse(tmp_path, registry_factory):
    folder = registry_factory({k: v for k, v in MINIMAL_REGISTRY.items() if k != "diagnoses"})
    db = tmp_path / "out" / "w.duckdb"
    proc = run_cli("run", "--registry", str(folder), "--db", str(db), "--reports",
                   str(tmp_path / "out" / "r"))
    one_line_error(proc, "diagnoses.csv")
    assert not db.exists() and not work_file.work_dir(db).exists()


def test_a_folder_that_cannot_be_made(tmp_path, registry_factory):
    (tmp_path / "plain_file").write_text("x")
    reports = tmp_path / "plain_file" / "reports"
    proc = run_cli("run", "--registry", str(registry_factory()), "--db", str(tmp_path / "w.duckdb"),
                   "--reports", str(reports))
    one_line_error(proc, str(reports), "is a file")


# ---- the data cut-off ---------------------------------------------------------------------

def test_a_data_cutoff_after_the_run_date_is_refused(tmp_path, registry_factory):
    tomorrow = (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=2)).isoformat()
    proc = run_cli("run", "--registry", str(registry_factory()), "--db", str(tmp_path / "w.duckdb"),
                   "--reports", str(tmp_path / "r"), "--data-cutoff", tomorrow)
    one_line_error(proc, tomorrow, "after the run's date")
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "registry0") == []


def test_a_data_cutoff_before_the_first_diagnosis_is_refused(tmp_path, registry_factory):
    db = tmp_path / "w.duckdb"
    proc = run_cli("run", "--registry", str(registry_factory()), "--db", str(db),
                   "--reports", str(tmp_path / "r"), "--data-cutoff", "2019-12-31")
    one_line_error(proc, "2019-12-31", "before the registry's first diagnosis (2020-01-01)")
    assert not db.exists() and not work_file.work_dir(db).exists()


# ---- a warehouse locked by another writer -------------------------------------------------

HOLDER = textwrap.dedent("""
    import sys, duckdb
    con = duckdb.connect(sys.argv[1])  # read-write: the one writer DuckDB allows
    con.execute("create schema if not exists audit")
    print("holding", flush=True)
    sys.stdin.readline()
""")


def test_a_warehouse_locked_by_another_writer_names_its_pid(tmp_path, registry_factory):
    db = tmp_path / "w.duckdb"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(db)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        proc = run_cli("run", "--registry", str(registry_factory()), "--db", str(db),
                       "--reports", str(tmp_path / "r"))
        one_line_error(proc, str(db), "locked by another process", f"PID {holder.pid}")
    finally:
        holder.communicate("done\n", timeout=30)
    assert not work_file.work_dir(db).exists()


def test_a_run_in_progress_is_not_clobbered_by_a_second_one(tmp_path, registry_factory):
    db = tmp_path / "w.duckdb"
    work = work_file.work_path(db)
    work.parent.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(work)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        proc = run_cli("run", "--registry", str(registry_factory()), "--db", str(db),
                       "--reports", str(tmp_path / "r"))
        one_line_error(proc, str(work), f"PID {holder.pid}")
        assert work.exists()  # the other run's file is left alone
    finally:
        holder.communicate("done\n", timeout=30)


# ---- read-only and full disks (a private mount namespace with a small tmpfs) -------------

def _namespace_prefix() -> list[str] | None:
    """`unshare` arguments that give a private mount namespace here, or None."""
    if shutil.which("unshare") is None:
        return None
    for prefix in (["unshare", "-m"], ["unshare", "-Urm"]):
        probe = subprocess.run([*prefix, "true"], capture_output=True)
        if probe.returncode == 0:
            return prefix
    return None


NAMESPACE = _namespace_prefix()
needs_mounts = pytest.mark.skipif(NAMESPACE is None,
                                  reason="no private mount namespace (unshare) to make a "
                                         "read-only or full file system in")


def run_with_tmpfs(mount_point: Path, options: str, *argv: str) -> subprocess.CompletedProcess:
    """`her2audit argv` with a fresh tmpfs (`options`, e.g. "size=1m" or "ro") mounted on
    `mount_point`, visible to that process only."""
    script = (f"mount -t tmpfs -o {options} tmpfs {mount_point} && "
              f"exec {sys.executable} -m her2audit " + " ".join(f"'{a}'" for a in argv))
    return subprocess.run([*NAMESPACE, "sh", "-c", script], capture_output=True, text=True)


@needs_mounts
def test_a_read_only_reports_folder_is_refused_before_the_pipeline(tmp_path, registry_factory):
    mount = tmp_path / "readonly"
    mount.mkdir()
    db = tmp_path / "w.duckdb"
    proc = run_with_tmpfs(mount, "ro", "run", "--registry", str(registry_factory()), "--db",
                          str(db), "--reports", str(mount / "reports"))
    one_line_error(proc, str(mount / "reports"), "Read-only file system")
    assert "[extract]" not in proc.stderr  # refused before the pipeline started
    assert not db.exists() and not work_file.work_dir(db).exists()


@needs_mounts
def test_a_read_only_warehouse_folder_is_refused(tmp_path, registry_factory):
    mount = tmp_path / "readonly"
    mount.mkdir()
    proc = run_with_tmpfs(mount, "ro", "run", "--registry", str(registry_factory()), "--db",
                          str(mount / "w.duckdb"), "--reports", str(tmp_path / "r"))
    one_line_error(proc, str(mount), "Read-only file system")


@needs_mounts
def test_a_full_warehouse_disk_says_so(tmp_path):
    mount = tmp_path / "small"
    mount.mkdir()
    db = mount / "w.duckdb"
    proc = run_with_tmpfs(mount, "size=1m", "run", "--registry", str(SMALL_REGISTRY), "--db",
                          str(db), "--reports", str(tmp_path / "r"))
    message = one_line_error(proc, "No space left on device", str(mount))
    assert "rollback" not in message


@needs_mounts
def test_a_full_reports_disk_leaves_no_temporary_file_and_the_old_report(copy_published,
                                                                         tmp_path):
    db, _ = copy_published
    before = published_run_id(db)
    mount = tmp_path / "small"
    mount.mkdir()
    reports = mount / "reports"
    # the reports folder on a 256 KiB file system: the report (over 1 MB) cannot be written;
    # what the folder holds afterwards is listed before the private mount goes away
    proc = subprocess.run(
        [*NAMESPACE, "sh", "-c",
         f"mount -t tmpfs -o size=256k tmpfs {mount} && "
         f"{sys.executable} -m her2audit run --registry '{SMALL_REGISTRY}' --db '{db}' "
         f"--reports '{reports}'; status=$?; echo left: $(ls -A {reports}) >&2; exit $status"],
        capture_output=True, text=True)
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].strip() == "left:"  # no index.html.tmp, no pending report
    proc.stderr = "\n".join(lines[:-1])
    one_line_error(proc, "No space left on device", str(reports))
    assert published_run_id(db) == before  # the run was not published
    assert not work_file.work_dir(db).exists()
