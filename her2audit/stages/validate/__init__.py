"""The data-quality gate (stage `validate`, and the output checks before publishing, in
stage `account`).

Registry suites (`expectations/<table>.json`, `meta.stage = validate`) run right after
extraction on table-level batches built by `sql/20_validate/`; the output suites
(`expectations/audit_*.json`, `meta.stage = publish`) run on the `build` tables just
before they are published (batches from `sql/80_account/output_checks/`).

Every result is written to `build.data_quality_results` (published with the run as
`audit.data_quality_results`) and appended to `audit.data_quality_results_history`, an
append-only log that also keeps the results of runs the gate stopped. A failed
`critical` expectation raises `DataQualityError` naming the failed expectations
(CLI exit 3, failed Airflow task); `warning` failures are recorded and shown. Each failed
expectation is logged (logger `her2audit.stages.validate`: ERROR for critical, WARNING
for warning) with its observed value and a few failing values; the CLI prints these
lines on stderr, an Airflow task log shows them at their level.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa

from her2audit import warehouse
from her2audit.errors import DataQualityError
from her2audit.paths import SQL_DIR
from her2audit.stages.validate import metrics
from her2audit.stages.validate.gx_runner import (
    FAILED,
    Outcome,
    Validator,
    import_in_background,
    not_evaluated,
    read_batch,
)
from her2audit.stages.validate.suites import Expectation, Suite, load_suites

if TYPE_CHECKING:
    from her2audit.context import RunContext

log = logging.getLogger(__name__)

RESULTS = "data_quality_results"
HISTORY = "data_quality_results_history"

RESULT_SCHEMA = pa.schema([
    ("run_id", pa.string()),
    ("suite", pa.string()),
    ("expectation", pa.string()),
    ("expectation_type", pa.string()),
    ("column_name", pa.string()),
    ("severity", pa.string()),
    ("status", pa.string()),
    ("success", pa.bool_()),
    ("observed_value", pa.string()),
    ("unexpected_count", pa.int64()),
    ("unexpected_percent", pa.float64()),
    ("description", pa.string()),
])


def _prepare_validate_inputs(con: duckdb.DuckDBPyConnection) -> None:
    """Optional inputs of the registry batches: the unmapped drug spellings (from extract)."""
    has_mapping = warehouse.has_table(con, "build.unmapped_drugs")
    source = (
        "select regexp_replace(lower(trim(drug)), '\\s+', ' ', 'g') as drug_key "
        "from build.unmapped_drugs" if has_mapping else "select null::varchar as drug_key limit 0"
    )
    con.execute(f"create or replace view staging.dq_unmapped_drug_keys as {source}")
    warehouse.set_variables(con, {"dq_has_drug_mapping": has_mapping})


def _skip(con: duckdb.DuckDBPyConnection, exp: Expectation, non_null: int | None) -> str | None:
    """Why an expectation cannot be evaluated on this build (None: it can)."""
    missing = [t for t in exp.requires if not warehouse.has_table(con, t)]
    if missing:
        return f"not built: {', '.join(missing)}"
    if exp.min_rows and non_null is not None and non_null < exp.min_rows:
        return f"{non_null} rows, fewer than the {exp.min_rows} a rate needs"
    return None


def _counted(outcome: Outcome, metric: metrics.Metric, examples: tuple[str, ...]) -> Outcome:
    """A per-row expectation judged on its share: report DuckDB's counts, as GX would have
    over the whole batch, and a few of the failing values (`examples`)."""
    percent = 100 * metric.unexpected / metric.counted if metric.counted else None
    return dataclasses.replace(
        outcome, observed_value=f"{metric.unexpected} of {metric.counted} values unexpected",
        unexpected_count=metric.unexpected, unexpected_percent=percent, examples=examples,
    )


def _evaluate_suite(
    con: duckdb.DuckDBPyConnection, suite: Suite, validator: Validator
) -> tuple[int, list[Outcome]]:
    """One suite: DuckDB measures, GX judges (metrics.py); returns (batch rows, outcomes)."""
    n_rows, measured = metrics.measure(con, suite.batch, list(suite.expectations))
    whole_batch = [e for e in suite.expectations if e.name not in measured]
    batch = read_batch(con, suite.batch) if whole_batch else None

    def non_null(e: Expectation) -> int | None:
        if e.name in measured:
            return measured[e.name].non_null
        column = e.kwargs.get("column")
        return int(batch[column].notna().sum()) if column in batch else None

    skipped = {e.name: why for e in suite.expectations if (why := _skip(con, e, non_null(e)))}
    on_metrics = [e for e in suite.expectations if e.name in measured and e.name not in skipped]
    on_batch = [e for e in whole_batch if e.name not in skipped]
    results: dict[str, Outcome] = {}
    if on_metrics:
        chosen = {e.name: measured[e.name] for e in on_metrics}
        configs = {
            name: {"type": m.gx_type, "kwargs": m.gx_kwargs,
                   "meta": {"name": name, "severity": "critical"}}
            for name, m in chosen.items()
        }
        for o in validator.validate(suite, on_metrics, metrics.frame(chosen), configs):
            m = chosen[o.expectation.name]
            if m.unexpected is not None:  # judged on a share: the failing values from DuckDB
                examples = (metrics.unexpected_examples(con, suite.batch, o.expectation)
                            if m.unexpected else ())
                o = _counted(o, m, examples)
            results[o.expectation.name] = o
    if on_batch:
        for o in validator.validate(suite, on_batch, batch, name=f"{suite.name}_batch"):
            results[o.expectation.name] = o
    return n_rows, [results.get(e.name) or not_evaluated(suite.name, e, skipped[e.name])
                    for e in suite.expectations]


def runnable_suites(con: duckdb.DuckDBPyConnection, suites: Sequence[Suite]) -> list[Suite]:
    """The suites whose tables this run has built."""
    return [s for s in suites if all(warehouse.has_table(con, t) for t in s.requires)]


def evaluate(
    con: duckdb.DuckDBPyConnection, stage: str, suites: Sequence[Suite] | None = None,
    progress: Callable[[str], None] = lambda m: None,
) -> list[Outcome]:
    """Build the stage's batches and run its suites; returns one outcome per expectation."""
    suites = list(suites) if suites is not None else load_suites(stage=stage)
    runnable = runnable_suites(con, suites)
    if runnable:
        import_in_background()
    if runnable and stage == "validate":
        _prepare_validate_inputs(con)
    ran: set[str] = set()
    for suite in runnable:
        for file in suite.sql:
            if file not in ran:
                warehouse.run_sql_file(con, SQL_DIR / file)
                ran.add(file)
    validator = Validator() if runnable else None
    outcomes: list[Outcome] = []
    for suite in suites:
        if suite not in runnable:
            missing = ", ".join(t for t in suite.requires if not warehouse.has_table(con, t))
            outcomes += [not_evaluated(suite.name, e, f"not built: {missing}")
                         for e in suite.expectations]
            continue
        started = time.perf_counter()
        n_rows, suite_outcomes = _evaluate_suite(con, suite, validator)
        outcomes += suite_outcomes
        progress(f"  suite {suite.name}: {n_rows:,} rows, {len(suite.expectations)} "
                 f"expectations in {time.perf_counter() - started:.1f} s")
    return outcomes


