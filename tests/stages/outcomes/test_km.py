"""Kaplan–Meier estimates checked number by number against hand computation.

Expected values are written out from the definitions: S(t) = Π (1 − d_i / n_i),
Greenwood Var = S² Σ d_i / (n_i (n_i − d_i)), log(−log) interval
S^exp(±z·√(Σ d/(n(n−d))) / log S), median = first t with S(t) ≤ 0.5, median interval =
first times the lower and the upper band are ≤ 0.5.
"""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest

from her2audit.stages.outcomes import km

Z = 1.959963984540054  # standard normal 97.5% quantile


def loglog_band(s: float, greenwood_sum: float) -> tuple[float, float]:
    """The log(−log) 95% interval of S from Greenwood's sum, written out."""
    half_width = Z * math.sqrt(greenwood_sum) / abs(math.log(s))
    return s ** math.exp(half_width), s ** math.exp(-half_width)


# Ten patients: (time, event). Ties of events at 3 with a censoring at the same time,
# a tie of an event and a censoring at 8, and the last time censored.
TIES = [(2, 1), (3, 1), (3, 1), (3, 0), (5, 1), (6, 0), (8, 1), (8, 0), (9, 0), (10, 0)]


def test_ties_and_censoring_at_event_times():
    times = np.array([t for t, _ in TIES])
    events = np.array([e for _, e in TIES])
    est = km.fit_durations(times, events)

    # at risk just before each time, events, censored (censored at an event time are
    # still at risk at that time)
    assert est.time_days.tolist() == [0, 2, 3, 5, 6, 8, 9, 10]
    assert est.n_at_risk.tolist() == [10, 10, 9, 6, 5, 4, 2, 1]
    assert est.n_events.tolist() == [0, 1, 2, 1, 0, 1, 0, 0]
    assert est.n_censored.tolist() == [0, 0, 1, 0, 1, 1, 1, 1]

    s2 = 9 / 10
    s3 = s2 * (9 - 2) / 9          # 0.7
    s5 = s3 * (6 - 1) / 6          # 0.58333
    s8 = s5 * (4 - 1) / 4          # 0.4375
    expected_s = [1.0, s2, s3, s5, s5, s8, s8, s8]
    assert est.survival == pytest.approx(expected_s, abs=1e-12)
    assert s3 == pytest.approx(0.7) and s8 == pytest.approx(0.4375)

    g2 = 1 / (10 * 9)
    g3 = g2 + 2 / (9 * 7)
    g5 = g3 + 1 / (6 * 5)
    g8 = g5 + 1 / (4 * 3)
    bands = [(1.0, 1.0), loglog_band(s2, g2), loglog_band(s3, g3), loglog_band(s5, g5),
             loglog_band(s5, g5), loglog_band(s8, g8), loglog_band(s8, g8), loglog_band(s8, g8)]
    assert est.ci_lower == pytest.approx([b[0] for b in bands], abs=1e-9)
    assert est.ci_upper == pytest.approx([b[1] for b in bands], abs=1e-9)
    # the numbers themselves, computed by hand once (4 decimals)
    assert est.ci_lower[1:6] == pytest.approx([0.4730, 0.3287, 0.2298, 0.2298, 0.1187],
                                              abs=1e-4)
    assert est.ci_upper[1:6] == pytest.approx([0.9853, 0.8920, 0.8208, 0.8208, 0.7257],
                                              abs=1e-4)

    # median: S first <= 0.5 at t = 8; lower band first <= 0.5 at t = 2 (0.4730);
    # upper band never reaches 0.5 (ends at 0.7257): upper limit not reached
    assert est.median_days == 8
    assert est.median_ci_lower_days == 2
    assert est.median_ci_upper_days is None


