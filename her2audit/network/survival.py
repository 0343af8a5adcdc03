"""Pooled survival across centres from their life tables (actuarial estimate per month).

Centres share no patient rows, only life tables in whole months of follow-up (merged by
each centre until no interval holds 1-10 events or censorings). The pooled life table
spreads each interval over its months and adds the centres up per month
(`sql/network/20_pooled_life_tables.sql`). The survival at each month's end b is the
actuarial estimate S(b) = Π (1 − d / (n − c/2)): censored patients count as at risk for
half their month.

It is computed with the Kaplan–Meier code of the outcomes stage (lifelines, Greenwood
variance, log(−log) intervals) on a pseudo-sample that gives exactly that estimate: per
interval, the events at b, half the censored at the middle of the interval and half at b
(lifelines counts a time censored at b as at risk for the events at b), so the risk set at
b is n − c/2. Counts may be fractional (estimated events of a suppressed interval): they are
weights.
"""

from __future__ import annotations

import warnings

import duckdb
import numpy as np
import pyarrow as pa
from lifelines.exceptions import StatisticalWarning

from her2audit.network.package import NetworkRules
from her2audit.stages.outcomes import km

SCHEMA = pa.schema(
    [
        ("endpoint", pa.string()),
        ("grouping", pa.string()),
        ("line_number", pa.int32()),
        ("group_value", pa.string()),
        ("time_days", pa.int64()),
        ("survival", pa.float64()),
        ("ci_lower", pa.float64()),
        ("ci_upper", pa.float64()),
        ("n_at_risk", pa.float64()),  # at risk at time_days (null after the last interval)
        ("n_events", pa.float64()),  # events in the interval ending at time_days
        ("n_centres", pa.int32()),
    ]
)


def pooled_curve(starts: np.ndarray, ends: np.ndarray, at_risk: np.ndarray,
                 events: np.ndarray, censored: np.ndarray, alpha: float = 0.05
                 ) -> km.KMEstimate:
    """The actuarial estimate at each interval end, with Greenwood log(−log) bands."""
    mids = (starts + ends) / 2.0
    times = np.concatenate([ends, mids])
    n_events = np.concatenate([events, np.zeros_like(events)])
    n_censored = np.concatenate([censored / 2.0, censored / 2.0])
    # Patients at risk at an interval's end who are not at risk at the next one's start
    # (a centre whose numbers are suppressed from there on, or the grid's end) are
    # censored at that end, so the pseudo-sample's risk sets are the life table's.
    next_at_risk = np.append(at_risk[1:], 0.0)
    n_censored[: len(ends)] += np.maximum(at_risk - events - censored - next_at_risk, 0.0)
    order = np.argsort(times, kind="stable")
    times, n_events, n_censored = times[order], n_events[order], n_censored[order]
    unique, inverse = np.unique(times, return_inverse=True)
    with warnings.catch_warnings():
        # fractional weights are halves and estimated counts here, not propensity scores
        warnings.simplefilter("ignore", StatisticalWarning)
        return km.fit_counts(
            unique,
            np.bincount(inverse, weights=n_events, minlength=len(unique)),
            np.bincount(inverse, weights=n_censored, minlength=len(unique)),
            alpha,
        )


def pooled_survival(con: duckdb.DuckDBPyConnection, rules: NetworkRules,
                    alpha: float = 0.05) -> pa.Table:
    """`network.pooled_survival` rows: S at 0 and at each month's end of each pooled group."""
    out: dict[str, list] = {name: [] for name in SCHEMA.names}
    for group in rules.pooled_groups:
        rows = con.execute(
            """
            select group_value, interval_start_days, interval_end_days, n_at_risk,
                n_events, n_censored, n_centres
            from network.pooled_life_tables
            where endpoint = ? and grouping = ? and line_number is not distinct from ?
                and n_at_risk > 0
            order by group_value, interval_start_days
            """,
            [group["endpoint"], group["grouping"], group.get("line_number")],
        ).fetchnumpy()
        for value in dict.fromkeys(rows["group_value"].tolist()):
            mine = rows["group_value"] == value if value is not None else \
                np.array([v is None for v in rows["group_value"].tolist()])
            starts = rows["interval_start_days"][mine].astype(float)
            ends = rows["interval_end_days"][mine].astype(float)
            at_risk = rows["n_at_risk"][mine].astype(float)
            events = rows["n_events"][mine].astype(float)
            censored = rows["n_censored"][mine].astype(float)
            estimate = pooled_curve(starts, ends, at_risk, events, censored, alpha)
            # keep the estimate at 0 and at the interval ends (the grid), not at the
            # pseudo-sample's mid-interval censoring times
            keep = np.isin(estimate.time_days, np.concatenate([[0.0], ends]))
            n = int(keep.sum())
            start_at = {s: i for i, s in enumerate(starts)}
            end_at = {e: i for i, e in enumerate(ends)}
            out["endpoint"] += [group["endpoint"]] * n
            out["grouping"] += [group["grouping"]] * n
            out["line_number"] += [group.get("line_number")] * n
            out["group_value"] += [value] * n
            out["time_days"] += estimate.time_days[keep].round().astype(np.int64).tolist()
            out["survival"] += estimate.survival[keep].tolist()
            out["ci_lower"] += estimate.ci_lower[keep].tolist()
            out["ci_upper"] += estimate.ci_upper[keep].tolist()
            centres = rows["n_centres"][mine]
            for t in estimate.time_days[keep]:
                starting, ending = start_at.get(t), end_at.get(t)
                out["n_at_risk"].append(None if starting is None else float(at_risk[starting]))
                out["n_events"].append(0.0 if ending is None else float(events[ending]))
                out["n_centres"].append(int(centres[ending if ending is not None else 0]))
    return pa.Table.from_pydict(out, schema=SCHEMA)
