"""Stage `publish`: make this run the published one, with its report, in one step.

On a run's work file (`her2audit run`, the DAG) publishing is a rename: the run's row is
appended to `audit.runs`, the work file is checkpointed, closed, fsynced and renamed over the
published warehouse, and the report rendered into `<reports>/.her2audit-pending/` is moved
into place right after (`her2audit.work_file`). Its cost does not grow with the registry.
On a plain file (tests, partial pipelines) `build` is copied to `audit` in one transaction.

The row accounting, output checks and share layer are stages of their own (`account`,
`share`); a pipeline that left them out gets them here, so a published warehouse always has
them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from typing import Any

import duckdb

from her2audit import __version__, dictionary, warehouse, work_file
from her2audit.context import RunContext, run_info
from her2audit.sources.dispatch import display_source
from her2audit.stages import account, share


def run(ctx: RunContext) -> None:
    account.ensure(ctx)
    share.ensure(ctx)
    tables = [t for t in warehouse.table_names(ctx.con, warehouse.BUILD) if t != "run_info"]
    run_row = _run_row(ctx, tables)
    if warehouse.is_work(ctx.con):
        _finish_work_file(ctx.con, run_row)
        db = work_file.publish(ctx.con, ctx.run_id, ctx.reports_dir)
        ctx.progress(f"published run {ctx.run_id}: {len(tables)} tables in {db}")
        return
    warehouse.publish(ctx.con, run_row, tables)
    dictionary.describe(ctx.con)
    work_file.move_reports(ctx.reports_dir, ctx.run_id)
    ctx.progress(f"published {len(tables)} tables to audit (run {ctx.run_id})")


def _run_row(ctx: RunContext, tables: list[str]) -> dict[str, Any]:
    info = run_info(ctx.con)
    row_counts = {name: warehouse.row_count(ctx.con, f"{warehouse.BUILD}.{name}")
                  for name in tables}
    return {
        "run_id": ctx.run_id,
        "started_at": info.get("started_at"),
        "finished_at": dt.datetime.now(dt.UTC).replace(tzinfo=None),
        "status": "published",
        "command": info.get("command"),
        "registry": display_source(ctx.registry),  # a database password never recorded
        "source_fingerprint": info.get("source_fingerprint"),
        # the effective cut-off (given, or derived by the cohort stage), not null
        "parameters": json.dumps({**ctx.params.as_dict(), "data_cutoff": _cutoff(ctx)},
                                 sort_keys=True),
        "guideline_versions": json.dumps(_guideline_versions(ctx.con), sort_keys=True),
        "row_counts": json.dumps(row_counts, sort_keys=True),
        "software_version": __version__,
    }


def _finish_work_file(con: duckdb.DuckDBPyConnection, run_row: dict[str, Any]) -> None:
    """The work file as it is published: the run appended to `audit.runs`; gone what only
    the run needed (`build.run_info`, the data-quality batch views over `build` tables, which
    would point nowhere in the published file)."""
    dangling = con.execute(
        "select schema_name, view_name from duckdb_views() where database_name = 'build' "
        "and not internal and regexp_matches(sql, '\\bbuild\\.')").fetchall()
    con.execute("begin transaction")
    try:
        for schema, view in dangling:
            con.execute(f"drop view {schema}.{view}")
        con.execute(f"drop table if exists {warehouse.BUILD}.run_info")
        warehouse.append_run(con, run_row)
        con.execute("commit")
    except BaseException:
        with contextlib.suppress(duckdb.Error):  # the first error is the one to report
            con.execute("rollback")
        raise


def _cutoff(ctx: RunContext) -> str | None:
    """The cut-off the run used: the cohort stage's (given or derived), else as given."""
    if "data_cutoff" in warehouse.table_names(ctx.con, "staging"):
        return ctx.con.execute("select max(data_cutoff)::varchar from staging.data_cutoff"
                               ).fetchone()[0]
    return ctx.params.as_dict().get("data_cutoff")


def _guideline_versions(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Guideline versions used by the run, if the concordance stage recorded them."""
    if "guideline_versions" not in warehouse.table_names(con, warehouse.BUILD):
        return []
    rows = con.execute("select * from build.guideline_versions order by all").fetchall()
    cols = [d[0] for d in con.description]
    return [
        {c: (v.isoformat() if isinstance(v, dt.date) else v) for c, v in zip(cols, r, strict=True)}
        for r in rows
    ]
