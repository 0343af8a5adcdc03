"""Robustness: how far the indicators and line concordance move over a grid of line
parameters (`her2audit sensitivity` writes `sensitivity`: one row per parameter set ×
measure). Columns are read as found (`measure_type`/`measure`, or `scope` with
`indicator`/`line_number`), so a table with more or fewer columns still renders. A rate
whose numerator, denominator or remainder is from 1 to 10 is not shown; counts of lines
follow the small-cell rule."""

from __future__ import annotations

from typing import Any

from her2audit.stages.report import data, labels
from her2audit.stages.report.data import Source
from her2audit.stages.report.privacy import fmt_count, fmt_rate, is_small

PARAMETERS = ("max_gap_days", "regimen_window_days", "pre_index_days")
RUN_FLAG = "is_run_parameters"
CHANGED = ("lines_changed", "n_lines_changed_category")
LINE_ORDER = {"all": 0, "1": 1, "2": 2, "3": 3, "4+": 4}


def _subject(row: dict[str, Any]) -> tuple[str, str]:
    """(kind, key): ('indicator', name) or ('line', line group)."""
    kind = str(row.get("measure_type") or row.get("scope") or "")
    key = row.get("measure")
    if key is None:
        key = row.get("indicator") if row.get("indicator") else row.get(
            "line_number", row.get("line"))
    if kind not in ("indicator", "line"):
        kind = "indicator" if row.get("indicator") else "line"
    if kind == "line" and isinstance(key, int):
        key = "4+" if key >= 4 else str(key)
    return kind, str(key)


def _label(kind: str, key: str) -> str:
    return labels.indicator(key) if kind == "indicator" else labels.line(key)


def _rate(row: dict[str, Any]) -> float | None:
    rate = row.get("rate")
    num, den = row.get("numerator"), row.get("denominator")
    if rate is None:
        return None
    if num is not None and den is not None and (
            is_small(num) or is_small(den) or is_small(den - num)):
        return None
    return float(rate)


def _changed(row: dict[str, Any]) -> int | None:
    return next((row[c] for c in CHANGED if row.get(c) is not None), None)


def prepare(src: Source, run_id: str | None = None) -> dict[str, Any]:
    """Per measure: this run's rate, the lowest and highest over the grid, the largest
    change and the most lines changing verdict; every parameter set in `detail`. When the
    table was computed on another run than `run_id`, `other_run` names it."""
    cols, rows = data.sensitivity(src)
    if not rows:
        return {"available": False, "summary": [], "detail": []}
    params = [c for c in PARAMETERS if c in cols]
    grid = [p for p in params if len({r.get(p) for r in rows}) > 1] or params
    subjects: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rows:
        subjects.setdefault(_subject(r), []).append(r)
    order = sorted(subjects, key=lambda s: (s[0] != "indicator", LINE_ORDER.get(s[1], 9),
                                            _label(*s)))
    summary, detail = [], []
    for subject in order:
        mine = subjects[subject]
        run = next((r for r in mine if r.get(RUN_FLAG)), None)
        rates = [x for x in (_rate(r) for r in mine) if x is not None]
        run_rate = _rate(run) if run else None
        changed = [c for c in (_changed(r) for r in mine) if c is not None]
        summary.append([
            _label(*subject), fmt_rate(run_rate),
            fmt_rate(min(rates)) if rates else "–", fmt_rate(max(rates)) if rates else "–",
            (f"{max(abs(x - run_rate) for x in rates) * 100:.1f} points"
             if rates and run_rate is not None else "–"),
            fmt_count(max(changed)) if changed else "–"])
        for r in sorted(mine, key=lambda r: tuple(r.get(p) or 0 for p in grid)):
            rate = _rate(r)
            detail.append({"run": bool(r.get(RUN_FLAG)), "cells": [
                _label(*subject) + (" (this run)" if r.get(RUN_FLAG) else "")]
                + ["–" if r.get(p) is None else str(r[p]) for p in grid]
                + [fmt_rate(rate),
                   (f"{(rate - run_rate) * 100:+.1f}" if rate is not None
                    and run_rate is not None else "–"),
                   fmt_count(_changed(r)) if _changed(r) is not None else "–"]})
    computed_on = sorted({str(r["run_id"]) for r in rows if r.get("run_id")})
    other = [r for r in computed_on if run_id and r != run_id]
    return {"available": True, "summary": summary, "detail": detail,
            "other_run": ", ".join(other) if other else None,
            "grid_headers": [p.replace("_", " ") for p in grid]}