def _as_arrow(run_id: str, outcomes: Sequence[Outcome]) -> pa.Table:
    rows = [
        {
            "run_id": run_id, "suite": o.suite, "expectation": o.expectation.name,
            "expectation_type": o.expectation.type, "column_name": o.expectation.column,
            "severity": o.expectation.severity, "status": o.status, "success": o.success,
            "observed_value": o.observed_value, "unexpected_count": o.unexpected_count,
            "unexpected_percent": o.unexpected_percent,
            "description": o.expectation.description,
        }
        for o in outcomes
    ]
    return pa.Table.from_pylist(rows, schema=RESULT_SCHEMA)


def record(con: duckdb.DuckDBPyConnection, run_id: str, stage: str,
           outcomes: Sequence[Outcome]) -> None:
    """Add outcomes to `build.data_quality_results` and the append-only history."""
    batch = _as_arrow(run_id, outcomes)
    suites = sorted({o.suite for o in outcomes})
    con.register("dq_outcomes", batch)
    try:
        if warehouse.has_table(con, f"{warehouse.BUILD}.{RESULTS}"):
            # a retried task replaces its own suites' rows; columns by name, so a table
            # made by an older or hand-made build keeps its own columns
            target = {r[0] for r in con.execute(f"describe {warehouse.BUILD}.{RESULTS}").fetchall()}
            columns = ", ".join(c for c in RESULT_SCHEMA.names if c in target)
            con.execute(f"delete from {warehouse.BUILD}.{RESULTS} where list_contains(?, suite)",
                        [suites])
            con.execute(f"insert into {warehouse.BUILD}.{RESULTS} by name "
                        f"select {columns} from dq_outcomes")
        else:
            con.execute(f"create table {warehouse.BUILD}.{RESULTS} as select * from dq_outcomes")
        con.execute(
            f"create table if not exists {warehouse.AUDIT}.{HISTORY} as "
            f"select *, null::varchar as stage, null::timestamp as checked_at "
            f"from dq_outcomes limit 0"
        )
        con.execute(
            f"insert into {warehouse.AUDIT}.{HISTORY} select *, ?, ? from dq_outcomes",
            [stage, dt.datetime.now(dt.UTC).replace(tzinfo=None)],
        )
    finally:
        con.unregister("dq_outcomes")


