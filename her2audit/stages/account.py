"""Stage `account`: what became of every input row (`build.row_dispositions`: used,
quarantined or out of scope, with the reason), and the output checks on the tables about to
be published (a critical failure publishes nothing). SQL in `sql/80_account/`.

It runs as its own stage so that `publish` is only a rename; `publish` runs it itself when a
pipeline left it out (`ensure`).
"""

from __future__ import annotations

import duckdb

from her2audit import warehouse
from her2audit.context import RunContext
from her2audit.stages.validate import RESULTS, check_outputs, prepare_output_checks
from her2audit.stages.validate.suites import load_suites

SQL_STAGE = "80_account"

# DuckDB's memory for the row-disposition step over every treatment row (spills beyond it).
MEMORY_LIMIT = "1500MB"

# What the row-disposition step needs; a partial run (extract only) publishes without it.
DISPOSITION_INPUTS = {("build", "patients"), ("staging", "line_starts"),
                      ("staging", "line_duplicate_groups")}


def record_row_dispositions(con: duckdb.DuckDBPyConnection) -> None:
    """`build.row_dispositions`: every input row used, quarantined or out of scope, with
    the reason; fails the run if any table's rows do not add up."""
    present = {(s, t) for s in ("build", "staging") for t in warehouse.table_names(con, s)}
    if not DISPOSITION_INPUTS.issubset(present):
        return
    with warehouse.settings(con, memory_limit=MEMORY_LIMIT, preserve_insertion_order=False):
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
    prepare_output_checks(ctx)
    record_row_dispositions(ctx.con)
    check_outputs(ctx)


def done(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether this run's build already holds the row dispositions and output checks."""
    built = set(warehouse.table_names(con, warehouse.BUILD))
    if RESULTS not in built:
        return False
    if "row_dispositions" not in built and DISPOSITION_INPUTS.issubset(
            {(s, t) for s in ("build", "staging") for t in warehouse.table_names(con, s)}):
        return False
    suites = [s.name for s in load_suites(stage="publish")]
    return bool(con.execute(
        f"select count(*) from {warehouse.BUILD}.{RESULTS} where list_contains(?, suite)",
        [suites]).fetchone()[0])


def ensure(ctx: RunContext) -> None:
    """Run the stage unless this run already did (a pipeline without `account`)."""
    if not done(ctx.con):
        run(ctx)
