"""Centre hazard ratios combined by random-effects meta-analysis (statsmodels).

Each centre's Cox hazard ratio (concordant vs not concordant lines) comes with its 95%
interval; on the log scale the interval gives the standard error
(`sql/network/30_centre_hazard_ratios.sql`). `statsmodels.stats.meta_analysis.
combine_effects` pools the log hazard ratios by inverse-variance weights, fixed and random
effects, with the between-centre variance τ² by the method in `network.yaml` (Paule–Mandel,
"iterated", by default). Heterogeneity: Cochran's Q with its χ² p-value and I² (the share
of the variation across centres beyond chance; a negative value from Q below its degrees
of freedom is shown as 0, the usual convention).
"""

from __future__ import annotations

import math

import duckdb
import numpy as np
import pyarrow as pa
from statsmodels.stats.meta_analysis import combine_effects

from her2audit.network.package import NetworkRules

SCHEMA = pa.schema(
    [
        ("endpoint", pa.string()),
        ("line_number", pa.int32()),
        ("model", pa.string()),
        ("method", pa.string()),
        ("k_centres", pa.int32()),
        ("hazard_ratio", pa.float64()),
        ("hr_ci_lower", pa.float64()),
        ("hr_ci_upper", pa.float64()),
        ("hazard_ratio_fixed", pa.float64()),
        ("hr_fixed_ci_lower", pa.float64()),
        ("hr_fixed_ci_upper", pa.float64()),
        ("tau2", pa.float64()),
        ("i2", pa.float64()),
        ("q", pa.float64()),
        ("q_df", pa.int32()),
        ("q_p_value", pa.float64()),
        ("status", pa.string()),
    ]
)

METHODS = {"iterated": "random effects, Paule–Mandel τ²", "pm": "random effects, Paule–Mandel τ²",
           "dl": "random effects, DerSimonian–Laird τ²",
           "chi2": "random effects, DerSimonian–Laird τ²"}


def combine(log_hr: np.ndarray, se: np.ndarray, method_re: str,
            alpha: float = 0.05) -> dict[str, float | int | None]:
    """Random- and fixed-effects pooled hazard ratio with heterogeneity, for k >= 2 centres."""
    result = combine_effects(log_hr, se**2, method_re=method_re, alpha=alpha)
    frame = result.summary_frame()
    random, fixed = frame.loc["random effect"], frame.loc["fixed effect"]
    homogeneity = result.test_homogeneity()
    return {
        "hazard_ratio": math.exp(random["eff"]),
        "hr_ci_lower": math.exp(random["ci_low"]),
        "hr_ci_upper": math.exp(random["ci_upp"]),
        "hazard_ratio_fixed": math.exp(fixed["eff"]),
        "hr_fixed_ci_lower": math.exp(fixed["ci_low"]),
        "hr_fixed_ci_upper": math.exp(fixed["ci_upp"]),
        "tau2": max(float(result.tau2), 0.0),
        "i2": max(float(result.i2), 0.0),
        "q": float(result.q),
        "q_df": int(homogeneity.df),
        "q_p_value": float(homogeneity.pvalue),
    }


def meta_analyses(con: duckdb.DuckDBPyConnection, rules: NetworkRules,
                  alpha: float = 0.05) -> pa.Table:
    """`network.meta_analysis`: one row per configured endpoint × line × Cox model."""
    rows = []
    for endpoint, line_number in rules.meta_comparisons:
        for model in rules.meta_models:
            found = con.execute(
                "select log_hr, se_log_hr from network.centre_hazard_ratios "
                "where endpoint = ? and line_number = ? and model = ? and se_log_hr > 0 "
                "order by centre",
                [endpoint, line_number, model],
            ).fetchnumpy()
            k = len(found["log_hr"])
            row: dict = {"endpoint": endpoint, "line_number": line_number, "model": model,
                         "method": METHODS.get(rules.meta_method_re, rules.meta_method_re),
                         "k_centres": k}
            if k < 2:
                row["status"] = "too_few_centres"
            else:
                row.update(combine(found["log_hr"].astype(float),
                                   found["se_log_hr"].astype(float),
                                   rules.meta_method_re, alpha))
                row["status"] = "estimated"
            rows.append(row)
    return pa.Table.from_pydict({n: [r.get(n) for r in rows] for n in SCHEMA.names},
                                schema=SCHEMA)
