"""What each expectation needs from its batch, computed in DuckDB, so that Great Expectations
judges a few values instead of scanning millions of rows in pandas.

A suite's batch (a DuckDB relation, one row per input row) is read by one aggregate query
(plus one `select distinct` per distinct-values expectation). Each expectation then gets a
column of a small *metric frame* and the GX expectation that judges it there:

- `expect_column_sum_to_be_between`, `_mean_`, `_min_`, `_max_`, `_median_`: the column's
  `sum`, `avg` (nulls left out, as pandas does), `min`, `max`, `median` in DuckDB; GX
  judges the same expectation, same bounds, on that one value.
- `expect_column_distinct_values_to_contain_set`: the column's distinct non-null values;
  GX judges the same expectation on them.
- `expect_column_values_to_be_between` (`strict_min`/`strict_max` honoured),
  `expect_column_values_to_be_in_set`: DuckDB counts the non-null values and those outside
  the bounds / the set.
- `expect_column_pair_values_to_be_equal`, `expect_column_pair_values_a_to_be_greater_than_b`
  (`or_equal` honoured): DuckDB counts the rows where not both values are missing (GX's
  default `ignore_row_if`) and those where A does not equal B / is not greater than B.
- For these four per-row ("map") types GX judges the share of expected values with
  `expect_column_values_to_be_between(min_value = mostly)` (`mostly` defaults to 1): GX's
  own success rule for `mostly`.

The aggregate of one value is that value, so GX's observed value is the same as over the
whole batch; for the per-row ("map") expectations GX's success rule, share of expected
values >= `mostly`, is applied to the share DuckDB counted, and the counts (unexpected,
non-null) are DuckDB's. An expectation of any other type is evaluated on the whole batch
read into pandas, as before.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import duckdb

from her2audit.stages.validate.suites import Expectation

AGGREGATE_FUNCTIONS = {
    "expect_column_sum_to_be_between": "sum",
    "expect_column_mean_to_be_between": "avg",
    "expect_column_min_to_be_between": "min",
    "expect_column_max_to_be_between": "max",
    "expect_column_median_to_be_between": "median",
}
DISTINCT_VALUES = {"expect_column_distinct_values_to_contain_set"}
MAP_TYPES = {
    "expect_column_values_to_be_between",
    "expect_column_values_to_be_in_set",
    "expect_column_pair_values_to_be_equal",
    "expect_column_pair_values_a_to_be_greater_than_b",
}


def supported(exp: Expectation) -> bool:
    """Whether the expectation can be judged on a metric frame (else: whole batch)."""
    if exp.type in AGGREGATE_FUNCTIONS or exp.type in DISTINCT_VALUES:
        return "column" in exp.kwargs
    if exp.type in MAP_TYPES:
        # row_condition and ignore_row_if other than the default change which rows count
        return ("row_condition" not in exp.kwargs
                and exp.kwargs.get("ignore_row_if", "both_values_are_missing")
                == "both_values_are_missing")
    return False


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def _map_sql(exp: Expectation) -> tuple[str, str]:
    """(rows counted, unexpected among them) as SQL predicates over the batch."""
    kw = exp.kwargs
    if exp.type == "expect_column_values_to_be_between":
        col = _ident(kw["column"])
        bad = []
        if kw.get("min_value") is not None:
            bad.append(f"{col} {'<=' if kw.get('strict_min') else '<'} {_literal(kw['min_value'])}")
        if kw.get("max_value") is not None:
            bad.append(f"{col} {'>=' if kw.get('strict_max') else '>'} {_literal(kw['max_value'])}")
        return f"{col} is not null", " or ".join(bad) or "false"
    if exp.type == "expect_column_values_to_be_in_set":
        col = _ident(kw["column"])
        values = ", ".join(_literal(v) for v in kw["value_set"])
        return f"{col} is not null", f"{col} not in ({values})" if values else "true"
    a, b = _ident(kw["column_A"]), _ident(kw["column_B"])
    counted = f"not ({a} is null and {b} is null)"
    if exp.type == "expect_column_pair_values_to_be_equal":
        return counted, f"{a} is distinct from {b}"
    op = ">=" if kw.get("or_equal") else ">"
    return counted, f"coalesce(not ({a} {op} {b}), true)"


@dataclasses.dataclass(frozen=True)
class Metric:
    """One expectation's metric: its column in the frame and how GX judges it."""

    column: str
    values: list[Any]
    gx_type: str
    gx_kwargs: dict[str, Any]
    non_null: int | None  # values the expectation looks at (for min_rows), None: unknown
    unexpected: int | None = None  # map types: DuckDB's counts
    counted: int | None = None


