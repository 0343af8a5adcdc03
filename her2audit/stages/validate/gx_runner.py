"""Run expectation suites with Great Expectations Core on pandas frames.

GX's SQL datasource does not work with DuckDB (no DuckDB dialect in the lock; a second
connection to the warehouse file is refused), so GX judges pandas frames: the small metric
frames DuckDB computes for each suite (`metrics.py`), or a whole batch read through Arrow
for an expectation type that has no metric. GX is imported here, inside functions,
because importing it takes seconds; its progress bars and logging are switched off. A
stage that will judge suites starts that import in a thread (`import_in_background`) and
goes on with its DuckDB work, which releases the GIL: at 100,000 patients the import's
≈3 s of CPU then mostly overlaps the SQL instead of following it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import logging
import math
import threading
from typing import Any

import duckdb

from her2audit.stages.validate.suites import Expectation, Suite

PASSED, FAILED, NOT_EVALUATED = "passed", "failed", "not_evaluated"

# Expectations on one aggregate of a column; over zero non-null values they measure nothing.
AGGREGATES = {
    "expect_column_mean_to_be_between",
    "expect_column_median_to_be_between",
    "expect_column_min_to_be_between",
    "expect_column_max_to_be_between",
    "expect_column_stdev_to_be_between",
}


@dataclasses.dataclass(frozen=True)
class Outcome:
    """The result of one expectation on one batch."""

    suite: str
    expectation: Expectation
    status: str  # passed, failed, not_evaluated
    observed_value: str | None
    unexpected_count: int | None
    unexpected_percent: float | None
    examples: tuple[str, ...] = ()  # a few failing values, for logs (never stored)

    @property
    def success(self) -> bool | None:
        return None if self.status == NOT_EVALUATED else self.status == PASSED


def _format(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalar
        value = value.item()
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        # a count aggregated as a double (a sum) reads as the whole number it is
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else f"{value:.6g}"
    if isinstance(value, list | tuple | set):
        return ", ".join(sorted(str(v) for v in value))
    return str(value)


def _examples(values: list | None, limit: int = 3) -> tuple[str, ...]:
    """Up to `limit` distinct failing values, in the order GX listed them."""
    out: list[str] = []
    for value in values or []:
        text = _format(value)
        if text is not None and text not in out:
            out.append(text)
        if len(out) == limit:
            break
    return tuple(out)


def not_evaluated(suite: str, exp: Expectation, why: str) -> Outcome:
    return Outcome(suite, exp, NOT_EVALUATED, why, None, None)


_import_thread: threading.Thread | None = None


def _import_gx() -> None:
    # a failed import is left for Validator's own import to raise, in the stage's thread
    with contextlib.suppress(Exception):
        import great_expectations  # noqa: F401


def import_in_background() -> None:
    """Start importing Great Expectations in a thread, once per process; the first
    `Validator.validate()` waits for it. (Python's per-module import locks let the stage's
    own thread import pandas meanwhile: one of the two waits for the other.)"""
    global _import_thread
    if _import_thread is None:
        _import_thread = threading.Thread(target=_import_gx, name="import-gx", daemon=True)
        _import_thread.start()


def _gx_loggers_follow_their_parent() -> None:
    """GX pins some of its module loggers at INFO when imported; let every one follow the
    `great_expectations` logger's level instead, which the caller sets (Airflow tasks keep
    it at WARNING)."""
    for name, logger in logging.root.manager.loggerDict.items():
        if name.startswith("great_expectations.") and isinstance(logger, logging.Logger):
            logger.setLevel(logging.NOTSET)


class Validator:
    """One ephemeral GX context for a stage; `validate()` runs a suite on a DataFrame. The
    context is made at the first `validate()`, after the stage's first DuckDB measurements,
    while GX may still be importing in the background."""

    def __init__(self) -> None:
        self._gx: Any = None

    def _start(self) -> None:
        import logging

        if _import_thread is not None:
            _import_thread.join()
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        gx_logger = logging.getLogger("great_expectations")
        if gx_logger.level == logging.NOTSET:  # the caller chose no level: errors only
            gx_logger.setLevel(logging.ERROR)
        _gx_loggers_follow_their_parent()
        self.context = gx.get_context(mode="ephemeral")
        self.context.variables.progress_bars = ProgressBarsConfig(globally=False)
        self.datasource = self.context.data_sources.add_pandas("her2audit")
        self._gx = gx

    def validate(self, suite: Suite, expectations: list[Expectation], frame,
                 configs: dict[str, dict[str, Any]] | None = None,
                 name: str | None = None) -> list[Outcome]:
        """Run `expectations` on `frame`; `configs` replaces an expectation's GX config
        (by name), e.g. to judge its metric column instead of the batch column."""
        if self._gx is None:
            self._start()
        from great_expectations.core.expectation_suite import ExpectationSuite

        gx = self._gx
        name = name or suite.name
        configs = configs or {}
        asset = self.datasource.add_dataframe_asset(name)
        batch = asset.add_batch_definition_whole_dataframe(f"{name}_all")
        gx_suite = self.context.suites.add(ExpectationSuite(
            name=name, expectations=[configs.get(e.name) or e.gx_config() for e in expectations]
        ))
        definition = self.context.validation_definitions.add(
            gx.ValidationDefinition(name=f"{name}_validation", data=batch, suite=gx_suite)
        )
        result = definition.run(batch_parameters={"dataframe": frame}, result_format="BASIC")
        by_name = {e.name: e for e in expectations}
        outcomes = {}
        for r in result.results:
            exp = by_name[r.expectation_config.meta["name"]]
            outcomes[exp.name] = self._outcome(suite.name, exp, r)
        return [outcomes[e.name] for e in expectations]

    @staticmethod
    def _outcome(suite: str, exp: Expectation, r) -> Outcome:
        info = r.exception_info or {}
        if info.get("raised_exception"):
            return Outcome(suite, exp, FAILED,
                           f"error: {info.get('exception_message')}", None, None)
        res = r.result or {}
        unexpected = res.get("unexpected_count")
        percent = res.get("unexpected_percent")
        observed = res.get("observed_value")
        if "partial_missing_list" in res:  # distinct values to contain a set
            missing_values = res["partial_missing_list"]
            observed_text = (
                "missing: " + _format(missing_values) if missing_values else "all present"
            )
        elif "observed_value" in res:
            if exp.type in AGGREGATES and (
                observed is None or (isinstance(observed, float) and math.isnan(observed))
            ):
                # A rate or extreme over zero rows is undefined, not a failure: the row
                # counts have their own expectations.
                return not_evaluated(suite, exp, "no rows to measure")
            observed_text = _format(observed)
        elif unexpected is not None:
            element_count = res.get("element_count") or 0
            missing = res.get("missing_count") or 0
            observed_text = f"{unexpected} of {element_count - missing} values unexpected"
        else:
            observed_text = None
        return Outcome(
            suite, exp, PASSED if r.success else FAILED, observed_text,
            int(unexpected) if unexpected is not None else None,
            float(percent) if percent is not None else None,
            _examples(res.get("partial_unexpected_list")),
        )


def read_batch(con: duckdb.DuckDBPyConnection, relation: str):
    """The batch relation as a pandas DataFrame (through Arrow)."""
    return con.sql(f"select * from {relation}").to_arrow_table().to_pandas()
