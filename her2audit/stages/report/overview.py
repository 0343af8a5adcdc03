"""The first screen: data cut-off and follow-up, cohort, and a few findings, each linking
to the section that shows it (and said only when that section shows it too)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from her2audit.stages.report import data, labels
from her2audit.stages.report.data import Source
from her2audit.stages.report.privacy import THRESHOLD, fmt_count, fmt_rate, is_small
from her2audit.stages.report.render import months
from her2audit.stages.report.suppression import suppress_category_rows


def follow_up(src: Source, site: str | None = None) -> dict[str, Any] | None:
    """Median follow-up from metastatic diagnosis (reverse Kaplan–Meier, estimated by the
    outcomes stage), or None (not available, or fewer patients than the threshold)."""
    fu = data.median_follow_up(src, site)
    if fu is None or fu["n"] < THRESHOLD or fu["median_days"] is None:
        return None
    lower, upper = fu["median_ci_lower_days"], fu["median_ci_upper_days"]
    ci = (f"95% CI {months(lower)}–{months(upper)}"
          if lower is not None and upper is not None else "")
    return {"months": months(fu["median_days"]), "ci": ci}


def _cards(src: Source, cutoff: dt.date | None, fu: dict[str, Any] | None,
           info: dict[str, Any]) -> list[dict[str, Any]]:
    first, last = data.data_period(src)
    n = data.cohort_size(src)
    cards = [
        {"name": "Data cut-off", "value": f"{cutoff:%d %b %Y}" if cutoff else "not recorded",
         "sub": "follow-up is censored at this date", "key": True},
        {"name": "Median follow-up",
         "value": f"{fu['months']} months" if fu else "not available",
         "sub": ("from metastatic diagnosis, reverse Kaplan–Meier"
                 + (f" ({fu['ci']})" if fu and fu["ci"] else "")), "key": True},
        {"name": "Patients in the audit cohort", "value": fmt_count(n) if n is not None else "–",
         "sub": "HER2-positive metastatic breast cancer"},
    ]
    if first is not None:
        cards.append({"name": "Lines of therapy started",
                      "value": f"{first:%Y} – {last:%Y}",
                      "sub": f"{first:%Y-%m-%d} to {last:%Y-%m-%d}"})
    return cards


def findings(src: Source, sites: dict[str, Any], deviations: dict[str, Any]
             ) -> list[dict[str, str]]:
    """Sentences for the first screen, each with the anchor of the section that shows it;
    each from an already suppressed figure (nothing is said that a section would hide)."""
    out = []
    rows = suppress_category_rows(data.concordance_by_line(src), total_key="line")
    by_line = {r["line"]: r for r in rows}
    overall = by_line.get("all")
    if overall and overall["rate"] is not None:
        worst = min((r for k, r in by_line.items() if k != "all" and r["rate"] is not None),
                    key=lambda r: r["rate"], default=None)
        out.append({"anchor": "concordance", "text": (
            f"{fmt_rate(overall['rate'])} of evaluable lines followed the guideline in force "
            "(preferred or alternative regimen)"
            + (f"; the lowest share is in the {labels.line(worst['line']).lower()} "
               f"({fmt_rate(worst['rate'])})." if worst else "."))})
    if sites.get("available"):
        panel = next((p for p in sites["panels"] if p["line"] == "all"), None)
        if panel:
            def named(items: list[dict[str, Any]]) -> str:
                return ", ".join(f"{s['site_id']} ({fmt_rate(s['rate'])})"
                                 if s["rate"] is not None else f"{s['site_id']} (rate hidden)"
                                 for s in items) or "none"
            below = [s for s in panel["below"] if s["position"] == "below 99.8%"]
            above = [s for s in panel["above"] if s["position"] == "above 99.8%"]
            out.append({"anchor": "sites", "text": (
                f"Of {panel['n_sites']} sites, {len(below)} lie below the 99.8% control limit "
                f"of concordance: {named(below)}; {len(above)} lie above it: {named(above)}.")})
    top = deviations.get("top") if deviations.get("available") else None
    if top:
        block = top["block"]
        out.append({"anchor": "deviations", "text": (
            f"The most frequent regimen given instead of the preferred one is "
            f"{top['label']} in the {block['line'].lower()} under {block['era']} "
            f"({top['n_text']} lines, {fmt_rate(top['share'])} of the lines of that line and "
            f"era; preferred: {block['preferred_label']}).")})
    cols, comps = data.survival_comparisons(src)
    count_cols = [c for c in cols if c in ("n", "events") or c.startswith(("n_", "events_"))]
    for r in comps:
        model = str(r.get("model", ""))
        if (r.get("endpoint") == "os" and r.get("line_number") == 1
                and model.endswith("adjusted") and "unadjusted" not in model
                and r.get("hazard_ratio") is not None
                and not any(is_small(r.get(c)) for c in count_cols)):
            lo, hi = r.get("hr_ci_lower"), r.get("hr_ci_upper")
            ci = f" (95% CI {lo:.2f}–{hi:.2f})" if lo is not None and hi is not None else ""
            out.append({"anchor": "outcomes", "text": (
                f"First line: patients treated as recommended had an adjusted hazard ratio for "
                f"death of {r['hazard_ratio']:.2f}{ci} against those who were not — an "
                "observational association, not proof of cause.")})
            break
    return out


def prepare(src: Source, info: dict[str, Any], cutoff: dt.date | None,
            fu: dict[str, Any] | None, glance: list[dict[str, str]]) -> dict[str, Any]:
    return {"cards": _cards(src, cutoff, fu, info), "glance": glance}
