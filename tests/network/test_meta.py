"""Random-effects meta-analysis of centre hazard ratios (statsmodels)."""

from __future__ import annotations

import math

import duckdb
import numpy as np
import pytest

from her2audit.network import meta
from her2audit.network.package import load_rules


def test_identical_centres_have_no_heterogeneity() -> None:
    result = meta.combine(np.log([0.5, 0.5, 0.5]), np.array([0.1, 0.2, 0.15]), "iterated")
    assert result["hazard_ratio"] == pytest.approx(0.5)
    assert result["tau2"] == 0 and result["i2"] == 0 and result["q"] == pytest.approx(0)


def test_the_fixed_effect_is_the_inverse_variance_mean() -> None:
    log_hr, se = np.log([0.4, 0.6, 0.5]), np.array([0.1, 0.2, 0.15])
    result = meta.combine(log_hr, se, "iterated")
    weights = 1 / se**2
    assert result["hazard_ratio_fixed"] == pytest.approx(
        math.exp((weights * log_hr).sum() / weights.sum()))


def test_heterogeneous_centres_widen_the_random_effects_interval() -> None:
    log_hr, se = np.log([0.3, 0.9, 0.5, 1.2]), np.array([0.1, 0.1, 0.1, 0.1])
    result = meta.combine(log_hr, se, "iterated")
    assert result["tau2"] > 0 and 0.5 < result["i2"] <= 1 and result["q_p_value"] < 0.05
    random_width = math.log(result["hr_ci_upper"]) - math.log(result["hr_ci_lower"])
    fixed_width = math.log(result["hr_fixed_ci_upper"]) - math.log(result["hr_fixed_ci_lower"])
    assert random_width > fixed_width
    assert result["q_df"] == 3


def test_one_centre_is_too_few() -> None:
    con = duckdb.connect()
    con.execute("create schema network")
    con.execute("create table network.centre_hazard_ratios as select 'a' as centre, "
                "'os' as endpoint, 1 as line_number, 'cox_unadjusted' as model, "
                "-0.5 as log_hr, 0.2 as se_log_hr")
    table = meta.meta_analyses(con, load_rules()).to_pylist()
    first = next(r for r in table if r["endpoint"] == "os" and r["line_number"] == 1
                 and r["model"] == "cox_unadjusted")
    assert first["status"] == "too_few_centres" and first["k_centres"] == 1
    assert first["hazard_ratio"] is None
