"""Quality indicators: all sites and years (cards with their targets), and "when": one
small panel per indicator over calendar years with control limits and each year's n."""

from __future__ import annotations

from typing import Any

from her2audit.stages.report import data, figures, labels
from her2audit.stages.report.data import Source
from her2audit.stages.report.privacy import fmt_rate
from her2audit.stages.report.render import figure_html
from her2audit.stages.report.suppression import rate_cells


def prepare(src: Source, site: str | None = None) -> dict[str, Any]:
    rows = data.quality_indicators(src)
    if not rows:
        return {"available": False}
    grid = rate_cells(
        [{**r, "period": "all"} for r in rows] + data.quality_indicator_trend(src),
        "indicator", "period", "numerator", "denominator", total_column="all",
        columns_add_up=False)
    mine: dict[str, dict[str, Any]] = {}
    if site is not None:
        # every site's cells protected together: an indicator's sites add up to its
        # all-sites figures, shown beside them (with two sites, the other site's figures
        # would otherwise be the difference)
        site_rows = rate_cells(data.site_indicators(src), "site_id", "indicator", "numerator",
                               "denominator", total_column=None, columns_add_up=True)
        mine = {r["indicator"]: r for r in site_rows if r["site_id"] == site}
    cards, panels = [], []
    for r in (g for g in grid if g["period"] == "all"):
        title = labels.indicator(r["indicator"], r.get("label"))
        target, source = labels.indicator_target(r["indicator"])
        here = mine.get(r["indicator"])
        cards.append({
            "indicator": r["indicator"], "title": title, "rate": fmt_rate(r["rate"]),
            "num": r["num_text"], "den": r["den_text"],
            "definition": r.get("definition") or "definition not recorded",
            "target": None if target is None else f"{target:.0%}", "target_source": source,
            "target_note": (source or "").split(" (")[0],
            "meets": None if target is None or r["rate"] is None else r["rate"] >= target,
            "site_rate": fmt_rate(here["rate"]) if here else None,
            "site_num": here["num_text"] if here else None,
            "site_den": here["den_text"] if here else None,
        })
        years = [{"year": int(g["period"]), "rate": g["rate"],
                  "den": None if g["hidden"] else g.get("denominator"),
                  "den_text": g["den_text"], "num_text": g["num_text"]}
                 for g in grid if g["indicator"] == r["indicator"] and g["period"] != "all"]
        panels.append({"title": title, "p0": r["rate"], "target": target,
                       "years": sorted(years, key=lambda y: y["year"])})
    return {"available": True, "cards": cards,
            "figure": figure_html(figures.indicator_panels(panels), "fig-indicator-trend")}
