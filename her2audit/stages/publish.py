"""Stage `publish`: account for every input row, check the outputs, and publish `build` to
`audit` atomically, recording the run in `audit.runs`. SQL in `sql/90_publish/`."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import duckdb

from her2audit import __version__, warehouse
from her2audit.context import RunContext, run_info
from her2audit.sources.dispatch import display_source
from her2audit.stages.validate import check_outputs

SQL_STAGE = "90_publish"

# DuckDB's memory for the row-disposition joins over every treatment row (spills beyond it).
MEMORY_LIMIT = "1500MB"

# What the row-disposition step needs; a partial run (extract only) publishes without it.
DISPOSITION_INPUTS = {("build", "patients"), ("staging", "line_administrations")}


def record_row_dispositions(con: duckdb.DuckDBPyConnection) -> None:
    """`build.row_dispositions`: every input row used, quarantined or out of scope, with
    the reason; fails the run if any table's rows do not add up."""
    present = {(s, t) for s in ("build", "staging") for t in warehouse.table_names(con, s)}
    if not DISPOSITION_INPUTS.issubset(present):
        return
    warehouse.run_sql_stage(con, SQL_STAGE)
    unbalanced = con.execute(
        """
        select accounting.source_table, accounting.rows_in, sum(d.n_rows)::bigint
        from build.row_accounting as accounting
        left join build.row_dispositions as d using (source_table)
        group by all
        having accounting.rows_in <> coalesce(sum(d.n_rows), 0)
        """
    ).fetchall()
    if unbalanced:
        raise RuntimeError(f"row dispositions do not add up to the rows read: {unbalanced}")


def run(ctx: RunContext) -> None:
    """Publish `build` to `audit` atomically and record the run in `audit.runs`."""
    with warehouse.settings(ctx.con, memory_limit=MEMORY_LIMIT):
        record_row_dispositions(ctx.con)
    check_outputs(ctx)  # output invariants on build.*; a critical failure publishes nothing
    info = run_info(ctx.con)
    row_counts = {
        name: warehouse.row_count(ctx.con, f"{warehouse.BUILD}.{name}")
        for name in warehouse.table_names(ctx.con, warehouse.BUILD)
        if name != "run_info"
    }
    run_row = {
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
    tables = [t for t in warehouse.table_names(ctx.con, warehouse.BUILD) if t != "run_info"]
    warehouse.publish(ctx.con, run_row, tables)
    ctx.progress(f"published {len(tables)} tables to audit (run {ctx.run_id})")


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
