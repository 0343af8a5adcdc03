"""The audit report: one self-contained HTML file for sharing (`index.html`) and one
internal file for clinical case review (`case_review.html`).

- `run(ctx)`: pipeline stage `report`, renders from the `build` schema of the running
  pipeline into a pending folder that `publish` moves into `ctx.reports_dir` together with
  the run's tables (`her2audit.work_file`).
- `build_from_warehouse(db, reports_dir)`: `her2audit report`, renders from the
  published `audit` schema.

The shareable file holds aggregates (computed in SQL, `report.data`; the one exception is
an example record per quarantine rule, under a pseudonym), with counts
from 1 to 10 suppressed and patient identifiers pseudonymised (`report.privacy`).
"""

from __future__ import annotations

import datetime as dt
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from her2audit import warehouse, work_file
from her2audit.stages.report import case_review, sections
from her2audit.stages.report.data import Source
from her2audit.stages.report.privacy import Pseudonymiser

if TYPE_CHECKING:
    from her2audit.context import RunContext

INDEX = "index.html"
CASE_REVIEW = "case_review.html"


def build_report(
    con: duckdb.DuckDBPyConnection,
    schema: str,
    reports_dir: Path,
    pseudonymiser: Pseudonymiser | None = None,
    generated_at: dt.datetime | None = None,
) -> Path:
    """Render `index.html` and `case_review.html` from `schema` into `reports_dir`;
    returns the path of `index.html`."""
    reports_dir = Path(reports_dir)
    reports_dir.mkdir(parents=True, exist_ok=True)
    src = Source(con, schema)
    pseudonymiser = pseudonymiser or Pseudonymiser.from_env()
    generated_at = generated_at or dt.datetime.now(dt.UTC).replace(microsecond=0, tzinfo=None)
    index = reports_dir / INDEX
    problems: list[str] = []
    _write(index, sections.render_index(src, pseudonymiser, generated_at, problems))
    for problem in problems:
        warnings.warn(f"report section not rendered: {problem}", stacklevel=2)
    review = case_review.render_case_review(src, pseudonymiser, generated_at)
    _write(reports_dir / CASE_REVIEW, review)
    return index


def _write(path: Path, text: str) -> None:
    """Write atomically: a reader never sees half a report, and a failed write (a full
    disk) leaves no temporary file behind."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.filename is None:
            exc.filename = str(path)  # a full disk names the file it could not write
        raise


def build_from_warehouse(db: Path, reports_dir: Path) -> Path:
    """`her2audit report --db FILE --reports DIR`: render from the published `audit` schema."""
    from her2audit.errors import UsageError

    db = Path(db)
    if not db.exists():
        raise UsageError(f"{db}: no such warehouse file")
    try:
        con = warehouse.connect(db, read_only=True)
    except duckdb.Error as exc:
        raise UsageError(f"{db}: cannot open the warehouse ({exc})") from None
    try:
        if not warehouse.table_names(con, warehouse.AUDIT):
            raise UsageError(f"{db}: nothing published yet (schema audit is empty); "
                             "run `her2audit run` first")
        return build_report(con, warehouse.AUDIT, reports_dir)
    finally:
        con.close()


def run(ctx: RunContext) -> None:
    """Pipeline stage `report`: render from this run's `build` tables."""
    if ctx.reports_dir is None:
        ctx.progress("  no reports folder given; report skipped")
        return
    started = time.perf_counter()
    # rendered aside and moved into ctx.reports_dir by `publish`, with the run's tables
    pending = work_file.pending_reports(ctx.reports_dir, ctx.run_id)
    path = build_report(ctx.con, warehouse.BUILD, pending)
    size_mb = path.stat().st_size / 1e6
    ctx.progress(f"  {ctx.reports_dir / INDEX} ({size_mb:.1f} MB) and "
                 f"{ctx.reports_dir / CASE_REVIEW} in {time.perf_counter() - started:.1f} s, "
                 "published with the run")
