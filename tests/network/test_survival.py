"""Pooled survival from life tables: the actuarial estimate at each interval end."""

from __future__ import annotations

import numpy as np
import pytest

from her2audit.network.survival import pooled_curve


def actuarial(at_risk, events, censored) -> np.ndarray:
    return np.cumprod(1 - np.asarray(events) / (np.asarray(at_risk) - np.asarray(censored) / 2))


def test_the_curve_is_the_actuarial_estimate_at_each_interval_end() -> None:
    starts = np.array([0.0, 182, 364, 546])
    ends = starts + 182
    events = np.array([30.0, 25, 20, 12])
    censored = np.array([10.0, 14, 22, 30])
    at_risk = np.array([400.0, 360, 321, 279])  # each the previous minus its removals
    estimate = pooled_curve(starts, ends, at_risk, events, censored)
    at_ends = {t: s for t, s in zip(estimate.time_days, estimate.survival, strict=True)}
    assert [at_ends[e] for e in ends] == pytest.approx(actuarial(at_risk, events, censored),
                                                       rel=1e-12)
    assert at_ends[0.0] == 1.0
    lower = dict(zip(estimate.time_days, estimate.ci_lower, strict=True))
    upper = dict(zip(estimate.time_days, estimate.ci_upper, strict=True))
    assert all(lower[e] < at_ends[e] < upper[e] for e in ends)


def test_patients_leaving_the_risk_set_unseen_count_as_censored_at_the_interval_end() -> None:
    # 50 patients of a centre whose numbers are suppressed from the second interval on
    # leave the pooled risk set at 182 days: the second interval's risk set is 300, not 350
    starts = np.array([0.0, 182])
    ends = starts + 182
    at_risk = np.array([400.0, 300])
    events = np.array([40.0, 30])
    censored = np.array([10.0, 0])
    estimate = pooled_curve(starts, ends, at_risk, events, censored)
    at_ends = dict(zip(estimate.time_days, estimate.survival, strict=True))
    assert at_ends[364.0] == pytest.approx((1 - 40 / 395) * (1 - 30 / 300), rel=1e-12)


def test_fractional_estimated_events_are_weights() -> None:
    starts, ends = np.array([0.0]), np.array([182.0])
    estimate = pooled_curve(starts, ends, np.array([100.0]), np.array([12.5]), np.array([7.5]))
    at_ends = dict(zip(estimate.time_days, estimate.survival, strict=True))
    assert at_ends[182.0] == pytest.approx(1 - 12.5 / (100 - 7.5 / 2), rel=1e-12)
