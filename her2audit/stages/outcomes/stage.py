"""The `outcomes` stage: SQL endpoint derivation, then lifelines estimation per group."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import yaml

from her2audit import warehouse
from her2audit.context import RunContext
from her2audit.errors import RuleFileError
from her2audit.paths import RULES_DIR
from her2audit.stages.outcomes import compare, km

SQL_STAGE = "60_outcomes"
SETTINGS_FILE = RULES_DIR / "outcomes.yaml"


@dataclasses.dataclass(frozen=True)
class OutcomeSettings:
    min_group_size: int
    detail_max_line: int
    site_max_line: int
    confidence_level: float
    comparison_lines: tuple[int, ...]
    comparison_endpoints: tuple[str, ...]
    cox_endpoints: tuple[str, ...]
    comparison_excluded_categories: tuple[str, ...]
    adjustment_covariates: tuple[str, ...]
    caveat: str

    @property
    def alpha(self) -> float:
        return 1 - self.confidence_level


def load_settings(path: Path = SETTINGS_FILE) -> OutcomeSettings:
    try:
        raw: dict[str, Any] = yaml.safe_load(path.read_text())
        return OutcomeSettings(
            min_group_size=int(raw["min_group_size"]),
            detail_max_line=int(raw["detail_max_line"]),
            site_max_line=int(raw["site_max_line"]),
            confidence_level=float(raw["confidence_level"]),
            comparison_lines=tuple(int(x) for x in raw["comparison_lines"]),
            comparison_endpoints=tuple(str(x) for x in raw["comparison_endpoints"]),
            cox_endpoints=tuple(str(x) for x in raw["cox_endpoints"]),
            comparison_excluded_categories=tuple(
                str(x) for x in raw["comparison_excluded_categories"]
            ),
            adjustment_covariates=tuple(str(c["column"]) for c in raw["adjustment_covariates"]),
            caveat=" ".join(str(raw["caveat"]).split()),
        )
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError) as exc:
        raise RuleFileError(f"{path}: cannot read outcome settings ({exc})") from None


def write_table(con: duckdb.DuckDBPyConnection, name: str, table: pa.Table) -> None:
    """Create (or replace) `name` from an Arrow table, keeping its column types."""
    view = "_outcomes_arrow"
    con.register(view, table)
    try:
        con.execute(f"create or replace table {name} as select * from {view}")
    finally:
        con.unregister(view)


def estimate_survival(con: duckdb.DuckDBPyConnection, settings: OutcomeSettings) -> None:
    """`build.survival_summary` and `build.survival_curves` from the aggregated input."""
    groups = con.sql(
        "select group_id, endpoint, grouping, group_label, line_number, group_value, n, events "
        "from staging.survival_groups order by group_id"
    ).to_arrow_table()
    observations = con.sql(
        """
        select g.group_id, o.time_days, o.n_events, o.n_censored
        from staging.survival_observations as o
        inner join staging.survival_groups as g
            on o.endpoint = g.endpoint
            and o.grouping = g.grouping
            and o.line_number is not distinct from g.line_number
            and o.group_value is not distinct from g.group_value
        order by g.group_id, o.time_days
        """
    ).to_arrow_table()
    summary, curves = km.estimate_groups(
        groups, observations, settings.min_group_size, settings.alpha
    )
    write_table(con, "build.survival_summary", summary)
    write_table(con, "build.survival_curves", curves)


def compare_survival(con: duckdb.DuckDBPyConnection, settings: OutcomeSettings) -> None:
    """`build.survival_comparisons`: concordant vs not, per endpoint and line."""
    columns = ["line_number", "concordance"]
    for endpoint in settings.comparison_endpoints:
        columns += [f"{endpoint}_days", f"{endpoint}_event"]
    columns += list(settings.adjustment_covariates)
    lines = con.execute(
        f"""
        select {", ".join(dict.fromkeys(columns))}
        from staging.outcome_lines
        where line_number in (select unnest(?::integer[]))
          and not list_contains(?::varchar[], category)
        order by patient_id, line_number
        """,
        [list(settings.comparison_lines), list(settings.comparison_excluded_categories)],
    ).df()
    table = compare.compare_concordance(
        lines,
        settings.comparison_endpoints,
        settings.comparison_lines,
        settings.adjustment_covariates,
        settings.caveat,
        settings.min_group_size,
        settings.alpha,
        settings.cox_endpoints,
    )
    write_table(con, "build.survival_comparisons", table)


UPSTREAM = ("build.lines_of_therapy", "build.line_concordance", "build.patients",
            "staging.data_cutoff")


def missing_upstream(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Upstream tables (lines, concordance, cohort stages) that this run has not built."""
    return [name for name in UPSTREAM if not warehouse.has_table(con, name)]


def run(ctx: RunContext) -> None:
    """Stage entry point (`her2audit.stages.outcomes:run`).

    Runs after `cohort`, `lines` and `concordance`. When the run has not built their
    tables (a pipeline without those stages), it says so and writes nothing.
    """
    missing = missing_upstream(ctx.con)
    if missing:
        ctx.progress(f"  outcomes skipped: {', '.join(missing)} not built in this run")
        return
    settings = load_settings()
    clock = _Clock()
    warehouse.set_variables(ctx.con, {
        "outcomes_detail_max_line": settings.detail_max_line,
        "outcomes_site_max_line": settings.site_max_line,
    })
    warehouse.run_sql_stage(ctx.con, SQL_STAGE)
    derived = clock.lap()
    estimate_survival(ctx.con, settings)
    estimated = clock.lap()
    compare_survival(ctx.con, settings)
    compared = clock.lap()
    n_lines = ctx.con.sql("select count(*) from build.line_outcomes").fetchall()[0][0]
    status = ctx.con.sql(
        "select status, count(*) from build.survival_summary group by status order by status"
    ).fetchall()
    n_curve_rows = ctx.con.sql("select count(*) from build.survival_curves").fetchall()[0][0]
    ctx.progress(
        f"  line outcomes for {n_lines:,} lines in {derived}; "
        f"Kaplan–Meier groups ({', '.join(f'{s}: {n}' for s, n in status)}; "
        f"{n_curve_rows:,} curve rows) in {estimated}; "
        f"log-rank and Cox comparisons in {compared}"
    )


class _Clock:
    """Wall and CPU time of successive steps (CPU time shows the work on a busy machine)."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def lap(self) -> str:
        wall, cpu = time.perf_counter(), time.process_time()
        text = f"{wall - self.wall:.1f} s (CPU {cpu - self.cpu:.1f} s)"
        self.wall, self.cpu = wall, cpu
        return text
