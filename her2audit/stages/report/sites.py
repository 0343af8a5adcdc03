"""Sites against each other: funnel plots of concordance by line group, under the report's
disclosure rule for sites.

**Disclosure rule.** Every site with at least one evaluable line is shown with its
position against the control limits (below the 99.8% limit, below the 95% limit, within,
above the 95% limit, above the 99.8% limit), computed from its exact counts: a position
says on which side of a limit a site lies, not how many lines it has, so it never shows
a count. A site's rate (and its concordant lines) is shown when its evaluable, concordant
and non-concordant lines are each 0 or at least 11 and no complementary suppression hides
them (sites × line groups add up to totals shown elsewhere, so suppression runs along
both); otherwise the rate is hidden and the site is drawn by position only. Its number of
evaluable lines is shown unless it is from 1 to 10 or hidden to protect such a count.
"""

from __future__ import annotations

from typing import Any

from her2audit.disclosure import ShownElsewhere, grid_relations, protect, shown_elsewhere
from her2audit.stages.report import data, figures, labels
from her2audit.stages.report.data import Source
from her2audit.stages.report.privacy import fmt_count, is_small, suppress_relations
from her2audit.stages.report.render import figure_html
from her2audit.stages.report.suppression import rate_cells

RULE = (
    "Every site with at least one evaluable line is shown with its position against the "
    "control limits, computed from its exact counts. Its rate is shown when its evaluable, "
    "concordant and non-concordant lines are each 0 or at least 11 and no complementary "
    "suppression hides them; otherwise the rate is hidden and the site is drawn by "
    "position only (the strip under each funnel). A position tells on which side of a limit "
    "a site lies, never how many lines it has, so no count from 1 to 10 can be read from it. "
    "Numbers of evaluable lines are shown unless they are from 1 to 10 or hidden to protect "
    "such a number."
)
LINE_ORDER = ("all", "1", "2", "3", "4+")


def suppress_sites(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Site × line-group rows with `rate` (None when hidden), `n_evaluable` (None when
    hidden), texts for the counts and `position` (always, when there is an evaluable line).
    """
    shown = rate_cells(rows, "site_id", "line", "n_concordant", "n_evaluable")
    hidden_den = _hidden_evaluable(rows)
    by_line: dict[str, list] = {}
    for r in shown:
        by_line.setdefault(r["line"], []).append(r)
    out = []
    for line, mine in by_line.items():
        hidden_patients = suppress_relations(
            {r["site_id"]: r.get("n_patients") or 0 for r in mine},
            [[r["site_id"] for r in mine]])
        hidden_lines = suppress_relations(
            {r["site_id"]: r.get("n_lines") or 0 for r in mine}, [[r["site_id"] for r in mine]])
        for r in mine:
            den_hidden = (r["site_id"], line) in hidden_den
            evaluable = r.get("n_evaluable") or 0
            out.append({
                **r,
                "rate": None if r["hidden"] else r["rate"],
                "n_evaluable": None if den_hidden or is_small(evaluable) else evaluable,
                "den_text": fmt_count(evaluable, den_hidden),
                "num_text": r["num_text"] if not r["hidden"] else fmt_count(
                    r.get("n_concordant") or 0, True),
                "patients_text": fmt_count(r.get("n_patients"),
                                           r["site_id"] in hidden_patients),
                "lines_text": fmt_count(r.get("n_lines"), r["site_id"] in hidden_lines),
                "position": r.get("funnel_position") if evaluable else None,
            })
    return out


def _hidden_evaluable(rows: list[dict[str, Any]]) -> set[tuple[str, str]]:
    """The (site, line group) numbers of evaluable lines to hide: a site's line groups add
    up to its 'all', and each line group's sites to the all-sites number shown in the
    concordance tables (known there unless hidden)."""
    cells = {(r["site_id"], r["line"]): r.get("n_evaluable") or 0 for r in rows}
    sums: dict[str, int] = {}
    for (_, line), n in cells.items():
        sums[line] = sums.get(line, 0) + n
    known = shown_elsewhere(sums, "all")
    return protect(cells, grid_relations(
        cells, "all", {line: ShownElsewhere(line) for line in sums if line in known}))


def _line_sort(line: str) -> int:
    return LINE_ORDER.index(line) if line in LINE_ORDER else len(LINE_ORDER)


def prepare(src: Source, site: str | None = None) -> dict[str, Any]:
    """Funnels per line group (with `site` highlighted and the others anonymous when given),
    the sites outside the limits, and every site's row."""
    rows = data.concordance_by_site(src)
    if not rows:
        return {"available": False}
    suppressed = suppress_sites(rows)
    lines = sorted({r["line"] for r in rows}, key=_line_sort)
    panels = []
    for line in lines:
        mine = [r for r in suppressed if r["line"] == line and r["position"]]
        p0 = next((r["expected_rate"] for r in rows
                   if r["line"] == line and r.get("expected_rate") is not None), None)
        fig = figures.funnel([dict(r) for r in mine], p0, highlight=site,
                             anonymous=site is not None)
        ranked = sorted(mine, key=lambda r: (r["rate"] is None, r["rate"] or 0, r["site_id"]))
        by_position = {pos: [{"site_id": r["site_id"], "rate": r["rate"], "position": pos}
                             for r in ranked if r["position"] == pos]
                       for pos in labels.positions()}
        outside = {side: [s for pos, sites in by_position.items() if pos.startswith(side)
                          for s in sites] for side in ("below", "above")}
        panels.append({
            "line": line, "label": labels.line(line), "p0": p0,
            "figure": figure_html(fig, f"fig-funnel-{line.replace('+', 'plus')}"),
            "n_sites": len(mine), "n_hidden": sum(1 for r in mine if r["rate"] is None),
            "below": outside["below"], "above": outside["above"],
            "by_position": by_position,
        })
    all_lines = [r for r in suppressed if r["line"] == "all"]
    return {"available": True, "panels": panels, "rows": all_lines, "rule": RULE,
            "this_site": [r for r in suppressed if r["site_id"] == site] if site else []}
