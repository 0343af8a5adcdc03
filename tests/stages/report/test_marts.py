"""The dashboard marts agree with the line verdicts they summarise, and the funnel limits
are the exact binomial limits."""

from __future__ import annotations

import collections

import duckdb
import numpy as np
import pytest
from scipy import stats as sps

from her2audit import proportions

CATEGORIES = ("preferred", "alternative", "not_recommended", "trial", "not_evaluable")


@pytest.fixture(scope="module")
def con(built_report):
    con = duckdb.connect(str(built_report.db), read_only=True)
    yield con
    con.close()


def _verdicts(con):
    return con.execute(
        "select c.patient_id, c.line_number, c.category, p.site_id, year(l.start_date) "
        "from audit.line_concordance c join audit.patients p using (patient_id) "
        "join audit.lines_of_therapy l using (patient_id, line_number)"
    ).fetchall()


def _expected(rows, key):
    out = collections.defaultdict(collections.Counter)
    for _pid, line, cat, site, year in rows:
        group = "4+" if line >= 4 else str(line)
        for k in key(group, site, year):
            out[k][cat] += 1
    return out


def _check(mart_rows, expected):
    assert len(mart_rows) == len(expected)
    for key, row in mart_rows.items():
        counts = expected[key]
        for cat in CATEGORIES:
            assert row[f"n_{cat}"] == counts[cat], (key, cat)
        assert row["n_lines"] == sum(counts.values())
        evaluable = counts["preferred"] + counts["alternative"] + counts["not_recommended"]
        assert row["n_evaluable"] == evaluable
        concordant = counts["preferred"] + counts["alternative"]
        assert row["n_concordant"] == concordant
        if evaluable:
            assert row["concordance_rate"] == pytest.approx(concordant / evaluable)


def _mart(con, table, keys):
    cur = con.execute(f"select * from audit.{table}")
    cols = [d[0] for d in cur.description]
    return {tuple(r[cols.index(k)] for k in keys): dict(zip(cols, r, strict=True))
            for r in cur.fetchall()}


def test_concordance_by_line_counts_every_line_once(con):
    expected = _expected(_verdicts(con), lambda g, s, y: [(g,), ("all",)])
    _check(_mart(con, "concordance_by_line", ["line"]), expected)


def test_concordance_by_site_counts_and_all_sites_rate(con):
    rows = _verdicts(con)
    expected = _expected(rows, lambda g, s, y: [(s, g), (s, "all")])
    mart = _mart(con, "concordance_by_site", ["site_id", "line"])
    _check(mart, expected)
    total = collections.Counter(c for _, _, c, _, _ in rows)
    p0 = (total["preferred"] + total["alternative"]) / (
        total["preferred"] + total["alternative"] + total["not_recommended"])
    for (_site, line), row in mart.items():
        if line == "all":
            assert row["expected_rate"] == pytest.approx(p0)
    assert mart[("S-TINY", "all")]["n_patients"] <= 3


def test_concordance_by_year_counts(con):
    expected = _expected(_verdicts(con), lambda g, s, y: [(y, g), (y, "all")])
    _check(_mart(con, "concordance_by_year", ["year", "line"]), expected)


def test_site_mart_carries_funnel_limits_and_positions(con):
    rows = con.execute(
        "select n_evaluable, concordance_rate, expected_rate, lower_95, upper_95, lower_998, "
        "upper_998, funnel_position from audit.concordance_by_site where n_evaluable > 0"
    ).fetchall()
    assert rows
    for _n, rate, p0, lo95, hi95, lo998, hi998, position in rows:
        assert lo998 <= lo95 <= p0 <= hi95 <= hi998
        if rate > hi998:
            assert position == "above 99.8%"
        elif rate < lo998:
            assert position == "below 99.8%"
        elif lo95 <= rate <= hi95:
            assert position == "within 95%"
    # the fixture's poorly concordant site is flagged
    (poor,) = con.execute("select funnel_position from audit.concordance_by_site "
                          "where site_id = 'S03' and line = 'all'").fetchone()
    assert poor.startswith("below")


def test_binomial_limits_match_the_normal_approximation_for_large_n():
    n = np.array([5000.0, 20000.0])
    limits = proportions.funnel_limits(n, 0.7)
    se = np.sqrt(0.7 * 0.3 / n)
    # the binomial is slightly skewed, more so in the 99.8% tails
    assert limits["upper_95"] == pytest.approx(0.7 + 1.959964 * se, abs=2e-4)
    assert limits["lower_998"] == pytest.approx(0.7 - 3.090232 * se, abs=5e-4)


def test_binomial_quantile_matches_scipy():
    n = np.array([1.0, 11, 50, 400, 5000, 100_000])
    p = np.array([0.5, 0.3, 0.75, 0.9, 0.7, 0.66])
    for q in (0.001, 0.025, 0.5, 0.975, 0.999):
        assert np.array_equal(proportions.binomial_quantile(q, n, p), sps.binom.ppf(q, n, p))


def test_binomial_limits_bracket_the_exact_quantiles_for_small_n():
    n, p0 = np.array([20.0]), 0.6
    lower = proportions.binomial_limit(n, p0, 0.025)[0] * 20
    r = sps.binom.ppf(0.025, 20, p0)
    assert r - 1 <= lower <= r
    assert np.isnan(proportions.binomial_limit(np.array([0.0]), p0, 0.5)[0])
