"""What happened to the patients: treatment sequences by verdict (Sankey), Kaplan–Meier
small multiples per line with numbers at risk, medians, and hazard ratios."""

from __future__ import annotations

from typing import Any

from her2audit.disclosure import ShownElsewhere, protect, remainders
from her2audit.stages.report import data, figures, labels
from her2audit.stages.report.data import Source
from her2audit.stages.report.privacy import THRESHOLD, fmt_count, is_small
from her2audit.stages.report.render import figure_html, months
from her2audit.stages.report.suppression import suppress_summary

PANEL_LINES = (1, 2, 3, 4)
AT_RISK_MONTHS = tuple(range(0, 241, 12))  # under each panel's yearly ticks
MAIN_GROUPINGS = ("overall", "line", "line_concordance")
GROUP_COLOURS = {"concordant": labels.category_colour("preferred"),
                 "not_concordant": labels.category_colour("not_recommended")}


def prepare_sequences(src: Source, cutoff: Any, site: str | None = None) -> dict[str, Any]:
    """The flows of patients between verdicts and what followed (Sankey), those that
    `hidden_flows` hides left out. With `site` (the site report, read beside the shareable
    one) a flow's other-site patients, all sites' flow less this site's, are protected too."""
    if not src.has("lines_of_therapy"):
        return {"available": False}
    days = int(labels.wording()["follow_up"]["lost_after_days"])
    links = data.verdict_flows(src, cutoff, days, threshold=1, site=site)
    beside = None
    if site is not None:
        everyone = data.verdict_flows(src, cutoff, days, threshold=1)
        hidden_there = hidden_flows(everyone)
        shown_there = {_flow(r): r["n"] for i, r in enumerate(everyone) if i not in hidden_there}
        beside = {i: shown_there[_flow(r)] for i, r in enumerate(links)
                  if _flow(r) in shown_there}
    hidden = hidden_flows(links, beside)
    shown = [r for i, r in enumerate(links) if i not in hidden]
    return {"available": True, "lost_after_days": days, "threshold": THRESHOLD,
            "figure": figure_html(figures.sankey_verdicts(shown), "fig-sankey")}


def _flow(link: dict[str, Any]) -> tuple:
    return link["source_line"], link["source"], link["target"]


def hidden_flows(links: list[dict[str, Any]], beside: dict[int, int] | None = None
                 ) -> set[int]:
    """The flows (indices of `links`) to leave out: every flow of 1 to 10 patients, and
    those that would give one away (`disclosure.protect`). A verdict's patients at lines 1
    to 3 are shown in the concordance tables, so the flows out of each such node, and those
    into it, add up to a total known elsewhere (unless small there); what followed the last
    line is known only from the flows shown. `beside` maps a flow to the same flow over all
    sites, shown in the shareable report: the other sites' difference is protected as an
    unpublished count."""
    values: dict[Any, int] = {i: r["n"] for i, r in enumerate(links)}
    nodes: dict[tuple, list[Any]] = {}
    for i, r in enumerate(links):
        nodes.setdefault(("out", f"L{r['source_line']}", r["source"]), []).append(i)
        column, _, name = r["target"].partition(":")
        if column in ("L2", "L3"):
            nodes.setdefault(("in", column, name), []).append(i)
    relations: list[list[Any]] = [[ShownElsewhere(node), *members]
                                  for node, members in nodes.items()
                                  if not is_small(sum(values[i] for i in members))]
    others, beside_relations = remainders(values, beside or {})
    return protect(values | others, relations + beside_relations, set(others))


def _km_panels(src: Source, endpoint: str, hidden_there: set[tuple] = frozenset()
               ) -> list[dict[str, Any]]:
    """Kaplan–Meier panels by line with their numbers at risk; a group whose patients the
    summary table hides (`hidden_there`, see `_hidden_in_summary`) has no numbers at risk
    (at month 0 they are its patients)."""
    curves = data.survival_line_curves(src, endpoint)
    risk = data.survival_line_at_risk(src, endpoint, AT_RISK_MONTHS)
    panels = []
    for line in PANEL_LINES:
        mine = [p for p in curves if p["line_number"] == line]
        groups = sorted({p["group_value"] for p in mine}, key=lambda g: g != "concordant")
        spec = [{"group": g, "label": labels.group_value(g),
                 "colour": GROUP_COLOURS.get(g, labels.spare_colour(i)),
                 "points": [p for p in mine if p["group_value"] == g]}
                for i, g in enumerate(groups)]
        at_risk = []
        for i, g in enumerate(sorted({r["group_value"] for r in risk if r["line_number"] == line},
                                     key=lambda g: g != "concordant")):
            counts = {r["month"]: r["n"] for r in risk
                      if r["line_number"] == line and r["group_value"] == g}
            if (not counts.get(0) or is_small(counts.get(0))
                    or (endpoint, line, f"n_{g}") in hidden_there):
                continue
            at_risk.append({"label": labels.group_value(g), "short": labels.group_value(g),
                            "colour": GROUP_COLOURS.get(g, labels.spare_colour(i)),
                            "counts": {m: fmt_count(counts.get(m, 0)) for m in AT_RISK_MONTHS}})
        title = f"{labels.endpoint(endpoint)}: {labels.line_number(line).lower()}"
        fig = figures.km_panel(spec, at_risk, title)
        panels.append({"line": line, "title": title,
                       "figure": figure_html(fig, f"fig-km-{endpoint}-{line}")})
    return [p for p in panels if p["figure"] is not None]


