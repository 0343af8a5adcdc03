"""The report's charts as plotly figure specifications (plain `{"data", "layout"}` dicts,
drawn by plotly.js in the page). Every function takes already aggregated and suppressed
rows and returns a figure, or None when there is nothing to draw. Colours come from
`labels` (one colour-blind-safe palette: verdicts always the same colours, line groups
another scheme)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from her2audit import proportions
from her2audit.stages.report import labels
from her2audit.stages.report.data import DAYS_PER_MONTH
from her2audit.stages.report.privacy import SUPPRESSED, THRESHOLD

Figure = dict[str, Any]
FONT = {"family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", "size": 13,
        "color": "#1f2328"}
GRID = "#e5e5e5"
NO_DATA_COLOUR = "#BBBBBB"


def _axis(**kwargs: Any) -> dict[str, Any]:
    return {"gridcolor": GRID, "zerolinecolor": GRID, "linecolor": "#999999",
            "automargin": True, **kwargs}


def _layout(height: int = 420, **kwargs: Any) -> dict[str, Any]:
    layout = {
        "height": height, "font": FONT, "paper_bgcolor": "white", "plot_bgcolor": "white",
        "margin": {"l": 60, "r": 20, "t": 40, "b": 50},
        "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.02, "xanchor": "left",
                   "x": 0},
        "hoverlabel": {"namelength": -1},
    }
    layout.update(kwargs)
    return layout


def _rgba(hex_colour: str, alpha: float) -> str:
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def _ink(hex_colour: str) -> str:
    """Black or white, whichever reads better on `hex_colour`."""
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return "black" if 0.299 * r + 0.587 * g + 0.114 * b > 140 else "white"


def _count(value: int | None) -> str:
    return SUPPRESSED if value is None else f"{value:,}"


# ---------------------------------------------------------------- verdict shares

def stacked_categories(rows: list[dict[str, Any]], x_key: str, x_title: str) -> Figure | None:
    """Share of lines per verdict, stacked to 100% per x value. Rows carry `n_lines` and
    `n_<category>` (None when suppressed: not drawn, shown as a hatched remainder)."""
    rows = [r for r in rows if r.get("n_lines")]
    if not rows:
        return None
    xs = [str(r[x_key]) for r in rows]
    data = []
    for cat in labels.categories():
        counts = [r.get(f"n_{cat}") for r in rows]
        data.append({
            "type": "bar", "x": xs, "name": labels.category(cat),
            "y": [c / r["n_lines"] if c is not None else None
                  for c, r in zip(counts, rows, strict=True)],
            "marker": {"color": labels.category_colour(cat)},
            "customdata": [[_count(c), f"{r['n_lines']:,}"] for c, r in
                           zip(counts, rows, strict=True)],
            "hovertemplate": "%{x}: %{y:.1%} (%{customdata[0]} of %{customdata[1]} lines)"
                             f"<extra>{labels.category(cat)}</extra>",
        })
    hidden = [r["n_lines"] - sum(r.get(f"n_{c}") or 0 for c in labels.categories())
              for r in rows]
    if any(hidden):
        data.append({
            "type": "bar", "x": xs, "name": "Hidden small counts",
            "y": [h / r["n_lines"] if h else None for h, r in zip(hidden, rows, strict=True)],
            "marker": {"color": "#ffffff", "line": {"color": "#777777", "width": 1},
                       "pattern": {"shape": "/", "fgcolor": "#777777"}},
            "hovertemplate": "%{x}: verdicts with counts below 11 (and their complements)"
                             "<extra></extra>",
        })
    layout = _layout(barmode="stack",
                     yaxis=_axis(tickformat=".0%", range=[0, 1], title="share of lines"),
                     xaxis=_axis(title=x_title, type="category"))
    return {"data": data, "layout": layout}


# ---------------------------------------------------------------- indicators over time

def indicator_panels(panels: list[dict[str, Any]], columns: int = 2) -> Figure | None:
    """Small multiples, one panel per indicator: the yearly rate, the exact binomial 95%
    and 99.8% control limits around the all-years rate at each year's denominator, the
    target, and each year's n under the axis. A panel: `title`, `p0`, `target`,
    `years` (rows with `year`, `rate` (None when hidden), `den` (None when hidden),
    `den_text`, `num_text`)."""
    panels = [p for p in panels if any(y.get("rate") is not None for y in p["years"])]
    if not panels:
        return None
    rows = math.ceil(len(panels) / columns)
    gap_x, gap_y = 0.08, 0.9 / rows * 0.42
    height_each = (1 - gap_y * (rows - 1)) / rows
    layout = _layout(height=300 * rows + 60, showlegend=True,
                     margin={"l": 50, "r": 20, "t": 60, "b": 30})
    annotations = []
    data = []
    all_years = sorted({y["year"] for p in panels for y in p["years"]})
    x_range = [all_years[0] - 0.6, all_years[-1] + 0.6]
    for i, panel in enumerate(panels):
        r, c = divmod(i, columns)
        k = "" if i == 0 else str(i + 1)
        x0 = c * (1 + gap_x) / columns
        x_dom = [x0, x0 + (1 - gap_x * (columns - 1)) / columns]
        top = 1 - r * (height_each + gap_y)
        y_dom = [top - height_each, top]
        layout[f"xaxis{k}"] = _axis(domain=x_dom, anchor=f"y{k}", range=x_range, dtick=2,
                                    tickformat="d")
        layout[f"yaxis{k}"] = _axis(domain=y_dom, anchor=f"x{k}", range=[-0.12, 1.05],
                                    tickformat=".0%", tickvals=[0, 0.25, 0.5, 0.75, 1])
        annotations.append({"text": f"<b>{panel['title']}</b>", "showarrow": False,
                            "xref": "paper", "yref": "paper", "x": x_dom[0], "y": y_dom[1],
                            "xanchor": "left", "yanchor": "bottom", "font": {"size": 13}})
        years = panel["years"]
        xs = [y["year"] for y in years]
        shown = [y for y in years if y.get("den")]
        p0 = panel.get("p0")
        first = i == 0
        if p0 is not None and shown:
            n = np.array([y["den"] for y in shown], dtype=float)
            lim = proportions.funnel_limits(n, p0)
            for key, name, dash in (("998", "99.8% control limits", "dash"),
                                    ("95", "95% control limits", "dot")):
                for side in ("lower", "upper"):
                    data.append({
                        "type": "scatter", "mode": "lines", "x": [y["year"] for y in shown],
                        "y": [float(v) for v in lim[f"{side}_{key}"]], "xaxis": f"x{k}",
                        "yaxis": f"y{k}", "name": name, "legendgroup": key,
                        "showlegend": first and side == "upper", "hoverinfo": "skip",
                        "line": {"color": "#777777", "dash": dash, "width": 1,
                                 "shape": "hvh"}})
            data.append({"type": "scatter", "mode": "lines", "x": x_range, "y": [p0, p0],
                         "xaxis": f"x{k}", "yaxis": f"y{k}", "name": "all years",
                         "legendgroup": "p0", "showlegend": first, "hoverinfo": "skip",
                         "line": {"color": "#777777", "width": 1}})
        if panel.get("target") is not None:
            data.append({"type": "scatter", "mode": "lines", "x": x_range,
                         "y": [panel["target"]] * 2, "xaxis": f"x{k}", "yaxis": f"y{k}",
                         "name": "target", "legendgroup": "target", "showlegend": first,
                         "line": {"color": "#009E73", "dash": "longdash", "width": 2},
                         "hovertemplate": f"target {panel['target']:.0%}<extra></extra>"})
        data.append({
            "type": "scatter", "mode": "lines+markers", "x": xs,
            "y": [y.get("rate") for y in years], "xaxis": f"x{k}", "yaxis": f"y{k}",
            "name": "yearly rate", "legendgroup": "rate", "showlegend": first,
            "connectgaps": False, "line": {"color": "#0072B2", "width": 2},
            "marker": {"size": 6, "color": "#0072B2"},
            "customdata": [[y["num_text"], y["den_text"]] for y in years],
            "hovertemplate": "%{x}: %{y:.1%} (%{customdata[0]} of %{customdata[1]})"
                             f"<extra>{panel['title']}</extra>"})
        data.append({
            "type": "scatter", "mode": "text", "x": xs, "y": [-0.07] * len(xs),
            "xaxis": f"x{k}", "yaxis": f"y{k}", "showlegend": False, "hoverinfo": "skip",
            "text": [y["den_text"] for y in years],
            "textfont": {"size": 9, "color": "#59636e"}})
    layout["annotations"] = annotations
    layout["legend"] = {"orientation": "h", "y": 1.0, "yanchor": "top", "x": 0,
                        "yref": "container"}
    return {"data": data, "layout": layout}


# ---------------------------------------------------------------- concordance by year

def rate_by_year(rows: list[dict[str, Any]]) -> Figure | None:
    """Concordance rate by year of line start, one trace per line group (line colours)."""
    if all(r.get("rate") is None for r in rows):
        return None
    data = []
    for line in sorted({r["line"] for r in rows}, key=lambda v: (v != "all", v)):
        mine = [r for r in rows if r["line"] == line]
        if all(r.get("rate") is None for r in mine):
            continue
        data.append({
            "type": "scatter", "mode": "lines+markers", "x": [r["year"] for r in mine],
            "y": [r["rate"] for r in mine], "name": labels.line(line),
            "line": {"color": labels.line_colour(line), "width": 3 if line == "all" else 2,
                     "dash": "solid"},
            "customdata": [[r["num_text"], r["den_text"]] for r in mine],
            "hovertemplate": "%{x}: %{y:.1%} (%{customdata[0]} of %{customdata[1]} "
                             f"evaluable lines)<extra>{labels.line(line)}</extra>"})
    layout = _layout(yaxis=_axis(tickformat=".0%", range=[0, 1.02],
                                 title="concordant among evaluable lines"),
                     xaxis=_axis(title="year of line start", dtick=1))
    return {"data": data, "layout": layout}


# ---------------------------------------------------------------- context

def context_bars(rows: list[dict[str, Any]]) -> Figure | None:
    """Concordance rate by clinical context, grouped by line group, with Wilson 95%
    intervals and the number of evaluable lines on each bar."""
    rows = [r for r in rows if r.get("rate") is not None]
    if not rows:
        return None
    data = []
    for line in sorted({r["line"] for r in rows}, key=lambda v: (v != "all", v)):
        mine = [r for r in rows if r["line"] == line]
        data.append({
            "type": "bar", "name": labels.line(line),
            "x": [[r["context_label"] for r in mine], [r["value"] for r in mine]],
            "y": [r["rate"] for r in mine],
            "marker": {"color": labels.line_colour(line)},
            "error_y": {"type": "data", "symmetric": False, "color": "#333333",
                        "thickness": 1.2, "width": 3,
                        "array": [r["upper"] - r["rate"] for r in mine],
                        "arrayminus": [r["rate"] - r["lower"] for r in mine]},
            "text": [f"n={r['den_text']}" for r in mine], "textposition": "inside",
            "insidetextanchor": "start", "textangle": -90,
            "textfont": {"size": 10, "color": _ink(labels.line_colour(line))},
            "customdata": [[r["num_text"], r["den_text"], r["lower"], r["upper"]]
                           for r in mine],
            "hovertemplate": "%{x}: %{y:.1%} (%{customdata[0]} of %{customdata[1]}; 95% CI "
                             "%{customdata[2]:.1%}–%{customdata[3]:.1%})"
                             f"<extra>{labels.line(line)}</extra>"})
    layout = _layout(height=480, barmode="group",
                     yaxis=_axis(tickformat=".0%", range=[0, 1.05],
                                 title="concordant among evaluable lines"),
                     xaxis=_axis())
    return {"data": data, "layout": layout}


# ---------------------------------------------------------------- funnel

def funnel(sites: list[dict[str, Any]], p0: float, highlight: str | None = None,
           anonymous: bool = False) -> Figure | None:
    """Each site's concordance rate against its number of evaluable lines, with the 95% and
    99.8% exact binomial control limits around the rate of all sites (upper panel); sites
    whose rate is hidden are shown by position only (lower strip). Sites: `site_id`,
    `rate` (None when hidden), `n_evaluable` (None when hidden), `position`.

    `highlight` names one site drawn apart; with `anonymous`, the other sites carry no
    name (the per-site report)."""
    if not sites or p0 is None:
        return None
    plotted = [s for s in sites if s.get("rate") is not None and s.get("n_evaluable")]
    hidden = [s for s in sites if s not in plotted]
    n_max = max([s["n_evaluable"] for s in plotted] or [THRESHOLD * 5])
    grid = np.unique(np.round(np.linspace(1, max(n_max * 1.1, THRESHOLD * 2), 300)))
    lim = proportions.funnel_limits(grid, p0)
    data = []
    for key, name, colour, dash in (("998", "99.8% limits", "#333333", "dash"),
                                    ("95", "95% limits", "#777777", "dot")):
        for side in ("lower", "upper"):
            data.append({"type": "scatter", "mode": "lines", "x": grid.tolist(),
                         "y": [float(v) for v in lim[f"{side}_{key}"]], "name": name,
                         "legendgroup": key, "showlegend": side == "upper",
                         "hoverinfo": "skip",
                         "line": {"color": colour, "dash": dash, "width": 1.3}})
    data.append({"type": "scatter", "mode": "lines", "x": [0, float(grid[-1])], "y": [p0, p0],
                 "name": f"all sites ({p0:.1%})", "hoverinfo": "skip",
                 "line": {"color": "#000000", "width": 1.3}})

    def name(s: dict[str, Any]) -> str:
        if s["site_id"] == highlight:
            return f"{s['site_id']} (this site)"
        return "another site" if anonymous else s["site_id"]

    def show_label(s: dict[str, Any]) -> bool:
        return s["site_id"] == highlight or (not anonymous and s["position"] != "within 95%")

    for group in (plotted, hidden):
        for s in group:
            s["_colour"] = ("#000000" if s["site_id"] == highlight
                            else labels.position_colour(s["position"]))
    groups = [(labels.position(pos), [s for s in plotted if s["position"] == pos
                                      and s["site_id"] != highlight])
              for pos in labels.positions()]  # one trace per position: the legend explains
    groups.append((f"{highlight} (this site)", [s for s in plotted if s["site_id"] == highlight]))
    for trace_name, group in groups:
        if not group:
            continue
        data.append({
            "type": "scatter", "mode": "markers+text", "name": trace_name,
            "x": [s["n_evaluable"] for s in group], "y": [s["rate"] for s in group],
            "marker": {"size": [13 if s["site_id"] == highlight else 9 for s in group],
                       "color": [s["_colour"] for s in group],
                       "symbol": ["diamond" if s["site_id"] == highlight else "circle"
                                  for s in group],
                       "line": {"width": 1, "color": "white"}},
            "text": [name(s) if show_label(s) else "" for s in group],
            "textposition": "top center", "textfont": {"size": 11},
            "customdata": [[name(s), labels.position(s["position"])] for s in group],
            "hovertemplate": "%{customdata[0]}: %{y:.1%} of %{x:,} evaluable lines "
                             "(%{customdata[1]})<extra></extra>"})
    low = min([s["rate"] for s in plotted] + [float(np.nanmin(lim["lower_998"][grid >= 11]))
                                              if (grid >= 11).any() else p0])
    stack: dict[str, int] = {}
    ys = []
    for s in hidden:
        ys.append(stack.get(s["position"], 0))
        stack[s["position"]] = ys[-1] + 1
    lane_rows = max(3, max(ys, default=0) + 1)
    lane_px = 22 * lane_rows + 30
    height = 460 + lane_px
    lane = lane_px / height
    layout = _layout(height=height, margin={"l": 60, "r": 20, "t": 40, "b": 40})
    layout["xaxis"] = _axis(title="evaluable lines at the site (volume)", rangemode="tozero",
                            anchor="y")
    layout["yaxis"] = _axis(tickformat=".0%", title="concordant among evaluable lines",
                            range=[max(0.0, low - 0.05), 1.02], domain=[lane + 0.12, 1])
    positions = labels.positions()
    data.append({
        "type": "scatter", "mode": "markers+text", "name": "rate hidden (position only)",
        "xaxis": "x2", "yaxis": "y2", "showlegend": False,
        "x": [s["position"] for s in hidden], "y": ys,
        "marker": {"size": 10, "symbol": ["diamond-open" if s["site_id"] == highlight
                                          else "circle-open" for s in hidden],
                   "color": [s["_colour"] for s in hidden], "line": {"width": 2}},
        "text": [name(s) if (s["site_id"] == highlight or not anonymous) else ""
                 for s in hidden],
        "textposition": "middle right", "textfont": {"size": 11},
        "customdata": [[name(s), labels.position(s["position"])] for s in hidden],
        "hovertemplate": "%{customdata[0]}: %{customdata[1]} (rate hidden: small counts)"
                         "<extra></extra>"})
    layout["xaxis2"] = _axis(anchor="y2", type="category", showgrid=False,
                             categoryorder="array",
                             categoryarray=positions, tickangle=0,
                             range=[-0.5, len(positions) - 0.5])
    layout["yaxis2"] = _axis(domain=[0, lane], anchor="x2", showticklabels=False,
                             showgrid=False, zeroline=False, range=[lane_rows - 0.4, -0.6])
    layout["annotations"] = [{
        "text": "Sites whose rate is hidden (small counts): position against the limits "
                "only" if hidden else "Every site's rate can be shown.",
        "xref": "paper", "yref": "paper", "x": 0, "y": lane + 0.02, "showarrow": False,
        "xanchor": "left", "yanchor": "bottom", "font": {"size": 12, "color": "#59636e"}}]
    for s in sites:
        s.pop("_colour", None)
    return {"data": data, "layout": layout}


# ---------------------------------------------------------------- treatment sequences

def sankey_verdicts(links: list[dict[str, Any]]) -> Figure | None:
    """Patients from the verdict of line 1 to that of line 2 and 3, and to what followed
    the last line; nodes and flows coloured by verdict (terminal states in their own
    colours). Links: `source_line`, `source` (a verdict), `target` ('L2:<verdict>',
    'L3:<verdict>', 'L4:further' or 'end:<state>'), `n`."""
    if not links:
        return None
    keys: list[tuple[str, str]] = []

    def node(column: str, name: str) -> int:
        if (column, name) not in keys:
            keys.append((column, name))
        return keys.index((column, name))

    src, tgt, val = [], [], []
    for link in links:
        src.append(node(f"L{link['source_line']}", link["source"]))
        column, _, name = link["target"].partition(":")
        tgt.append(node(column, name))
        val.append(link["n"])
    x_of = {"L1": 0.01, "L2": 0.34, "L3": 0.67, "L4": 0.99, "end": 0.99}

    def label(column: str, name: str) -> str:
        if column == "end":
            return labels.after_last_line(name)
        if column == "L4":
            return "Fourth line and later"
        return f"{labels.line(column[1:])}: {labels.category(name).lower()}"

    def colour(column: str, name: str) -> str:
        if column == "end":
            return labels.after_last_line_colour(name)
        if column == "L4":
            return "#777777"
        return labels.category_colour(name)

    size = [0.0] * len(keys)
    for s, t, v in zip(src, tgt, val, strict=True):
        size[s] += v
        size[t] = max(size[t], 0.0)
    inflow = [0.0] * len(keys)
    for t, v in zip(tgt, val, strict=True):
        inflow[t] += v
    size = [max(a, b) for a, b in zip(size, inflow, strict=True)]
    order = {name: i for i, name in enumerate(labels.categories())}
    order.update({"further": 0, "died": 1, "ongoing": 2, "followed": 3, "lost": 4})
    xs, ys = [0.0] * len(keys), [0.0] * len(keys)
    right = {"L4", "end"}
    for columns in ({"L1"}, {"L2"}, {"L3"}, right):
        members = [i for i, (c, _) in enumerate(keys) if c in columns]
        members.sort(key=lambda i: (keys[i][0] == "end", order.get(keys[i][1], 9)))
        total = sum(size[i] for i in members) or 1.0
        gap = 0.04  # room between nodes so that labels never overlap
        scale = 1 - gap * max(0, len(members) - 1)
        top = 0.0
        for i in members:
            share = size[i] / total * scale
            xs[i] = x_of[keys[i][0]]
            ys[i] = min(0.99, max(0.01, top + share / 2))
            top += share + gap
    colours = [colour(c, n) for c, n in keys]
    trace = {
        "type": "sankey", "arrangement": "fixed",
        "node": {"label": [label(c, n) for c, n in keys], "pad": 18, "thickness": 18,
                 "color": colours, "x": xs, "y": ys, "line": {"color": "white", "width": 0.5},
                 "hovertemplate": "%{label}: %{value:,} patients<extra></extra>"},
        "link": {"source": src, "target": tgt, "value": val,
                 "color": [_rgba(colours[s], 0.35) for s in src],
                 "hovertemplate": "%{source.label} → %{target.label}: %{value:,} patients"
                                  "<extra></extra>"},
        "textfont": {"size": 12, "color": "#1f2328"},
    }
    return {"data": [trace], "layout": _layout(height=max(520, 34 * len(keys)),
                                               margin={"l": 10, "r": 10, "t": 20, "b": 20})}


# ---------------------------------------------------------------- survival

def km_panel(curves: list[dict[str, Any]], at_risk: list[dict[str, Any]], title: str
             ) -> Figure | None:
    """One line's Kaplan–Meier curves (concordant and not) with 95% bands, and the numbers
    at risk aligned under the same time axis. `curves`: rows with `group`, `label`,
    `colour`, `points` (time_days, survival, ci_lower, ci_upper); `at_risk`: rows with
    `label`, `colour`, `counts` ({month: text})."""
    if not curves:
        return None
    data = []
    x_max = max(p["time_days"] for c in curves for p in c["points"]) / DAYS_PER_MONTH
    x_end = max(12.0, math.ceil(x_max / 12) * 12)
    for c in curves:
        pts = c["points"]
        if pts[0]["time_days"] > 0:
            pts = [{"time_days": 0, "survival": 1.0, "ci_lower": 1.0, "ci_upper": 1.0}, *pts]
        x = [p["time_days"] / DAYS_PER_MONTH for p in pts]
        upper = [p["ci_upper"] if p["ci_upper"] is not None else p["survival"] for p in pts]
        lower = [p["ci_lower"] if p["ci_lower"] is not None else p["survival"] for p in pts]
        data.append({"type": "scatter", "mode": "lines", "x": x, "y": upper,
                     "line": {"width": 0, "shape": "hv"}, "legendgroup": c["label"],
                     "showlegend": False, "hoverinfo": "skip"})
        data.append({"type": "scatter", "mode": "lines", "x": x, "y": lower, "fill": "tonexty",
                     "fillcolor": _rgba(c["colour"], 0.15), "line": {"width": 0, "shape": "hv"},
                     "legendgroup": c["label"], "showlegend": False, "hoverinfo": "skip"})
        data.append({"type": "scatter", "mode": "lines", "x": x,
                     "y": [p["survival"] for p in pts], "name": c["label"],
                     "legendgroup": c["label"],
                     "line": {"color": c["colour"], "width": 2, "shape": "hv"},
                     "hovertemplate": "%{x:.1f} months: %{y:.1%}"
                                      f"<extra>{c['label']}</extra>"})
    months = sorted({m for row in at_risk for m in row["counts"] if m <= x_end})
    for i, row in enumerate(at_risk):
        data.append({"type": "scatter", "mode": "text", "xaxis": "x", "yaxis": "y2",
                     "x": months, "y": [i] * len(months), "showlegend": False,
                     "text": [row["counts"].get(m, "") for m in months], "cliponaxis": False,
                     "textfont": {"size": 11, "color": row["colour"]},
                     "hovertemplate": "%{text} at risk at %{x} months"
                                      f"<extra>{row['label']}</extra>"})
    n_rows = max(1, len(at_risk))
    layout = _layout(height=380 + 22 * n_rows, margin={"l": 60, "r": 20, "t": 60, "b": 45})
    layout["title"] = {"text": title, "x": 0, "xanchor": "left", "font": {"size": 14}}
    layout["legend"] = {"orientation": "h", "y": 1.0, "yanchor": "bottom", "x": 0,
                        "yref": "paper"}
    layout["xaxis"] = _axis(title="months from line start", range=[-2, x_end + 2],
                            dtick=12, anchor="y2")
    share = min(0.3, 0.08 * n_rows + 0.04)
    layout["yaxis"] = _axis(title="probability", tickformat=".0%", range=[0, 1.02],
                            domain=[share + 0.1, 1])
    layout["yaxis2"] = _axis(domain=[0, share], range=[n_rows - 0.5, -0.5],
                             tickvals=list(range(len(at_risk))),
                             ticktext=[r["short"] for r in at_risk], showgrid=False,
                             zeroline=False, title={"text": "at risk", "font": {"size": 11}})
    return {"data": data, "layout": layout}


def forest_plot(rows: list[dict[str, Any]]) -> Figure | None:
    """Hazard ratios with 95% intervals on a log axis (rows: label, hr, lower, upper)."""
    rows = [r for r in rows if r.get("hr") is not None and r["hr"] > 0]
    if not rows:
        return None
    trace = {
        "type": "scatter", "mode": "markers", "x": [r["hr"] for r in rows],
        "y": [r["label"] for r in rows], "name": "hazard ratio",
        "marker": {"size": 10, "symbol": "square", "color": "#000000"},
        "error_x": {"type": "data", "symmetric": False, "color": "#000000", "thickness": 1.5,
                    "array": [(r["upper"] - r["hr"]) if r.get("upper") else 0 for r in rows],
                    "arrayminus": [(r["hr"] - r["lower"]) if r.get("lower") else 0
                                   for r in rows]},
        "customdata": [[r.get("lower"), r.get("upper")] for r in rows],
        "hovertemplate": "%{y}: HR %{x:.2f} (95% CI %{customdata[0]:.2f}–%{customdata[1]:.2f})"
                         "<extra></extra>"}
    layout = _layout(height=max(260, 34 * len(rows) + 110), showlegend=False,
                     xaxis=_axis(type="log", title="hazard ratio (log scale; below 1 favours "
                                                     "concordant treatment)"),
                     yaxis=_axis(autorange="reversed"),
                     shapes=[{"type": "line", "x0": 1, "x1": 1, "xref": "x", "y0": 0, "y1": 1,
                              "yref": "paper", "line": {"color": "#777777", "dash": "dash"}}])
    return {"data": [trace], "layout": layout}


# ---------------------------------------------------------------- cohort and data quality

def attrition_funnel(rows: list[dict[str, Any]]) -> Figure | None:
    rows = [r for r in rows if r.get("n_patients") is not None]
    if not rows:
        return None
    trace = {"type": "funnel", "y": [r["label"] for r in rows],
             "x": [r["n_patients"] for r in rows], "texttemplate": "%{value:,}",
             "marker": {"color": "#0072B2"},
             "hovertemplate": "%{y}: %{x:,} patients<extra></extra>"}
    return {"data": [trace], "layout": _layout(height=max(300, 52 * len(rows) + 80),
                                               yaxis=_axis(), showlegend=False)}


def quarantine_bars(rows: list[dict[str, Any]]) -> Figure | None:
    rows = [r for r in rows if r.get("n") is not None]
    if not rows:
        return None
    trace = {"type": "bar", "orientation": "h", "x": [r["n"] for r in rows],
             "y": [f"{r['source_table']}: {r['rule']}" for r in rows],
             "marker": {"color": "#E69F00"},
             "hovertemplate": "%{y}: %{x:,} rows<extra></extra>"}
    return {"data": [trace], "layout": _layout(
        height=max(240, 28 * len(rows) + 100), showlegend=False,
        yaxis=_axis(autorange="reversed"), xaxis=_axis(title="quarantined rows"))}
