"""Confidence intervals of the report's rates: the Wilson score interval, against published
values and statsmodels' implementation."""

from __future__ import annotations

import numpy as np
import pytest
from statsmodels.stats.proportion import proportion_confint

from her2audit.proportions import wilson_interval


def test_wilson_interval_matches_published_values():
    # 95% Wilson intervals (Newcombe 1998, table I: 0/10, 5/10, 81/263)
    lower, upper = wilson_interval(np.array([0, 5, 81]), np.array([10, 10, 263]))
    assert lower == pytest.approx([0.0, 0.2366, 0.2553], abs=5e-5)
    assert upper == pytest.approx([0.2775, 0.7634, 0.3662], abs=5e-5)


@pytest.mark.parametrize("level", [0.9, 0.95, 0.99])
def test_wilson_interval_equals_statsmodels(level: float):
    n = np.repeat(np.arange(1, 60), 3)
    x = np.concatenate([[0, k // 2, k] for k in range(1, 60)])
    lower, upper = wilson_interval(x, n, level)
    expected_lower, expected_upper = proportion_confint(x, n, alpha=1 - level, method="wilson")
    assert lower == pytest.approx(expected_lower, abs=1e-12)
    assert upper == pytest.approx(expected_upper, abs=1e-12)


def test_wilson_interval_is_undefined_without_lines():
    lower, upper = wilson_interval(np.array([0, 3]), np.array([0, 4]))
    assert np.isnan(lower[0]) and np.isnan(upper[0])
    assert 0 < lower[1] < 0.75 < upper[1] <= 1