def _summary_rows(summary: list[dict[str, Any]], hidden_n: set[int], hidden_events: set[int]
                  ) -> tuple[list[list[Any]], list[list[Any]]]:
    """Median rows (main groupings, the rest): a median is shown for every group of 11 or
    more patients (it is not a count); patients and events follow the small-cell rules
    (`suppress_summary`'s hidden rows)."""
    main, rest = [], []
    for i, r in enumerate(summary):
        large = (r["n"] or 0) >= THRESHOLD
        median = r["median_days"]
        ci = ("–" if not large or r["median_ci_lower_days"] is None else
              f"{months(r['median_ci_lower_days'])}–"
              + (months(r["median_ci_upper_days"]) if r["median_ci_upper_days"] is not None
                 else "not reached"))
        group = r["group_label"]
        if r.get("line_number") is not None and r["grouping"] != "overall":
            value = r.get("group_value")
            group = labels.line_number(r["line_number"])
            if value:
                group += f" · {labels.group_value(value)}"
        elif r["grouping"] == "overall":
            group = labels.grouping("overall")
        elif r.get("group_value"):
            group = labels.group_value(r["group_value"])
        row = [labels.endpoint(r["endpoint"]), labels.grouping(r["grouping"]), group,
               fmt_count(r["n"], i in hidden_n), fmt_count(r["events"], i in hidden_events),
               ("fewer than 11 patients" if not large else
                months(median) if median is not None else "not reached"), ci]
        (main if r["grouping"] in MAIN_GROUPINGS else rest).append(row)
    return main, rest


def _pick(cols: list[str], *names: str) -> str | None:
    return next((n for n in names if n in cols), None)


def _comparisons(cols: list[str], comps: list[dict[str, Any]],
                 hidden_there: set[tuple] = frozenset()) -> dict[str, Any]:
    """The comparison table and forest plot. Estimates are hidden with a small count; a
    count the summary table hides (`hidden_there`: it would undo a complement there) is
    hidden here too."""
    hr_col = _pick(cols, "hazard_ratio", "hr", "estimate")
    lo_col = _pick(cols, "hr_ci_lower", "ci_lower", "hr_lower", "lower_95")
    hi_col = _pick(cols, "hr_ci_upper", "ci_upper", "hr_upper", "upper_95")
    p_col = _pick(cols, "p_value", "p", "logrank_p_value", "pvalue")
    count_cols = [c for c in cols if c in ("n", "events") or c.startswith(("n_", "events_"))]
    forest, rows = [], []
    for r in comps:
        parts = [labels.endpoint(str(r.get("endpoint", ""))),
                 labels.line_number(r["line_number"]) if r.get("line_number") is not None
                 else "", labels.model(r["model"]) if r.get("model") else ""]
        label = " · ".join(p for p in parts if p)
        small = any(is_small(r.get(c)) for c in count_cols)
        hr = None if small or hr_col is None else r.get(hr_col)
        lo = None if small or lo_col is None else r.get(lo_col)
        hi = None if small or hi_col is None else r.get(hi_col)
        if hr is not None:
            forest.append({"label": label, "hr": hr, "lower": lo, "upper": hi})
        rows.append(parts + [fmt_count(r.get(c), True if small or (
            r.get("endpoint"), r.get("line_number"), c) in hidden_there else None)
            for c in count_cols]
                    + ["hidden (small counts)" if small else
                       ("–" if hr is None else f"{hr:.2f}"),
                       "–" if lo is None or hi is None else f"{lo:.2f}–{hi:.2f}",
                       "–" if small or p_col is None else labels.p_value(r.get(p_col))])
    headers = (["endpoint", "line", "model"] + [labels.humanise(c).lower() for c in count_cols]
               + ["hazard ratio", "95% CI", "p"])
    kinds = ["", "", ""] + ["count"] * len(count_cols) + ["num"] * 3
    caveats = sorted({str(r["caveat"]) for r in comps if r.get("caveat")})
    comparison = sorted({str(r["comparison"]) for r in comps if r.get("comparison")})
    return {"available": True, "headers": headers, "kinds": kinds, "rows": rows,
            "figure": figure_html(figures.forest_plot(forest), "fig-forest"),
            "caveat": " ".join(caveats), "comparison": ", ".join(comparison)}


def prepare(src: Source) -> dict[str, Any]:
    summary = data.survival_summary(src)
    hidden_n, hidden_events = suppress_summary(summary) if summary else (set(), set())
    main, rest = _summary_rows(summary, hidden_n, hidden_events) if summary else ([], [])
    cols, comps = data.survival_comparisons(src)
    hidden_there = _hidden_in_summary(summary, hidden_n, hidden_events)
    endpoints = [{"name": labels.endpoint(e), "key": e,
                  "panels": _km_panels(src, e, hidden_there)}
                 for e in data.survival_endpoints(src)]
    return {
        "curves_available": src.has("survival_curves"),
        "endpoints": [e for e in endpoints if e["panels"]],
        "summary_available": bool(summary), "summary_main": main, "summary_rest": rest,
        "comparisons": (_comparisons(cols, comps, hidden_there) if comps
                        else {"available": False}),
    }


def _hidden_in_summary(summary: list[dict[str, Any]], hidden_n: set[int],
                       hidden_events: set[int]) -> set[tuple]:
    """The comparison counts the summary table hides: (endpoint, line, column) for the
    columns of `survival_comparisons` (`n`, `events`, `n_concordant`, ...), which are the
    summary's counts of the line (grouping 'line') and of its verdict groups."""
    out = set()
    for i, r in enumerate(summary):
        if r["grouping"] == "line":
            suffix = ""
        elif r["grouping"] == "line_concordance" and r.get("group_value"):
            suffix = f"_{r['group_value']}"
        else:
            continue
        key = (r["endpoint"], r["line_number"])
        if i in hidden_n:
            out.add((*key, f"n{suffix}"))
        if i in hidden_events:
            out.add((*key, f"events{suffix}"))
    return out