def test_median_is_first_time_at_or_below_one_half():
    # S = 0.75, 0.5, 0.25, 0: lifelines' (and SPEC's) median is 2, the first time S <= 0.5
    # (R's print.survfit would average the flat stretch at exactly 0.5 to 2.5).
    est = km.fit_durations(np.array([1, 2, 3, 4]), np.array([1, 1, 1, 1]))
    assert est.survival.tolist() == pytest.approx([1, 0.75, 0.5, 0.25, 0.0])
    assert est.median_days == 2


def test_group_without_events_stays_at_one():
    est = km.fit_durations(np.array([5, 9, 9, 30]), np.zeros(4))
    assert est.survival.tolist() == [1.0, 1.0, 1.0, 1.0]
    assert est.ci_lower.tolist() == [1.0, 1.0, 1.0, 1.0]
    assert est.n_censored.tolist() == [0, 1, 2, 1]
    assert est.median_days is None
    assert km.status_of(12, 0, est, 11)[0] == km.NO_EVENTS


def test_median_not_reached():
    # 12 patients, 3 early events, 9 censored later: S ends at 9/12 = 0.75
    times = np.array([10, 20, 30] + [100 + i for i in range(9)])
    events = np.array([1, 1, 1] + [0] * 9)
    est = km.fit_durations(times, events)
    assert est.survival[3] == pytest.approx((11 / 12) * (10 / 11) * (9 / 10))
    assert est.survival[-1] == pytest.approx(0.75)
    assert est.median_days is None
    # the lower band first falls to 0.5 at t = 20: 0.539 at 10, 0.4815 at 20
    assert loglog_band(11 / 12, 1 / (12 * 11))[0] == pytest.approx(0.5390, abs=1e-4)
    assert loglog_band(10 / 12, 1 / (12 * 11) + 1 / (11 * 10))[0] == pytest.approx(0.4817,
                                                                                 abs=1e-4)
    assert est.median_ci_lower_days == 20
    assert est.median_ci_upper_days is None
    status, note = km.status_of(12, 3, est, 11)
    assert status == km.MEDIAN_NOT_REACHED and "not reached" in note


def test_aggregated_counts_give_the_per_patient_estimate():
    rng = np.random.default_rng(7)
    times = rng.integers(1, 60, 400)
    events = rng.random(400) < 0.6
    per_patient = km.fit_durations(times, events)
    uniq = np.unique(times)
    n_events = np.array([(events & (times == t)).sum() for t in uniq])
    n_censored = np.array([(~events & (times == t)).sum() for t in uniq])
    aggregated = km.fit_counts(uniq, n_events, n_censored)
    assert aggregated.survival == pytest.approx(per_patient.survival, abs=1e-12)
    assert aggregated.ci_lower == pytest.approx(per_patient.ci_lower, abs=1e-12)
    assert aggregated.median_days == per_patient.median_days


def _groups(rows):
    names = ["group_id", "endpoint", "grouping", "group_label", "line_number", "group_value",
             "n", "events"]
    return pa.table({n: [r[i] for r in rows] for i, n in enumerate(names)})


def test_estimate_groups_marks_small_and_eventless_groups():
    groups = _groups([
        (1, "os", "line", "line 1", 1, None, 10, 4),          # too small: 10 < 11
        (2, "os", "line", "line 2", 2, None, 12, 0),          # no events
        (3, "ttd", "line", "line 1", 1, None, 10 + 2, 7),     # estimated
    ])
    obs = pa.table({
        "group_id": [1, 1, 2, 3, 3, 3, 3],
        "time_days": [5, 8, 40, 2, 3, 5, 9],
        "n_events": [3, 1, 0, 2, 3, 2, 0],
        "n_censored": [4, 2, 12, 0, 1, 0, 4],
    })
    summary, curves = km.estimate_groups(groups, obs, min_n=11)
    s = summary.to_pylist()
    assert [r["status"] for r in s] == ["too_small", "no_events", "estimated"]
    assert s[0]["median_days"] is None and s[0]["n"] == 10
    assert s[1]["median_days"] is None
    # S: 1 - 2/12 = 0.8333 at 2; * (1 - 3/10) = 0.5833 at 3; * (1 - 2/6) = 0.3889 at 5
    assert s[2]["median_days"] == 5
    c = curves.to_pylist()
    assert {r["group_label"] for r in c if r["endpoint"] == "os"} == {"line 2"}  # no curve for 1
    ttd = [r for r in c if r["endpoint"] == "ttd"]
    assert [r["time_days"] for r in ttd] == [0, 2, 3, 5, 9]
    assert [r["survival"] for r in ttd] == pytest.approx(
        [1, 10 / 12, 10 / 12 * 7 / 10, 10 / 12 * 7 / 10 * 4 / 6, 10 / 12 * 7 / 10 * 4 / 6])
    assert [r["n_at_risk"] for r in ttd] == [12, 12, 10, 6, 4]
    assert curves.schema == km.CURVE_SCHEMA and summary.schema == km.SUMMARY_SCHEMA


