"""Robustness: how far the indicators and line verdicts move over a grid of line
parameters (`her2audit sensitivity` writes the table). Columns are read as found, so a
table with more or fewer columns still renders."""

from __future__ import annotations

from typing import Any

from her2audit.stages.report import data, labels
from her2audit.stages.report.data import Source
from her2audit.stages.report.privacy import fmt_count, fmt_rate

PARAMETER_COLUMNS = ("parameter_set", "max_gap_days", "regimen_window_days", "pre_index_days")
SUBJECT_COLUMNS = ("scope", "indicator", "line_number", "line")
RUN_FLAG = "is_run_parameters"


def _kind(column: str) -> str:
    if column.startswith(("n_", "numerator", "denominator")):
        return "count"
    if column in ("rate", "concordance_rate") or column.endswith(("_rate", "_share", "_delta")):
        return "rate"
    return ""


def _subject(row: dict[str, Any]) -> str:
    if row.get("indicator"):
        return labels.indicator(str(row["indicator"]))
    for key in ("line_number", "line"):
        if row.get(key) is not None:
            value = row[key]
            return labels.line_number(value) if isinstance(value, int) else labels.line(value)
    return "All"


def prepare(src: Source) -> dict[str, Any]:
    cols, rows = data.sensitivity(src)
    if not rows:
        return {"available": src.has("sensitivity"), "rows": []}
    params = [c for c in PARAMETER_COLUMNS if c in cols]
    measures = [c for c in cols if c not in params and c not in SUBJECT_COLUMNS
                and c != RUN_FLAG and c != "run_id"]
    headers = (["indicator or line"] + [c.replace("_", " ") for c in params]
               + [c.replace("_", " ") for c in measures])
    kinds = [""] * (1 + len(params)) + [
        "count" if _kind(c) == "count" else "num" if _kind(c) else "" for c in measures]
    out = []
    ordered = sorted(rows, key=lambda r: (str(r.get("scope") or ""), _subject(r),
                                          not r.get(RUN_FLAG), str(r.get(params[0]) if params
                                                                   else "")))
    for r in ordered:
        cells = [_subject(r) + (" (this run)" if r.get(RUN_FLAG) else "")]
        cells += ["–" if r.get(c) is None else str(r[c]) for c in params]
        for c in measures:
            kind, v = _kind(c), r.get(c)
            cells.append(fmt_count(v) if kind == "count" else fmt_rate(v) if kind == "rate"
                         else labels.number(v))
        out.append({"cells": cells, "run": bool(r.get(RUN_FLAG))})
    return {"available": True, "headers": headers, "kinds": kinds, "rows": out}
