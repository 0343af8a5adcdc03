"""Concordant vs not concordant: log-rank tests and Cox models (lifelines, Efron ties).

For each endpoint and each line in the configuration (SPEC §7; default os, ttnt, ttd at
lines 1–3): a log-rank test and, for the Cox endpoints (default os and ttnt), an
unadjusted Cox model and a Cox model adjusted for the configured covariates (age, HR
status, CNS involvement, de novo disease, calendar year).
Lines whose category is excluded (`not_evaluable`) are left out. The hazard ratio is that
of concordant relative to not concordant lines.

Degenerate data never crash the stage; each row carries a `status`:
`too_small` (fewer than the minimum group size in all), `one_group_empty`, `no_events`
(no events at all, or none in one group: the hazard ratio is not estimable),
`convergence_warning` (lifelines warned; numbers kept, read with care), `failed`
(lifelines raised; the message is in `note`), else `estimated`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from lifelines import CoxPHFitter
from lifelines.exceptions import ConvergenceError, ConvergenceWarning
from lifelines.statistics import logrank_test

COMPARISON = "concordant vs not concordant"
LOG_RANK = "log_rank"
COX_UNADJUSTED = "cox_unadjusted"
COX_ADJUSTED = "cox_adjusted"
METHODS = {
    LOG_RANK: "log-rank test",
    COX_UNADJUSTED: "Cox proportional hazards, Efron ties",
    COX_ADJUSTED: "Cox proportional hazards, Efron ties",
}

SCHEMA = pa.schema(
    [
        ("endpoint", pa.string()),
        ("line_number", pa.int32()),
        ("comparison", pa.string()),
        ("model", pa.string()),
        ("method", pa.string()),
        ("n", pa.int64()),
        ("events", pa.int64()),
        ("n_concordant", pa.int64()),
        ("events_concordant", pa.int64()),
        ("n_not_concordant", pa.int64()),
        ("events_not_concordant", pa.int64()),
        ("hazard_ratio", pa.float64()),
        ("hr_ci_lower", pa.float64()),
        ("hr_ci_upper", pa.float64()),
        ("p_value", pa.float64()),
        ("test_statistic", pa.float64()),
        ("covariates", pa.string()),
        ("status", pa.string()),
        ("note", pa.string()),
        ("caveat", pa.string()),
    ]
)


def _float(value: Any) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def _counts(data: pd.DataFrame) -> dict[str, int]:
    conc = data["concordant"] == 1.0
    return {
        "n": len(data),
        "events": int(data["event"].sum()),
        "n_concordant": int(conc.sum()),
        "events_concordant": int(data.loc[conc, "event"].sum()),
        "n_not_concordant": int((~conc).sum()),
        "events_not_concordant": int(data.loc[~conc, "event"].sum()),
    }


def _degenerate(counts: Mapping[str, int], min_n: int) -> tuple[str, str] | None:
    """Why a comparison cannot be estimated at all, or None."""
    if counts["n"] == 0:
        return "too_small", "no lines"
    if counts["n_concordant"] == 0 or counts["n_not_concordant"] == 0:
        return "one_group_empty", "one of the two groups has no lines"
    if counts["n"] < min_n:
        return "too_small", f"fewer than {min_n} lines in all"
    if counts["events"] == 0:
        return "no_events", "no events in either group"
    return None


def log_rank(data: pd.DataFrame) -> dict[str, Any]:
    conc = data["concordant"] == 1.0
    result = logrank_test(
        data.loc[conc, "days"],
        data.loc[~conc, "days"],
        event_observed_A=data.loc[conc, "event"],
        event_observed_B=data.loc[~conc, "event"],
    )
    return {"p_value": _float(result.p_value), "test_statistic": _float(result.test_statistic)}


def censored_at_last_event_time(days: np.ndarray, event: np.ndarray) -> np.ndarray:
    """Move every censored time down to the latest event time at or before it (0 when
    there is none); event times stay.

    The Cox partial likelihood (Efron or Breslow) depends on the data only through the
    risk set at each event time, and a line censored at t is at risk at exactly the
    event times <= t before and after the move. So the fit is the same, while lifelines'
    Efron loop, which walks every distinct time, has only the event times to walk.
    """
    days = np.asarray(days, dtype=float)
    is_event = np.asarray(event, dtype=float) == 1.0
    event_times = np.unique(days[is_event])
    if len(event_times) == 0:
        return days
    position = np.searchsorted(event_times, days, side="right") - 1
    moved = np.where(position >= 0, event_times[np.maximum(position, 0)], 0.0)
    return np.where(is_event, days, moved)


def cox(data: pd.DataFrame, covariates: Sequence[str], alpha: float) -> dict[str, Any]:
    """Cox model of `days`/`event` on `concordant` (+ covariates); Efron ties (lifelines)."""
    frame = data[["days", "event", "concordant", *covariates]].assign(
        days=censored_at_last_event_time(data["days"].to_numpy(), data["event"].to_numpy())
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        fitter = CoxPHFitter(alpha=alpha).fit(
            frame, duration_col="days", event_col="event", batch_mode=True
        )
    row = fitter.summary.loc["concordant"]
    level = round((1 - alpha) * 100)
    convergence = [str(w.message).splitlines()[0] for w in caught
                   if issubclass(w.category, ConvergenceWarning)]
    return {
        "hazard_ratio": _float(row["exp(coef)"]),
        "hr_ci_lower": _float(row[f"exp(coef) lower {level}%"]),
        "hr_ci_upper": _float(row[f"exp(coef) upper {level}%"]),
        "p_value": _float(row["p"]),
        "test_statistic": _float(row["z"]),
        "warning": "; ".join(dict.fromkeys(convergence)) or None,
    }


def models_of(endpoint: str, cox_endpoints: Sequence[str]) -> tuple[str, ...]:
    """The comparisons an endpoint gets, in the order of their rows."""
    return (LOG_RANK, COX_UNADJUSTED, COX_ADJUSTED) if endpoint in cox_endpoints else (LOG_RANK,)


def compare_concordance(
    lines: pd.DataFrame | pa.Table,
    endpoints: Sequence[str],
    line_numbers: Sequence[int],
    covariates: Sequence[str],
    caveat: str,
    min_n: int,
    alpha: float = 0.05,
    cox_endpoints: Sequence[str] | None = None,
    models: Sequence[str] | None = None,
) -> pa.Table:
    """All comparisons. `lines` (pandas or Arrow) has line_number, concordance
    ('concordant' or 'not_concordant'), `<endpoint>_days`, `<endpoint>_event` and the
    covariates. Every endpoint gets a log-rank test; those in `cox_endpoints` (default:
    all) also the two Cox models. `models` keeps only those of the comparisons (the stage
    spreads one Cox model per task over its worker processes)."""
    cox_endpoints = endpoints if cox_endpoints is None else cox_endpoints
    if isinstance(lines, pa.Table):
        lines = lines.to_pandas()
    rows: list[dict[str, Any]] = []
    for endpoint in endpoints:
        for line_number in line_numbers:
            subset = lines[lines["line_number"] == line_number]
            data = pd.DataFrame(
                {
                    "days": subset[f"{endpoint}_days"].astype(float),
                    "event": subset[f"{endpoint}_event"].astype(float),
                    "concordant": (subset["concordance"] == "concordant").astype(float),
                }
            )
            for column in covariates:
                data[column] = subset[column].astype(float)
            data = data.dropna(subset=["days", "event"]).reset_index(drop=True)
            chosen = [m for m in models_of(endpoint, cox_endpoints)
                      if models is None or m in models]
            rows.extend(
                _compare_one(data, endpoint, line_number, covariates, caveat, min_n, alpha,
                             chosen)
            )
    table: dict[str, list] = {name: [r.get(name) for r in rows] for name in SCHEMA.names}
    return pa.Table.from_pydict(table, schema=SCHEMA)


def _compare_one(
    data: pd.DataFrame,
    endpoint: str,
    line_number: int,
    covariates: Sequence[str],
    caveat: str,
    min_n: int,
    alpha: float,
    models: Sequence[str] = (LOG_RANK, COX_UNADJUSTED, COX_ADJUSTED),
) -> list[dict[str, Any]]:
    base = {"endpoint": endpoint, "line_number": line_number, "comparison": COMPARISON,
            "caveat": caveat}
    out = []
    for model in models:
        row = {**base, "model": model, "method": METHODS[model]}
        used: list[str] = []
        note: list[str] = []
        frame = data
        if model == COX_ADJUSTED:
            complete = data.dropna(subset=list(covariates))
            if len(complete) < len(data):
                note.append(f"{len(data) - len(complete)} lines with a missing covariate left out")
            frame = complete.reset_index(drop=True)
            for column in covariates:
                if frame[column].nunique() > 1:
                    used.append(column)
                elif len(frame):
                    note.append(f"{column} constant: left out")
        row["covariates"] = ", ".join(["concordant", *used]) if model != LOG_RANK else None
        counts = _counts(frame)
        row.update(counts)
        problem = _degenerate(counts, min_n)
        if problem is None and model != LOG_RANK and (
            counts["events_concordant"] == 0 or counts["events_not_concordant"] == 0
        ):
            problem = ("no_events", "no events in one group: hazard ratio not estimable")
        if problem is not None:
            row["status"], message = problem
            row["note"] = "; ".join([message, *note])
            out.append(row)
            continue
        try:
            if model == LOG_RANK:
                row.update(log_rank(frame))
                warning = None
            else:
                result = cox(frame, used if model == COX_ADJUSTED else [], alpha)
                warning = result.pop("warning")
                row.update(result)
            row["status"] = "convergence_warning" if warning else "estimated"
            if warning:
                note.append(warning)
        except (ConvergenceError, np.linalg.LinAlgError, ValueError, ZeroDivisionError) as exc:
            row["status"] = "failed"
            note.append(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
        row["note"] = "; ".join(note) or None
        out.append(row)
    return out
