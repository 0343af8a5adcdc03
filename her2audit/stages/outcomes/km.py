"""Kaplan–Meier estimation per group with lifelines.

The input is already aggregated in SQL: for each group, one row per distinct time with
the number of events and of censored times there. lifelines' `KaplanMeierFitter` takes
those counts as integer `weights`, which gives exactly the estimate of the expanded
per-patient data (the event table is a weighted count), in a fraction of the time.

Conventions (SPEC §7, lifelines' defaults): Greenwood variance, log(−log) ("exponential
Greenwood") pointwise intervals, median = first time S(t) ≤ 0.5, median interval = the
first times the lower and the upper band are ≤ 0.5 (Brookmeyer–Crowley style, as
`lifelines.utils.median_survival_times(kmf.confidence_interval_)` and R's
`survfit(conf.type = "log-log")`). A median or limit never reached is null.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pyarrow as pa
from lifelines import KaplanMeierFitter

ESTIMATED = "estimated"
MEDIAN_NOT_REACHED = "median_not_reached"
NO_EVENTS = "no_events"
TOO_SMALL = "too_small"


@dataclasses.dataclass(frozen=True)
class KMEstimate:
    """One fitted curve: the step function and its median with interval."""

    time_days: np.ndarray
    survival: np.ndarray
    ci_lower: np.ndarray
    ci_upper: np.ndarray
    n_at_risk: np.ndarray
    n_events: np.ndarray
    n_censored: np.ndarray
    median_days: float | None
    median_ci_lower_days: float | None
    median_ci_upper_days: float | None


def _finite(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def fit_counts(
    times: np.ndarray,
    n_events: np.ndarray,
    n_censored: np.ndarray,
    alpha: float = 0.05,
) -> KMEstimate:
    """Kaplan–Meier from distinct times with their numbers of events and censored times."""
    times = np.asarray(times, dtype=float)
    n_events = np.asarray(n_events, dtype=float)
    n_censored = np.asarray(n_censored, dtype=float)
    has_event = n_events > 0
    has_censored = n_censored > 0
    durations = np.concatenate([times[has_event], times[has_censored]])
    observed = np.concatenate(
        [np.ones(int(has_event.sum()), dtype=bool), np.zeros(int(has_censored.sum()), dtype=bool)]
    )
    weights = np.concatenate([n_events[has_event], n_censored[has_censored]])
    kmf = KaplanMeierFitter(alpha=alpha).fit(durations, observed, weights=weights)

    # survival_function_, confidence_interval_ and event_table share one index: the
    # timeline (0 and every distinct time)
    timeline = kmf.survival_function_.index.to_numpy(dtype=float)
    table = kmf.event_table
    lower = kmf.confidence_interval_.iloc[:, 0].to_numpy(dtype=float)
    upper = kmf.confidence_interval_.iloc[:, 1].to_numpy(dtype=float)
    return KMEstimate(
        time_days=timeline,
        survival=kmf.survival_function_.iloc[:, 0].to_numpy(dtype=float),
        ci_lower=lower,
        ci_upper=upper,
        n_at_risk=table["at_risk"].to_numpy(dtype=float).round().astype(np.int64),
        n_events=table["observed"].to_numpy(dtype=float).round().astype(np.int64),
        n_censored=table["censored"].to_numpy(dtype=float).round().astype(np.int64),
        median_days=_finite(kmf.median_survival_time_),
        median_ci_lower_days=first_time_at_or_below(timeline, lower),
        median_ci_upper_days=first_time_at_or_below(timeline, upper),
    )


def first_time_at_or_below(
    times: np.ndarray, curve: np.ndarray, q: float = 0.5
) -> float | None:
    """First time a non-increasing curve is at or below q, or None if it never is.

    The rule of `lifelines.utils.qth_survival_time` (which
    `median_survival_times(kmf.confidence_interval_)` applies to each band), on arrays:
    the same numbers without two pandas round trips per group (tested equal).
    """
    if len(curve) == 0 or curve[-1] > q:
        return None
    return float(times[int(np.searchsorted(-curve, -q, side="left"))])


def fit_durations(
    durations: np.ndarray, events: np.ndarray, alpha: float = 0.05
) -> KMEstimate:
    """Kaplan–Meier from one duration and event flag per patient (aggregates, then fits)."""
    durations = np.asarray(durations, dtype=float)
    events = np.asarray(events, dtype=bool)
    times, inverse = np.unique(durations, return_inverse=True)
    n_events = np.bincount(inverse, weights=events.astype(float), minlength=len(times))
    n_total = np.bincount(inverse, minlength=len(times)).astype(float)
    return fit_counts(times, n_events, n_total - n_events, alpha)


SUMMARY_SCHEMA = pa.schema(
    [
        ("endpoint", pa.string()),
        ("grouping", pa.string()),
        ("group_label", pa.string()),
        ("line_number", pa.int32()),
        ("group_value", pa.string()),
        ("n", pa.int64()),
        ("events", pa.int64()),
        ("median_days", pa.float64()),
        ("median_ci_lower_days", pa.float64()),
        ("median_ci_upper_days", pa.float64()),
        ("status", pa.string()),
        ("note", pa.string()),
    ]
)

CURVE_SCHEMA = pa.schema(
    [
        ("endpoint", pa.string()),
        ("grouping", pa.string()),
        ("group_label", pa.string()),
        ("line_number", pa.int32()),
        ("group_value", pa.string()),
        ("time_days", pa.int64()),
        ("survival", pa.float64()),
        ("ci_lower", pa.float64()),
        ("ci_upper", pa.float64()),
        ("n_at_risk", pa.int64()),
        ("n_events", pa.int64()),
        ("n_censored", pa.int64()),
    ]
)


def status_of(n: int, events: int, estimate: KMEstimate | None, min_n: int) -> tuple[str, str]:
    """Machine-readable status and a readable note for one group."""
    if n < min_n:
        return TOO_SMALL, f"fewer than {min_n} patients: not estimated, no curve"
    if events == 0:
        return NO_EVENTS, "no events: survival stays at 1, median not estimable"
    if estimate is None or estimate.median_days is None:
        return MEDIAN_NOT_REACHED, "survival did not fall to 0.5: median not reached"
    if estimate.median_ci_upper_days is None:
        return ESTIMATED, "upper confidence limit of the median not reached"
    return ESTIMATED, ""


def estimate_groups(
    groups: pa.Table, observations: pa.Table, min_n: int, alpha: float = 0.05
) -> tuple[pa.Table, pa.Table]:
    """Fit every group; returns (survival_summary, survival_curves) as Arrow tables.

    `groups`: group_id, endpoint, grouping, group_label, line_number, group_value, n,
    events (ordered by group_id). `observations`: group_id, time_days, n_events,
    n_censored ordered by group_id, time_days.
    """
    g = {name: groups.column(name).to_pylist() for name in groups.column_names}
    obs_group = observations.column("group_id").to_numpy()
    obs_time = observations.column("time_days").to_numpy().astype(float)
    obs_events = observations.column("n_events").to_numpy().astype(float)
    obs_censored = observations.column("n_censored").to_numpy().astype(float)
    # rows of each group in the (sorted) observations
    ids = np.asarray(g["group_id"], dtype=obs_group.dtype if len(obs_group) else np.int64)
    starts = np.searchsorted(obs_group, ids, side="left")
    ends = np.searchsorted(obs_group, ids, side="right")

    summary: dict[str, list] = {name: [] for name in SUMMARY_SCHEMA.names}
    curve_parts: list[KMEstimate] = []
    curve_groups: list[int] = []
    for i in range(len(ids)):
        n, events = int(g["n"][i]), int(g["events"][i])
        estimate = None
        if n >= min_n:
            rows = slice(starts[i], ends[i])
            estimate = fit_counts(obs_time[rows], obs_events[rows], obs_censored[rows], alpha)
            curve_parts.append(estimate)
            curve_groups.append(i)
        status, note = status_of(n, events, estimate, min_n)
        for name in ("endpoint", "grouping", "group_label", "line_number", "group_value"):
            summary[name].append(g[name][i])
        summary["n"].append(n)
        summary["events"].append(events)
        keep = estimate is not None and events > 0
        summary["median_days"].append(estimate.median_days if keep else None)
        summary["median_ci_lower_days"].append(estimate.median_ci_lower_days if keep else None)
        summary["median_ci_upper_days"].append(estimate.median_ci_upper_days if keep else None)
        summary["status"].append(status)
        summary["note"].append(note or None)

    summary_table = pa.Table.from_pydict(summary, schema=SUMMARY_SCHEMA)
    lengths = np.array([len(e.time_days) for e in curve_parts], dtype=np.int64)
    owner = np.repeat(np.asarray(curve_groups, dtype=np.int64), lengths)

    def labels(name: str) -> pa.Array:
        values = pa.array(g[name], type=CURVE_SCHEMA.field(name).type)
        return values.take(pa.array(owner)) if len(owner) else pa.array([], values.type)

    def stacked(field: str, dtype: type) -> np.ndarray:
        if not curve_parts:
            return np.array([], dtype=dtype)
        return np.concatenate([getattr(e, field) for e in curve_parts]).astype(dtype)

    curves = pa.Table.from_arrays(
        [
            labels("endpoint"),
            labels("grouping"),
            labels("group_label"),
            labels("line_number"),
            labels("group_value"),
            pa.array(stacked("time_days", np.float64).round().astype(np.int64)),
            pa.array(stacked("survival", np.float64)),
            pa.array(stacked("ci_lower", np.float64)),
            pa.array(stacked("ci_upper", np.float64)),
            pa.array(stacked("n_at_risk", np.int64)),
            pa.array(stacked("n_events", np.int64)),
            pa.array(stacked("n_censored", np.int64)),
        ],
        schema=CURVE_SCHEMA,
    )
    return summary_table, curves


FOLLOW_UP_SCHEMA = pa.schema(
    [
        ("site_id", pa.string()),
        ("n", pa.int64()),
        ("deaths", pa.int64()),
        ("median_days", pa.float64()),
        ("median_ci_lower_days", pa.float64()),
        ("median_ci_upper_days", pa.float64()),
    ]
)


def median_follow_up(observations: pa.Table, alpha: float = 0.05) -> pa.Table:
    """Median follow-up per scope by the reverse Kaplan–Meier method (Schemper & Smith
    1996): the Kaplan–Meier median of the time to censoring, a death counted as censored,
    with its interval; null when every patient died (nothing is censored) or not reached.

    `observations`: site_id, time_days, n_followed, n_died ordered by site_id, time_days
    (staging.follow_up_observations). The report reads the result instead of fitting
    (importing lifelines cost the report stage 2–3 s)."""
    scope = observations.column("site_id").to_numpy(zero_copy_only=False)
    time = observations.column("time_days").to_numpy().astype(float)
    followed = observations.column("n_followed").to_numpy().astype(float)
    died = observations.column("n_died").to_numpy().astype(float)
    # the rows of each scope: runs of one site_id (the input is ordered by it)
    edges = ([0, *(np.flatnonzero(scope[1:] != scope[:-1]) + 1).tolist(), len(scope)]
             if len(scope) else [])
    rows: dict[str, list] = {name: [] for name in FOLLOW_UP_SCHEMA.names}
    for start, end in zip(edges[:-1], edges[1:], strict=True):
        rows_of = slice(start, end)
        n_followed, n_died = int(followed[rows_of].sum()), int(died[rows_of].sum())
        estimate = (fit_counts(time[rows_of], followed[rows_of], died[rows_of], alpha)
                    if n_followed > 0 else None)
        rows["site_id"].append(str(scope[start]))
        rows["n"].append(n_followed + n_died)
        rows["deaths"].append(n_died)
        rows["median_days"].append(estimate.median_days if estimate else None)
        rows["median_ci_lower_days"].append(estimate.median_ci_lower_days if estimate else None)
        rows["median_ci_upper_days"].append(estimate.median_ci_upper_days if estimate else None)
    return pa.Table.from_pydict(rows, schema=FOLLOW_UP_SCHEMA)
