"""`case_review.html`: the internal listing of lines that were not concordant, per
patient with real identifiers, for clinical review, and one example of a quarantined row
per rule. It says on its face that it contains identifiable data; it is never part of the
shareable report."""

from __future__ import annotations

import datetime as dt
from typing import Any

from her2audit.stages.report import data, labels
from her2audit.stages.report.data import Source
from her2audit.stages.report.privacy import Pseudonymiser
from her2audit.stages.report.render import render

WARNING = (
    "CONFIDENTIAL — CONTAINS IDENTIFIABLE PATIENT DATA. For clinical case review inside the "
    "care team only. Do not share, e-mail or publish this file; share index.html instead."
)
EXAMPLE_CHARS = 500  # a quarantined value can be a whole file's worth of text


def _clip(text: str | None) -> str | None:
    if text is None or len(text) <= EXAMPLE_CHARS:
        return text
    return f"{text[:EXAMPLE_CHARS]}… ({len(text):,} characters)"


def _review(src: Source, pseudo: Pseudonymiser) -> dict[str, Any]:
    if not src.has("line_concordance"):
        return {"available": False}
    rows = data.discordant_lines(src)
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["category"]] = counts.get(r["category"], 0) + 1
    summary = ", ".join(f"{n:,} {labels.category(c).lower()}" for c, n in sorted(counts.items()))
    total = data.count_discordant_lines(src)
    shown = (f" The first {len(rows):,} (by site and patient) are listed; the rest are in "
             f"{src.schema}.line_concordance." if total > len(rows) else "")
    return {
        "available": True,
        "summary": (f"{total:,} lines that were not concordant ({summary or 'none'}"
                    f"{' among those listed' if shown else ''}), by site and patient. The "
                    "pseudonym column links a patient to the pseudonyms of reports made with "
                    f"the same key.{shown}"),
        "rows": [[r["site_id"], r["patient_id"], pseudo(r["patient_id"]), r["line_number"],
                  r["start_date"], r["regimen"], r["ingredients"], r["guideline_id"],
                  labels.category(r["category"] or ""), r["rule_id"], r["reason"],
                  r["sequence"]] for r in rows],
    }


def _quarantine(src: Source, pseudo: Pseudonymiser) -> dict[str, Any]:
    """One quarantined row per table and rule, as recorded (the row's own values): for the
    data manager, never for the shareable report."""
    if not src.has("quarantine"):
        return {"available": False}
    return {"available": True, "rows": [
        [e["source_table"], e["rule"], e["record_key"], e["patient_id"],
         pseudo(e["patient_id"]), _clip(e["detail"])] for e in data.quarantine_examples(src)]}


def render_case_review(src: Source, pseudo: Pseudonymiser, generated_at: dt.datetime) -> str:
    return render(
        "case_review.html.j2", title="CONFIDENTIAL case review — identifiable data",
        subtitle=f"her2audit case review · generated {generated_at:%Y-%m-%d %H:%M} UTC",
        toc=[("case-review", "Lines for case review"), ("quarantine", "Quarantined rows")],
        with_plotly=False, warning=WARNING, review=_review(src, pseudo),
        quarantine=_quarantine(src, pseudo))
