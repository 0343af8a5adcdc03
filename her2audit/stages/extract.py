"""Stage `extract`: land the registry in `raw`, type and check it into `staging`, and
quarantine the rows that break row-level rules (`build.quarantine`)."""

from __future__ import annotations

import datetime as dt
import os

from her2audit import vocabulary, warehouse
from her2audit.context import RunContext, run_info
from her2audit.sources.dispatch import land_registry
from her2audit.sources.schema import load_allowed_values

# DuckDB's own memory during extract; beyond it, DuckDB spills to disk (a 100,000-patient
# registry of 11 million rows stays under 2 GiB resident, a few seconds slower than unbounded).
MEMORY_LIMIT = os.environ.get("HER2AUDIT_EXTRACT_MEMORY_LIMIT", "1500MB")


# No automatic checkpoint while extract writes its tables: DuckDB would otherwise write
# the database file out again after each large table (about 5 s of CPU each at 100,000
# patients); one checkpoint at the end writes everything once.
CHECKPOINT_THRESHOLD = "16GB"

# The staged tables are keyed (source file and row number), never read in storage order, so
# DuckDB may write them in whatever order its threads finish (landing a CSV keeps file order
# on its own, for the line numbers): about a third off the cost of writing 10 M rows.


def run(ctx: RunContext) -> None:
    with warehouse.settings(ctx.con, memory_limit=MEMORY_LIMIT,
                            checkpoint_threshold=CHECKPOINT_THRESHOLD,
                            preserve_insertion_order=False):
        _extract(ctx)
        ctx.con.execute("checkpoint")


def latest_valid_date(ctx: RunContext) -> dict[str, object]:
    """The last date a registry date may have: the data cut-off when one is given, else the
    run's date (as recorded in `build.run_info`); later dates are "in the future"."""
    if ctx.params.data_cutoff:
        cutoff = ctx.params.data_cutoff
        return {"latest_valid_date": cutoff,
                "latest_valid_date_meaning": f"the data cut-off {cutoff.isoformat()}"}
    started = run_info(ctx.con).get("started_at") or dt.datetime.now(dt.UTC)
    return {"latest_valid_date": started.date(),
            "latest_valid_date_meaning": f"the run date {started.date().isoformat()}"}


def _extract(ctx: RunContext) -> None:
    # staging is rebuilt from scratch by every run (an object may change from table to view)
    ctx.con.execute("drop schema if exists staging cascade")
    ctx.con.execute("create schema staging")
    fingerprint = land_registry(ctx.con, ctx.registry, ctx.progress)
    ctx.con.execute("update build.run_info set source_fingerprint = ?", [fingerprint])
    load_allowed_values(ctx.con)
    warehouse.set_variables(ctx.con, latest_valid_date(ctx))
    warehouse.run_sql_stage(ctx.con, "10_extract/10_staging")
    accounting = ctx.con.execute(
        "select source_table, rows_in, rows_staged, rows_quarantined, balanced, "
        "rows_out_of_scope + rows_combined from build.row_accounting order by source_table"
    ).fetchall()
    for table, rows_in, staged, quarantined, balanced, at_source in accounting:
        ctx.progress(
            f"  {table}: {rows_in:,} rows read, {staged:,} staged, {quarantined:,} quarantined"
            + (f", {at_source:,} out of scope or combined at the source" if at_source else "")
        )
        if not balanced:
            raise RuntimeError(f"row accounting does not balance for {table}")
    vocabulary.map_drugs(ctx)
