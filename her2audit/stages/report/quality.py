"""Cohort attrition and data quality: rows read, used and quarantined, quarantine by rule
(rules, counts and what each rule checks, never an example row), unmapped drug names,
expectation results."""

from __future__ import annotations

from typing import Any

from her2audit.stages.report import data, figures, labels
from her2audit.stages.report.data import Source
from her2audit.stages.report.privacy import THRESHOLD, fmt_count, is_small, suppress_parts
from her2audit.stages.report.render import figure_html
from her2audit.stages.report.suppression import merge_small_steps, observed

DRUG_NAME_CHARS = 60  # a free-text name is cut: a name is not a place for a paragraph


def prepare_cohort(src: Source) -> dict[str, Any]:
    rows = data.cohort_attrition(src)
    if not rows:
        return {"available": False}
    worded = [{**r, "step": labels.cohort_step(r["step"]),
               "reason": labels.cohort_reason(r.get("reason")) if r.get("n_excluded") else None}
              for r in rows]
    merged = merge_small_steps(worded)
    for m in merged:
        m["label"] = m["step"]
    return {"available": True, "merged_any": len(merged) < len(rows),
            "figure": figure_html(figures.attrition_funnel(merged), "fig-attrition"),
            "rows": [[m["step"], m["patients_text"], m["excluded_text"], m["reason"]]
                     for m in merged]}


def _rows_used(rows_in: int, used: int, quarantined: int) -> tuple[str, str]:
    """Rows used and quarantined as text. A quarantine of 1–10 rows is shown as "<11" and
    the rows used as the band it leaves ("51,990 to 51,999"), which tells no more."""
    if is_small(quarantined):
        return f"{rows_in - THRESHOLD + 1:,} to {rows_in - 1:,}", fmt_count(quarantined)
    return fmt_count(used), fmt_count(quarantined)


def prepare_data_quality(src: Source) -> dict[str, Any]:
    out: dict[str, Any] = {}
    accounting = data.row_accounting(src)
    hidden_totals = set()
    rows = []
    for r in accounting:
        used, quarantined = _rows_used(r["rows_in"] or 0, r["rows_staged"] or 0,
                                       r["rows_quarantined"] or 0)
        if is_small(r["rows_quarantined"]):
            hidden_totals.add(r["source_table"])
        rows.append([r["source_table"], fmt_count(r["rows_in"]), used, quarantined])
    out["accounting"] = {"available": bool(accounting), "rows": rows}

    by_rule = data.quarantine_by_rule(src)
    shown = []
    for table in sorted({r["source_table"] for r in by_rule}):
        mine = [r for r in by_rule if r["source_table"] == table]
        hidden = suppress_parts([r["n"] for r in mine])
        if table in hidden_totals:  # the rules would add up to the hidden total
            hidden = [True] * len(mine)
        for r, h in zip(mine, hidden, strict=True):
            shown.append({**r, "n": None if h else r["n"], "n_text": fmt_count(r["n"], h),
                          "description": labels.quarantine_rule(r["rule"])})
    shown.sort(key=lambda r: (-(r["n"] or 0), r["source_table"], r["rule"]))
    out["quarantine"] = {
        "available": src.has("quarantine"), "any": bool(shown),
        "figure": figure_html(figures.quarantine_bars(shown), "fig-quarantine"),
        "rows": [[r["source_table"], r["rule"], r["description"], r["n_text"]] for r in shown]}

    names, records, top = data.unmapped_drugs(src)
    listed = [r for r in top if not is_small(r["n_records"])]
    # the records of the names not listed are the total less the listed ones
    rest_small = is_small((records or 0) - sum(r["n_records"] for r in listed))
    out["unmapped"] = {
        "available": src.has("unmapped_drugs"), "names": names,
        "records": fmt_count(records, rest_small or None),
        "n_listed": len(listed), "n_rare": names - len(listed), "threshold": THRESHOLD,
        "rows": [[_clip(r["drug"]), fmt_count(r["n_records"])] for r in listed]}

    results = data.data_quality_results(src)
    cols = list(results[0]) if results else []
    res_rows = []
    for r in results:
        row = []
        for c in cols:
            v = r[c]
            if c == "success":
                v = "passed" if v else "FAILED"
            elif c == "unexpected_count":
                v = fmt_count(v)
            elif c == "observed_value":
                v = _observed_text(v, r.get("expectation"))
            row.append(v)
        res_rows.append(row)
    out["results"] = {
        "available": bool(results), "n": len(results),
        "failed": sum(1 for r in results if r.get("success") is False),
        "headers": [c.replace("_", " ") for c in cols], "rows": res_rows,
        "kinds": ["count" if c == "unexpected_count" else "" for c in cols]}
    return out


SHARE_WORDS = ("pct", "rate", "share", "ratio")


def _observed_text(value: object, expectation: str | None) -> str:
    """An observed value for reading: a share as a percentage, a count suppressed when
    small, a number rounded, text as it is."""
    if any(w in (expectation or "") for w in SHARE_WORDS):
        try:
            share = float(str(value))
        except ValueError:
            share = None
        if share is not None and 0 <= share <= 1:
            return "< 0.1%" if 0 < share < 0.001 else f"{share:.1%}"
    return labels.number(observed(value, expectation))


def _clip(text: str | None) -> str | None:
    if text is None or len(text) <= DRUG_NAME_CHARS:
        return text
    return text[:DRUG_NAME_CHARS] + "…"
