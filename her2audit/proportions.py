"""Proportions: funnel-plot control limits (Spiegelhalter 2005) and Wilson intervals.

Used by the marts (each site's limits), the report and the network report; a module of its
own so that the marts stage does not import the report's package.

A site's concordance rate is compared with the rate of all sites together, `p0`. Its
control limits at volume `n` are the exact binomial quantiles of `Binomial(n, p0)`,
interpolated between whole counts so the limits are smooth in `n` (the method of
Spiegelhalter, *Funnel plots for comparing institutional performance*, Stat Med 2005,
and of the English public health observatories' funnel-plot tools). A site outside the
99.8% limits is an outlier ("alarm"); between the 95% and 99.8% limits an "alert".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import duckdb

LIMITS = {"95": (0.025, 0.975), "99.8": (0.001, 0.999)}


def binomial_limit(n: np.ndarray, p0: np.ndarray | float, q: float) -> np.ndarray:
    """The `q` control limit (a proportion) of `Binomial(n, p0)`, vectorised over `n`.

    r = the q-quantile count; alpha interpolates between r - 1 and r so that
    P(X < r - alpha) equals q on a continuous scale. Null where n is not positive.
    """
    n = np.asarray(n, dtype=float)
    p0 = np.broadcast_to(np.asarray(p0, dtype=float), n.shape)
    out = np.full(n.shape, np.nan)
    ok = (n > 0) & np.isfinite(p0)
    if not ok.any():
        return out
    nn, pp = n[ok], np.clip(p0[ok], 0.0, 1.0)
    r = binomial_quantile(q, nn, pp)
    cdf_r = _binomial_cdf(r, nn, pp)
    cdf_r1 = _binomial_cdf(r - 1, nn, pp)
    step = cdf_r - cdf_r1
    with np.errstate(divide="ignore", invalid="ignore"):
        alpha = np.where(step > 0, (cdf_r - q) / step, 0.0)
    out[ok] = np.clip((r - alpha) / nn, 0.0, 1.0)
    return out


def _binomial_cdf(k: np.ndarray, n: np.ndarray, p: np.ndarray) -> np.ndarray:
    """P(X <= k) for X ~ Binomial(n, p), vectorised (0 below 0, 1 from n on)."""
    from scipy.special import bdtr  # scipy.special loads far faster than scipy.stats

    k = np.asarray(k, dtype=float)
    inside = (k >= 0) & (k < n)
    out = np.where(k >= n, 1.0, 0.0)
    if inside.any():
        out[inside] = bdtr(k[inside], n[inside], p[inside])
    return out


def binomial_quantile(q: float, n: np.ndarray, p: np.ndarray) -> np.ndarray:
    """The smallest whole k with P(X <= k) >= q, by vectorised bisection over 0..n."""
    lo = np.zeros_like(n, dtype=float)  # invariant: answer in [lo, hi]
    hi = np.asarray(n, dtype=float).copy()
    while np.any(lo < hi):
        mid = np.floor((lo + hi) / 2)
        enough = _binomial_cdf(mid, n, p) >= q
        hi = np.where(enough & (lo < hi), mid, hi)
        lo = np.where(~enough & (lo < hi), mid + 1, lo)
    return lo


def funnel_limits(n: np.ndarray, p0: np.ndarray | float) -> dict[str, np.ndarray]:
    """Lower and upper 95% and 99.8% limits: keys lower_95, upper_95, lower_998, upper_998."""
    out = {}
    for level, (lo, hi) in LIMITS.items():
        key = level.replace(".", "")
        out[f"lower_{key}"] = binomial_limit(n, p0, lo)
        out[f"upper_{key}"] = binomial_limit(n, p0, hi)
    return out


def funnel_position(rate: np.ndarray, limits: dict[str, np.ndarray]) -> np.ndarray:
    """Where each rate falls: 'above 99.8%', 'above 95%', 'within 95%', 'below 95%',
    'below 99.8%', or None without a rate."""
    rate = np.asarray(rate, dtype=float)
    conditions = [
        ~np.isfinite(rate),
        rate > limits["upper_998"],
        rate > limits["upper_95"],
        rate < limits["lower_998"],
        rate < limits["lower_95"],
    ]
    choices = [None, "above 99.8%", "above 95%", "below 99.8%", "below 95%"]
    return np.select(conditions, np.array(choices, dtype=object), default="within 95%")


def wilson_interval(successes: np.ndarray, n: np.ndarray, level: float = 0.95
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of a proportion, vectorised; NaN where n is not positive.

    The closed form (Wilson 1927; statsmodels' `proportion_confint(method="wilson")`, which
    the tests compare it with): centre (x + z²/2) / (n + z²), half-width
    z √(x (n − x) / n + z²/4) / (n + z²), z the normal quantile of 1 − (1 − level)/2
    (`scipy.special.ndtri`). Importing statsmodels for it loaded scipy.stats too: 0.6 s of
    the report's 2 s at 100,000 patients."""
    from scipy.special import ndtri  # scipy.special loads far faster than scipy.stats

    x = np.asarray(successes, dtype=float)
    n = np.asarray(n, dtype=float)
    lower, upper = np.full(n.shape, np.nan), np.full(n.shape, np.nan)
    ok = n > 0
    if not ok.any():
        return lower, upper
    x, m = x[ok], n[ok]
    z = float(ndtri(1 - (1 - level) / 2))
    z2 = z * z
    centre = (x + z2 / 2) / (m + z2)
    half = z * np.sqrt(np.maximum(x * (m - x) / m, 0.0) + z2 / 4) / (m + z2)
    lower[ok], upper[ok] = centre - half, centre + half
    return lower, upper



def add_funnel_columns(con: duckdb.DuckDBPyConnection, table: str, keys: Sequence[str],
                       n: str, p0: str, rate: str, order_by: str) -> None:
    """Add `lower_95`, `upper_95`, `lower_998`, `upper_998` and `funnel_position` to `table`
    (rows identified by `keys`): the limits around the rate `p0` at the volume `n` and where
    `rate` falls (`n`, `p0`, `rate`: SQL expressions over the table's columns; a null
    volume or rate gives null limits or position). The table is rebuilt ordered by
    `order_by` (over the alias `base`).

    numpy in and out (DuckDB's `fetchnumpy` and its scan of a dict of arrays, which reads a
    NaN as null): building Arrow arrays from Python objects would import pandas, a fifth of
    the marts stage's time."""
    rows = con.sql(
        f"select {', '.join(keys)}, {n} as n, {p0} as p0, {rate} as rate from {table}"
    ).fetchnumpy()

    def floats(name: str) -> np.ndarray:
        return np.ma.filled(np.ma.asarray(rows[name], dtype=float), np.nan)

    limits = funnel_limits(floats("n"), floats("p0"))
    position = funnel_position(floats("rate"), limits)
    added = {**{key: rows[key] for key in keys}, **limits,
             "funnel_position": np.asarray(position, dtype=object)}
    typed = ", ".join([*(f"limits.{name}::double as {name}" for name in limits),
                       "limits.funnel_position::varchar as funnel_position"])
    con.register("_funnel_limits", added)
    try:
        con.execute(
            f"""
            create or replace table {table} as
            select base.*, {typed}
            from {table} as base
            left join _funnel_limits as limits using ({', '.join(keys)})
            order by {order_by}
            """
        )
    finally:
        con.unregister("_funnel_limits")
