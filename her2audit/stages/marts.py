"""Stage `marts`: the dashboard marts `concordance_by_line`, `concordance_by_site` and
`concordance_by_year` (SQL in `sql/70_marts/`), plus funnel-plot control limits for each
site (exact binomial limits, `her2audit.proportions`).

The marts carry real counts (the warehouse is internal); small-cell suppression is
applied when a shareable report is rendered from them.
"""

from __future__ import annotations

import numpy as np

from her2audit import proportions, warehouse
from her2audit.context import RunContext

SQL_STAGE = "70_marts"
MART_TABLES = ("concordance_by_line", "concordance_by_site", "concordance_by_year")
REQUIRED_INPUTS = ("line_concordance", "lines_of_therapy", "patients")


def add_funnel_limits(con, table: str = "build.concordance_by_site") -> None:
    """Add `lower_95`, `upper_95`, `lower_998`, `upper_998` and `funnel_position` to a
    site mart (computed on the site-level rows only: a few hundred at most)."""
    # numpy in and out (DuckDB's fetchnumpy and its scan of a dict of arrays): building
    # Arrow arrays from Python would import pandas, a fifth of this stage's time
    sites = con.sql(
        f"select site_id, line, n_evaluable, concordance_rate, expected_rate from {table}"
    ).fetchnumpy()

    def floats(name: str) -> np.ndarray:
        return np.ma.filled(np.ma.asarray(sites[name], dtype=float), np.nan)

    limits = proportions.funnel_limits(floats("n_evaluable"), floats("expected_rate"))
    position = proportions.funnel_position(floats("concordance_rate"), limits)
    extra = {
        "site_id": sites["site_id"],
        "line": sites["line"],
        **limits,  # DuckDB reads a NaN (no limit) as null
        "funnel_position": np.asarray(position, dtype=object),
    }
    typed = ", ".join([*(f"limits.{name}::double as {name}" for name in limits),
                       "limits.funnel_position::varchar as funnel_position"])
    con.register("_funnel_limits", extra)
    try:
        con.execute(
            f"""
            create or replace table {table} as
            select mart.*, {typed}
            from {table} as mart
            left join _funnel_limits as limits using (site_id, line)
            order by mart.line_order, mart.site_id
            """
        )
    finally:
        con.unregister("_funnel_limits")


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