def test_median_interval_rule_equals_lifelines_median_survival_times():
    from lifelines import KaplanMeierFitter
    from lifelines.utils import median_survival_times

    rng = np.random.default_rng(3)
    for trial in range(20):
        n = int(rng.integers(15, 300))
        times = rng.integers(1, 90, n)
        events = rng.random(n) < rng.uniform(0.2, 0.9)
        est = km.fit_durations(times, events)
        kmf = KaplanMeierFitter().fit(times, events)
        expected = median_survival_times(kmf.confidence_interval_).iloc[0].tolist()
        got = [est.median_ci_lower_days, est.median_ci_upper_days]
        assert got == [None if math.isinf(v) else v for v in expected], trial
        assert est.median_days == (None if math.isinf(kmf.median_survival_time_)
                                   else kmf.median_survival_time_)


def _follow_up_rows(site_id: str, times: np.ndarray, died: np.ndarray) -> dict[str, list]:
    """staging.follow_up_observations rows of one scope from per-patient data."""
    unique, inverse = np.unique(times, return_inverse=True)
    n_died = np.bincount(inverse, weights=died.astype(float), minlength=len(unique))
    n_all = np.bincount(inverse, minlength=len(unique))
    return {"site_id": [site_id] * len(unique), "time_days": unique.tolist(),
            "n_followed": (n_all - n_died).astype(int).tolist(),
            "n_died": n_died.astype(int).tolist()}


def test_median_follow_up_is_the_per_patient_reverse_kaplan_meier():
    """Reverse Kaplan–Meier (Schemper & Smith): lifelines fitted per patient on 'censored'
    as the event, with median_survival_times for the interval, as the report used to; a
    scope where every patient died has no median."""
    from lifelines import KaplanMeierFitter
    from lifelines.utils import median_survival_times

    rng = np.random.default_rng(11)
    scopes, expected = {name: [] for name in ("site_id", "time_days", "n_followed",
                                             "n_died")}, {}
    for site_id in ("all", "A", "B"):
        n = int(rng.integers(40, 400))
        times = rng.integers(0, 2000, n)
        died = rng.random(n) < rng.uniform(0.2, 0.8)
        for name, values in _follow_up_rows(site_id, times, died).items():
            scopes[name] += values
        kmf = KaplanMeierFitter().fit(times.astype(float), event_observed=~died)
        lower, upper = median_survival_times(kmf.confidence_interval_).iloc[0].tolist()
        expected[site_id] = [n, int(died.sum()), kmf.median_survival_time_, lower, upper]
    for name, values in _follow_up_rows("C", np.array([5, 9, 9]), np.ones(3, bool)).items():
        scopes[name] += values  # everyone died: nothing is censored
    expected["C"] = [3, 3, None, None, None]
    table = km.median_follow_up(pa.table(scopes), alpha=0.05)
    assert table.schema == km.FOLLOW_UP_SCHEMA
    got = {r.pop("site_id"): list(r.values()) for r in table.to_pylist()}
    assert got == {k: [None if v is not None and math.isinf(v) else v for v in row]
                   for k, row in expected.items()}
