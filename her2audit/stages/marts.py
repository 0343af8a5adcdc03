"""Stage `marts`: the dashboard marts `concordance_by_line`, `concordance_by_site` and
`concordance_by_year` (SQL in `sql/70_marts/`), plus funnel-plot control limits for each
site (exact binomial limits, `her2audit.proportions`).

The marts carry real counts (the warehouse is internal); small-cell suppression is
applied when a shareable report is rendered from them.
"""

from __future__ import annotations

from her2audit import proportions, warehouse
from her2audit.context import RunContext

SQL_STAGE = "70_marts"
MART_TABLES = ("concordance_by_line", "concordance_by_site", "concordance_by_year")
REQUIRED_INPUTS = ("line_concordance", "lines_of_therapy", "patients")


def add_funnel_limits(con, table: str = "build.concordance_by_site") -> None:
    """Add `lower_95`, `upper_95`, `lower_998`, `upper_998` and `funnel_position` to a
    site mart (computed on the site-level rows only: a few hundred at most)."""
    proportions.add_funnel_columns(
        con, table, keys=("site_id", "line"), n="n_evaluable", p0="expected_rate",
        rate="concordance_rate", order_by="base.line_order, base.site_id")


def run(ctx: RunContext) -> None:
    present = set(warehouse.table_names(ctx.con, warehouse.BUILD))
    missing = [t for t in REQUIRED_INPUTS if t not in present]
    if missing:
        ctx.progress(
            "  marts skipped: this run has no build." + ", build.".join(missing)
            + " (the stages that write them are not in the pipeline)"
        )
        return
    warehouse.run_sql_stage(ctx.con, SQL_STAGE)
    add_funnel_limits(ctx.con)
    for name in MART_TABLES:
        n = warehouse.row_count(ctx.con, f"{warehouse.BUILD}.{name}")
        ctx.progress(f"  build.{name}: {n:,} rows")