def failure_line(o: Outcome) -> str:
    """One failed expectation: severity, name, observed value, a few failing values."""
    line = f"[{o.expectation.severity}] {o.suite}.{o.expectation.name}: observed {o.observed_value}"
    return line + (f"; failing values e.g. {', '.join(o.examples)}" if o.examples else "")


def gate(outcomes: Sequence[Outcome], progress: Callable[[str], None]) -> None:
    """Log failures; raise DataQualityError if a critical expectation failed."""
    failed = [o for o in outcomes if o.status == FAILED]
    n_skipped = sum(o.success is None for o in outcomes)
    progress(f"  {len(outcomes)} expectations: {len(outcomes) - len(failed) - n_skipped} passed, "
             f"{len(failed)} failed, {n_skipped} not evaluated")
    for o in failed:
        critical = o.expectation.severity == "critical"
        log.log(logging.ERROR if critical else logging.WARNING, "  %s", failure_line(o))
    critical = [o for o in failed if o.expectation.severity == "critical"]
    if critical:
        raise DataQualityError(
            [f"{o.suite}.{o.expectation.name} (observed {o.observed_value}"
             + (f", e.g. {o.examples[0]}" if o.examples else "") + ")" for o in critical]
        )


def _check(ctx: RunContext, stage: str) -> None:
    outcomes = evaluate(ctx.con, stage, progress=ctx.progress)
    record(ctx.con, ctx.run_id, stage, outcomes)
    gate(outcomes, ctx.progress)


def run(ctx: RunContext) -> None:
    """Stage `validate`: registry suites on the staged tables."""
    _check(ctx, "validate")


def prepare_output_checks(ctx: RunContext) -> None:
    """Start importing GX now if the output checks will run, so the import overlaps the
    stage's SQL (the tables they check are built by the earlier stages)."""
    if runnable_suites(ctx.con, load_suites(stage="publish")):
        import_in_background()


def check_outputs(ctx: RunContext) -> None:
    """Before publishing (stage `account`): the output invariants on the `build` tables about
    to be published."""
    _check(ctx, "publish")
