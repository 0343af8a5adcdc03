"""`case_review.html`: the internal listing of lines that were not concordant, per
patient with real identifiers, for clinical review. It says on its face that it contains
identifiable data; it is never part of the shareable report."""

from __future__ import annotations

import datetime as dt

from her2audit.stages.report import data
from her2audit.stages.report import render as html
from her2audit.stages.report.data import Source
from her2audit.stages.report.privacy import Pseudonymiser

WARNING = (
    "CONFIDENTIAL — CONTAINS IDENTIFIABLE PATIENT DATA. For clinical case review inside the "
    "care team only. Do not share, e-mail or publish this file; share index.html instead."
)


def render_case_review(src: Source, pseudo: Pseudonymiser, generated_at: dt.datetime) -> str:
    rows = data.discordant_lines(src)
    wide = ("<style>main { max-width: none; } td:nth-child(-n+5) { white-space: nowrap; }"
            "</style>")
    banner = wide + (f'<div class="missing" style="background:#ffebe9;border-color:#cf222e;'
              f'font-weight:600">{html.esc(WARNING)}</div>')
    if not src.has("line_concordance"):
        body = banner + html.note_missing(
            "Line concordance is not available in this warehouse; nothing to review.")
    else:
        counts: dict[str, int] = {}
        for r in rows:
            counts[r["category"]] = counts.get(r["category"], 0) + 1
        summary = ", ".join(f"{n:,} {c.replace('_', ' ')}" for c, n in sorted(counts.items()))
        total = data.count_discordant_lines(src)
        shown = (f" The first {len(rows):,} (by site and patient) are listed; the rest are in "
                 f"{src.schema}.line_concordance." if total > len(rows) else "")
        body = banner + html.note(
            f"{total:,} lines that were not concordant ({summary or 'none'}"
            f"{' among those listed' if shown else ''}), by site and patient. The pseudonym "
            "column links a patient to the pseudonyms of the shareable report made with the "
            f"same key.{shown}")
        body += html.table(
            ["site", "patient id", "pseudonym", "line", "start", "regimen", "ingredients",
             "rulebook", "verdict", "rule", "reason", "patient's sequence"],
            [[r["site_id"], r["patient_id"], pseudo(r["patient_id"]), r["line_number"],
              r["start_date"], r["regimen"], r["ingredients"], r["guideline_id"],
              (r["category"] or "").replace("_", " "), r["rule_id"], r["reason"],
              r["sequence"]] for r in rows],
            [False, False, False, True] + [False] * 8)
    section = html.section("case-review", "Lines for case review",
                             "Every line judged not recommended, trial, or not evaluable.", body)
    return html.page(
        "CONFIDENTIAL case review — identifiable data",
        f"her2audit case review · generated {generated_at:%Y-%m-%d %H:%M} UTC",
        [("case-review", "Lines for case review")], [section],
        html.esc(WARNING), with_plotly=False)