def measure(
    con: duckdb.DuckDBPyConnection, relation: str, expectations: list[Expectation]
) -> tuple[int, dict[str, Metric]]:
    """Row count of the batch and a metric per supported expectation (one scan of the
    batch for all aggregates and counts, one `select distinct` per distinct-values one)."""
    select = ["count(*)"]
    slots: list[tuple[Expectation, int]] = []
    for exp in expectations:
        if not supported(exp):
            continue
        slots.append((exp, len(select)))
        if exp.type in AGGREGATE_FUNCTIONS:
            col = _ident(exp.kwargs["column"])
            func = AGGREGATE_FUNCTIONS[exp.type]
            value = f"{func}({col})" if func != "sum" else f"sum({col})::double"
            select += [value, f"count({col})"]
        elif exp.type in DISTINCT_VALUES:
            select += [f"count({_ident(exp.kwargs['column'])})"]
        else:
            counted, bad = _map_sql(exp)
            select += [f"count(*) filter (where {counted})",
                       f"count(*) filter (where ({counted}) and ({bad}))"]
    row = con.execute(f"select {', '.join(select)} from {relation}").fetchall()[0]
    metrics: dict[str, Metric] = {}
    for i, (exp, at) in enumerate(slots):
        column = f"m{i}"
        if exp.type in AGGREGATE_FUNCTIONS:
            value, non_null = row[at], row[at + 1]
            metrics[exp.name] = Metric(column, [value], exp.type,
                                       {**exp.kwargs, "column": column}, non_null)
        elif exp.type in DISTINCT_VALUES:
            col = _ident(exp.kwargs["column"])
            values = [r[0] for r in con.execute(
                f"select distinct {col} from {relation} where {col} is not null order by 1"
            ).fetchall()]
            metrics[exp.name] = Metric(column, values, exp.type,
                                       {**exp.kwargs, "column": column}, row[at])
        else:
            counted, unexpected = row[at], row[at + 1]
            share = (counted - unexpected) / counted if counted else None
            mostly = exp.kwargs.get("mostly", 1.0)
            metrics[exp.name] = Metric(
                column, [share], "expect_column_values_to_be_between",
                {"column": column, "min_value": mostly}, counted, unexpected, counted)
    return row[0], metrics


def unexpected_examples(
    con: duckdb.DuckDBPyConnection, relation: str, exp: Expectation, limit: int = 3
) -> tuple[str, ...]:
    """A few distinct values failing a per-row expectation, smallest first, for the logs
    (a pair expectation shows `A / B`). Run only for an expectation that failed."""
    counted, bad = _map_sql(exp)
    kw = exp.kwargs
    columns = ", ".join(_ident(c) for c in ([kw["column"]] if "column" in kw
                                            else [kw["column_A"], kw["column_B"]]))
    rows = con.execute(f"select distinct {columns} from {relation} "
                       f"where ({counted}) and ({bad}) order by all limit {int(limit)}").fetchall()
    return tuple(" / ".join(str(v) for v in row) for row in rows)


def frame(metrics: dict[str, Metric]):
    """The metric frame: one column per metric, padded with nulls to the longest."""
    import pandas as pd

    length = max((len(m.values) for m in metrics.values()), default=1) or 1
    return pd.DataFrame({
        m.column: pd.Series(m.values + [None] * (length - len(m.values)), dtype=object)
        .infer_objects()
        for m in metrics.values()
    })
