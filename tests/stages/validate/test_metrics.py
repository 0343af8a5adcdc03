"""GX judging the metrics DuckDB computed gives the same outcome, observed value and counts
as GX scanning the whole batch, for every expectation type the suites use (and their
edge cases: bounds, strict bounds, `mostly`, nulls, pairs with missing values, no rows)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from her2audit.stages.validate import _evaluate_suite, metrics
from her2audit.stages.validate.gx_runner import Validator, read_batch
from her2audit.stages.validate.suites import Expectation, Suite

BATCH = """
create table batch as
select
    i,
    case when i % 10 = 0 then null else i % 7 end as small,
    (i % 3 = 0)::tinyint as flag,
    case when i % 5 = 0 then 'b' when i % 11 = 0 then null else 'a' end as letter,
    case when i % 13 = 0 then null else i end as a,
    case when i % 17 = 0 then null when i % 19 = 0 then i + 1 else i end as b,
    case when i % 4 = 0 then i - 1 else i end as c
from range(1, 2001) as r(i)
"""

EXPECTATIONS = [
    ("expect_column_sum_to_be_between", {"column": "flag", "min_value": 1}),
    ("expect_column_sum_to_be_between", {"column": "i", "max_value": 10}),
    ("expect_column_mean_to_be_between", {"column": "flag", "max_value": 0.3}),
    ("expect_column_mean_to_be_between", {"column": "small", "min_value": 2.9}),
    ("expect_column_min_to_be_between", {"column": "small", "min_value": 0}),
    ("expect_column_max_to_be_between", {"column": "small", "max_value": 5}),
    ("expect_column_distinct_values_to_contain_set", {"column": "letter", "value_set": ["a"]}),
    ("expect_column_distinct_values_to_contain_set",
     {"column": "letter", "value_set": ["a", "z"]}),
    ("expect_column_values_to_be_between", {"column": "small", "min_value": 1}),
    ("expect_column_values_to_be_between", {"column": "small", "min_value": 1, "mostly": 0.8}),
    ("expect_column_values_to_be_between", {"column": "small", "min_value": 1, "mostly": 0.9}),
    ("expect_column_values_to_be_between",
     {"column": "small", "min_value": 0, "max_value": 5, "strict_min": True}),
    ("expect_column_values_to_be_between", {"column": "i", "max_value": 1999, "strict_max": True,
                                            "mostly": 0.99}),
    ("expect_column_values_to_be_in_set", {"column": "letter", "value_set": ["a"]}),
    ("expect_column_values_to_be_in_set", {"column": "flag", "value_set": [0, 1]}),
    ("expect_column_values_to_be_in_set", {"column": "letter", "value_set": ["a"],
                                           "mostly": 0.75}),
    ("expect_column_pair_values_to_be_equal", {"column_A": "a", "column_B": "b"}),
    ("expect_column_pair_values_a_to_be_greater_than_b",
     {"column_A": "a", "column_B": "c", "or_equal": True}),
    ("expect_column_pair_values_a_to_be_greater_than_b", {"column_A": "a", "column_B": "c"}),
]


def suite_of(expectations: list[tuple[str, dict]], batch: str) -> Suite:
    exps = tuple(
        Expectation(name=f"e{i}", type=t, kwargs=kw, severity="critical", description="x",
                    requires=())
        for i, (t, kw) in enumerate(expectations)
    )
    return Suite(name=f"suite_{batch}", path=Path("s.json"), batch=batch, sql=(), stage="validate",
                 requires=(), description="", expectations=exps)


@pytest.fixture(scope="module")
def validator() -> Validator:
    return Validator()


def compare_paths(con: duckdb.DuckDBPyConnection, suite: Suite, validator: Validator) -> None:
    on_metrics = _evaluate_suite(con, suite, validator)[1]
    whole = validator.validate(suite, list(suite.expectations), read_batch(con, suite.batch),
                               name=f"{suite.batch}_whole")
    for m, w in zip(on_metrics, whole, strict=True):
        assert (m.expectation.name, m.status, m.observed_value, m.unexpected_count) == (
            w.expectation.name, w.status, w.observed_value, w.unexpected_count), m.expectation
        assert m.unexpected_percent == pytest.approx(w.unexpected_percent)


def test_every_type_is_judged_on_metrics(validator: Validator) -> None:
    suite = suite_of(EXPECTATIONS, "batch")
    assert all(metrics.supported(e) for e in suite.expectations)


def test_metrics_give_what_the_whole_batch_gives(validator: Validator) -> None:
    con = duckdb.connect()
    con.execute(BATCH)
    compare_paths(con, suite_of(EXPECTATIONS, "batch"), validator)


def test_an_empty_batch_gives_what_the_whole_batch_gives(validator: Validator) -> None:
    con = duckdb.connect()
    con.execute(BATCH)
    con.execute("create table empty as select * from batch limit 0")
    per_row = [e for e in EXPECTATIONS if e[0] in metrics.MAP_TYPES]
    compare_paths(con, suite_of(per_row, "empty"), validator)
