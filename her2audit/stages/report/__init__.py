"""The audit report: one self-contained HTML file for sharing (`index.html`) and one
internal file for clinical case review (`case_review.html`).

- `run(ctx)`: pipeline stage `report`, renders from the `build` schema of the running
  pipeline into a pending folder that `publish` moves into `ctx.reports_dir` together with
  the run's tables (`her2audit.work_file`).
- `build_from_warehouse(db, reports_dir, site=None)`: `her2audit report`, renders from the
  published `audit` schema; with a site, that site's report against the others
  (`site-<SITE>.html`).

Python prepares the data of each section (a module per section); the page is laid out by
the Jinja2 templates in `templates/` (words and colours in `wording.yaml`).

The shareable file holds aggregates only (computed in SQL, `report.data`), with counts
from 1 to 10 suppressed (`report.privacy`) and no value of an input row: examples of
quarantined rows go to the internal case-review file.
"""

from __future__ import annotations

import datetime as dt
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from her2audit import warehouse, work_file
from her2audit.stages.report import case_review, data, pages
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
    _write(index, pages.render_index(src, pseudonymiser, generated_at, problems))
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


def site_file(site: str) -> str:
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in site)
    return f"site-{safe}.html"


def build_site_report(con: duckdb.DuckDBPyConnection, schema: str, reports_dir: Path,
                      site: str, generated_at: dt.datetime | None = None) -> Path:
    """Render one site's report against the others into `reports_dir`; returns its path."""
    from her2audit.errors import UsageError

    src = Source(con, schema)
    known = data.site_ids(src)
    if site not in known:
        raise UsageError(f"--site {site}: no such site in the warehouse; sites: "
                         f"{', '.join(known) or 'none'}")
    reports_dir = Path(reports_dir)
    reports_dir.mkdir(parents=True, exist_ok=True)
    generated_at = generated_at or dt.datetime.now(dt.UTC).replace(microsecond=0, tzinfo=None)
    problems: list[str] = []
    path = reports_dir / site_file(site)
    _write(path, pages.render_site(src, site, generated_at, problems))
    for problem in problems:
        warnings.warn(f"report section not rendered: {problem}", stacklevel=2)
    return path


def build_from_warehouse(db: Path, reports_dir: Path, site: str | None = None) -> Path:
    """`her2audit report --db FILE --reports DIR [--site S]`: render from the published
    `audit` schema (the whole report, or one site's report with `site`)."""
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
        if site is not None:
            return build_site_report(con, warehouse.AUDIT, reports_dir, site)
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
