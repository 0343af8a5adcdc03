"""Stage `concordance`: judge every line and every patient's sequence against the guideline
rulebooks (SPEC §6) and compute the quality indicators.

The rulebooks (YAML, `rules/guidelines/`, plus `--rulebooks DIR`) are checked and
flattened into staging tables by `her2audit.guidelines`; the judging is set-based SQL in
`sql/50_concordance/` (lines x matching rules, the most specific rule wins).

Reads `build.lines_of_therapy`, `build.patients`, `staging.metastases`,
`staging.administrations` (which ingredients a patient was given before a line, for
groups listed `if_never_given`), `staging.data_cutoff` (if present). Writes
`build.line_context`, `build.line_concordance`, `build.patient_sequences`,
`build.quality_indicators`, `build.quality_indicator_definitions`,
`build.guideline_versions`, `build.guideline_rules`.

`python -m benchmarks.concordance --bench N` times the stage on N synthetic patients' lines
generated directly in DuckDB (no registry, no line inference).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb

from her2audit import guidelines, warehouse
from her2audit.context import RunContext

SQL_STAGE = "50_concordance"
REQUIRED = ("build.lines_of_therapy", "build.patients", "staging.metastases",
            "staging.administrations")


def data_cutoff(con: duckdb.DuckDBPyConnection) -> dt.date | None:
    """The run's data cut-off: staging.data_cutoff (cohort stage), else the `data_cutoff`
    run variable, else the latest date in the lines and patients tables."""
    if warehouse.has_table(con, "staging.data_cutoff"):
        row = con.execute("select max(data_cutoff) from staging.data_cutoff").fetchone()
        if row and row[0] is not None:
            return row[0]
    given = con.execute("select getvariable('data_cutoff')::date").fetchone()[0]
    if given is not None:
        return given
    return con.execute(
        "select max(d) from (select max(greatest(start_date, end_date)) as d "
        "from build.lines_of_therapy union all "
        "select max(greatest(metastatic_date, death_date)) from build.patients)"
    ).fetchone()[0]


# Steps that record patient sequences and the rulebooks used: not needed to judge lines and
# compute the indicators again (her2audit.sensitivity re-judges many times).
RECORD_STEPS = ("60_", "80_")


def judge(con: duckdb.DuckDBPyConnection, rulebooks_dir: str | Path | None,
          pinned: str | None, books: list[guidelines.Rulebook] | None = None,
          verdicts_only: bool = False) -> list[guidelines.Rulebook]:
    """Load and check the rulebooks (unless `books` are given), then run the concordance
    SQL; with `verdicts_only`, only the steps that write build.line_concordance,
    build.line_context and the quality indicators. Returns the rulebooks."""
    missing = [t for t in REQUIRED if not warehouse.has_table(con, t)]
    if missing:
        raise RuntimeError(
            f"{', '.join(missing)} missing: run the extract, cohort and lines stages first"
        )
    books = books if books is not None else guidelines.load_rulebooks(rulebooks_dir)
    guidelines.write_tables(con, books, pinned)
    warehouse.set_variables(con, {"concordance_data_cutoff": data_cutoff(con)})
    for path in warehouse.sql_files(SQL_STAGE):
        if not (verdicts_only and path.name.startswith(RECORD_STEPS)):
            warehouse.run_sql_file(con, path)
    return books


def run(ctx: RunContext) -> None:
    pinned = ctx.params.guideline
    rulebooks_dir = getattr(ctx.params, "rulebooks", None)
    judge(ctx.con, rulebooks_dir, pinned)
    by_category = dict(
        ctx.con.execute(
            "select category, count(*) from build.line_concordance group by all"
        ).fetchall()
    )
    n_lines = sum(by_category.values())
    used = ctx.con.execute(
        "select guideline_id, n_lines from build.guideline_versions where n_lines > 0 "
        "order by effective_from"
    ).fetchall()
    counts = ", ".join(
        f"{by_category.get(c, 0):,} {c}"
        for c in ("preferred", "alternative", "not_recommended", "trial", "not_evaluable")
    )
    rulebooks = ", ".join(f"{g} ({n:,})" for g, n in used) or "none"
    how = f"pinned to {pinned}" if pinned else "rulebook in force at each line's start"
    ctx.progress(f"  concordance: {n_lines:,} lines judged ({how}): {counts}")
    ctx.progress(f"  rulebooks used: {rulebooks}")
