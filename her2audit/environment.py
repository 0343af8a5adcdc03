"""The run's environment: checked before anything is written, and the faults met on the way
turned into one-line errors (exit 2) that name the path and the real cause.

Checked before a run starts (`check_run`): the warehouse name (`warehouse.check_name`), a
`--db` that is a folder, a `--reports` that is a file, folders that are read-only or
cannot be made, a registry folder that does not exist, a `--data-cutoff` after the run's
date. After extract (`check_data_cutoff_in_registry`): a `--data-cutoff` before the
registry's first diagnosis. On the way (`fault_from`): a warehouse locked by another
process (named with its PID when DuckDB says), a full or read-only disk.
"""

from __future__ import annotations

import datetime as dt
import errno
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from her2audit import warehouse
from her2audit.errors import EnvironmentFault, Her2AuditError, UsageError
from her2audit.parameters import RunParameters

if TYPE_CHECKING:
    from her2audit.context import RunContext

# DuckDB: Could not set lock on file "/x/w.duckdb": Conflicting lock is held in
# /usr/bin/python3.11 (PID 4242) by user me. See also https://duckdb.org/...
_LOCK = re.compile(r'lock on file "(?P<path>[^"]+)": Conflicting lock is held in '
                   r"(?P<program>.+?) \(PID (?P<pid>\d+)\)")
_LOCK_ANY = re.compile(r'lock on file "(?P<path>[^"]+)"')
_QUOTED_PATH = re.compile(r'(?:file|directory) "(?P<path>[^"]+)"')
_OS_FAULTS = {errno.ENOSPC: "No space left on device", errno.EDQUOT: "Disk quota exceeded",
              errno.EROFS: "Read-only file system", errno.EACCES: "Permission denied",
              errno.EPERM: "Operation not permitted"}


def check_run(db: Path, reports: Path | None, registry: str, params: RunParameters,
              today: dt.date | None = None) -> None:
    """Everything about a run's environment that can be known before it starts."""
    from her2audit.sources.dispatch import check_source

    check_warehouse_path(db)
    if reports is not None:
        check_reports_dir(reports)
    check_source(registry)
    check_data_cutoff_not_future(params, today)


def check_warehouse_path(db: Path) -> None:
    db = Path(db)
    warehouse.check_name(db)
    if db.is_dir():
        raise EnvironmentFault(f"{db}: is a folder; --db names the warehouse file, "
                               f"e.g. {db / 'her2audit.duckdb'}")
    if db.exists() and not db.is_file():
        raise EnvironmentFault(f"{db}: is not a regular file; --db names the warehouse file")
    check_writable_folder(db.parent, "the warehouse's folder")


def check_reports_dir(reports: Path) -> None:
    reports = Path(reports)
    if reports.exists() and not reports.is_dir():
        raise EnvironmentFault(f"{reports}: is a file, not a folder; --reports names the folder "
                               "for index.html and case_review.html")
    check_writable_folder(reports, "the reports folder")


def check_writable_folder(folder: Path, what: str) -> None:
    """`folder` exists and takes new files, or can be made (nothing is made here)."""
    folder = Path(folder).absolute()
    existing = folder
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise EnvironmentFault(f"{folder}: cannot be made, {existing} is a file ({what})")
    try:
        with tempfile.NamedTemporaryFile(dir=existing, prefix=".her2audit-probe-"):
            pass
    except OSError as exc:
        cause = _OS_FAULTS.get(exc.errno, exc.strerror or str(exc))
        where = folder if existing == folder else f"{folder} (in {existing})"
        raise EnvironmentFault(f"{where}: {cause}; {what} must be writable") from None


def check_data_cutoff_not_future(params: RunParameters, today: dt.date | None = None) -> None:
    today = today or dt.datetime.now(dt.UTC).date()
    if params.data_cutoff is not None and params.data_cutoff > today:
        raise UsageError(f"--data-cutoff {params.data_cutoff} is after the run's date ({today}): "
                         "follow-up cannot be censored in the future")


def check_data_cutoff_in_registry(ctx: RunContext) -> None:
    """After extract: a cut-off before the registry's first diagnosis leaves nothing to audit."""
    params = ctx.params
    if params.data_cutoff is None:
        return
    first = ctx.con.execute("select min(diagnosis_date) from staging.diagnoses").fetchone()[0]
    if first is not None and params.data_cutoff < first:
        raise UsageError(f"--data-cutoff {params.data_cutoff} is before the registry's first "
                         f"diagnosis ({first}): nothing would be followed up")


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def fault_from(exc: BaseException, db: Path | None = None) -> Her2AuditError | None:
    """The one-line error an environment fault deserves (None: not an environment fault).
    Looks through the exception's causes, so the first fault wins over what it caused
    (e.g. a full disk over the failed rollback after it)."""
    for err in _chain(exc):
        if isinstance(err, Her2AuditError):
            return None
        text = str(err)
        if m := _LOCK.search(text):
            return EnvironmentFault(
                f"{m['path']}: locked by another process (PID {m['pid']}, {m['program']}); "
                "one writer at a time: wait for it to finish")
        if m := _LOCK_ANY.search(text):
            return EnvironmentFault(f"{m['path']}: locked by another process; one writer at a "
                                    "time: wait for it to finish")
        if isinstance(err, OSError) and err.errno in _OS_FAULTS:
            where = err.filename or db or "?"
            return EnvironmentFault(f"{where}: {_OS_FAULTS[err.errno]}")
        for cause in _OS_FAULTS.values():
            if cause in text:
                m = _QUOTED_PATH.search(text)
                where = m["path"] if m else (db or "?")
                return EnvironmentFault(f"{where}: {cause}")
    return None
