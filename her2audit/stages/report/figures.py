"""Plotly figures of the report. Every function takes already aggregated (and, for the
shareable report, already suppressed) rows and returns a figure, or None when there is
nothing to draw."""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio

from her2audit.stages.report import stats
from her2audit.stages.report.data import DAYS_PER_MONTH
from her2audit.stages.report.privacy import THRESHOLD

CATEGORY_COLOURS = {
    "preferred": "#1a9850",
    "alternative": "#91cf60",
    "not_recommended": "#d73027",
    "trial": "#4575b4",
    "not_evaluable": "#bdbdbd",
}
CATEGORY_LABELS = {
    "preferred": "preferred",
    "alternative": "alternative",
    "not_recommended": "not recommended",
    "trial": "trial",
    "not_evaluable": "not evaluable",
}
PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2",
           "#17becf"]
# One fixed colour per regimen of the catalog (rules/regimens.yaml), so a regimen looks the
# same in every report; a name not listed takes a PALETTE colour. THP-family regimens share
# a hue, as do the T-DXd and the tucatinib regimens.
REGIMEN_COLOURS = {
    "THP": "#1f77b4", "TCHP": "#6baed6", "HP": "#9ecae1", "TH": "#17becf",
    "T-DXd": "#d62728", "T-DXd + pertuzumab": "#ff9896",
    "T-DM1": "#9467bd", "Tucatinib + T-DM1": "#c5b0d5",
    "Tucatinib + trastuzumab + capecitabine": "#2ca02c",
    "Neratinib + capecitabine": "#98df8a", "Lapatinib + capecitabine": "#bcbd22",
    "Lapatinib + trastuzumab": "#dbdb8d", "Margetuximab + chemotherapy": "#8c564b",
    "Trastuzumab + other chemotherapy": "#e377c2",
    "Anti-HER2 + endocrine (± CDK4/6 inhibitor)": "#ff7f0e",
    "Endocrine (± CDK4/6 inhibitor), no anti-HER2": "#ffbb78",
    "Chemotherapy, no anti-HER2": "#7f7f7f",
    "Any line with an investigational agent": "#393b79",
    "Anti-HER2 + immune checkpoint inhibitor": "#5254a3",
    "Anything else": "#c7c7c7",
}


@functools.cache
def _template() -> go.layout.Template:
    """The plotly_white template as an object, loaded once (naming it by string in every
    figure re-resolves and re-validates it each time, which is most of a figure's cost)."""
    return pio.templates["plotly_white"]


def _layout(fig: go.Figure, height: int = 420, **kwargs: Any) -> go.Figure:
    fig.update_layout(
        template=_template(),
        height=height,
        margin={"l": 60, "r": 20, "t": 40, "b": 50},
        font={"family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", "size": 13},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "xanchor": "left", "x": 0},
        **kwargs,
    )
    return fig


def _rgba(hex_colour: str, alpha: float) -> str:
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def stacked_categories(rows: list[dict[str, Any]], x_key: str, x_title: str) -> go.Figure | None:
    """Share of lines per concordance category, stacked to 100% per x value.

    Each row has `x_key`, `n_lines` (None when suppressed) and `n_<category>` (None when
    suppressed). Suppressed cells are not drawn (their share would reveal them)."""
    rows = [r for r in rows if r.get("n_lines")]
    if not rows:
        return None
    fig = go.Figure()
    xs = [str(r[x_key]) for r in rows]
    for cat, colour in CATEGORY_COLOURS.items():
        counts = [r.get(f"n_{cat}") for r in rows]
        shares = [c / r["n_lines"] if c is not None else None for c, r in
                  zip(counts, rows, strict=True)]
        fig.add_bar(
            x=xs, y=shares, name=CATEGORY_LABELS[cat], marker_color=colour,
            customdata=[[f"{c:,}" if c is not None else "<11", f"{r['n_lines']:,}"]
                        for c, r in zip(counts, rows, strict=True)],
            hovertemplate="%{x}: %{y:.1%} (%{customdata[0]} of %{customdata[1]} lines)"
                          "<extra>" + CATEGORY_LABELS[cat] + "</extra>",
        )
    hidden = [r["n_lines"] - sum(r.get(f"n_{c}") or 0 for c in CATEGORY_COLOURS) for r in rows]
    if any(hidden):
        fig.add_bar(
            x=xs, y=[h / r["n_lines"] if h else None for h, r in zip(hidden, rows, strict=True)],
            name="suppressed cells", marker={"color": "#ffffff", "line": {"color": "#999999",
                                                                          "width": 1},
                                             "pattern": {"shape": "/", "fgcolor": "#999999"}},
            hovertemplate="%{x}: categories with counts below 11 (and their complements)"
                          "<extra></extra>",
        )
    fig.update_layout(barmode="stack")
    fig.update_yaxes(tickformat=".0%", range=[0, 1], title="share of lines")
    fig.update_xaxes(title=x_title, type="category")
    return _layout(fig)


def indicator_trend(rows: list[dict[str, Any]], labels: dict[str, str]) -> go.Figure | None:
    """Rate per indicator by calendar year (hidden rates leave a gap)."""
    rows = [r for r in rows if r.get("year") is not None]
    if not rows or all(r.get("rate") is None for r in rows):
        return None
    fig = go.Figure()
    for i, ind in enumerate(sorted({r["indicator"] for r in rows})):
        mine = [r for r in rows if r["indicator"] == ind]
        fig.add_scatter(
            x=[r["year"] for r in mine], y=[r["rate"] for r in mine], mode="lines+markers",
            name=labels.get(ind, ind), line={"color": PALETTE[i % len(PALETTE)]},
            connectgaps=False,
            customdata=[[r["num_text"], r["den_text"]] for r in mine],
            hovertemplate="%{x}: %{y:.1%} (%{customdata[0]}/%{customdata[1]})<extra>"
                          + labels.get(ind, ind) + "</extra>",
        )
    fig.update_yaxes(tickformat=".0%", range=[0, 1.02], title="rate")
    fig.update_xaxes(title="calendar year", dtick=1)
    return _layout(fig, height=440)


def rate_by_year(rows: list[dict[str, Any]]) -> go.Figure | None:
    """Concordance rate by year of line start, one trace per line group."""
    if all(r.get("rate") is None for r in rows):
        return None
    fig = go.Figure()
    lines = sorted({r["line"] for r in rows}, key=lambda v: (v != "all", v))
    for i, line in enumerate(lines):
        mine = [r for r in rows if r["line"] == line]
        if all(r.get("rate") is None for r in mine):
            continue
        fig.add_scatter(
            x=[r["year"] for r in mine], y=[r["rate"] for r in mine], mode="lines+markers",
            name="all lines" if line == "all" else f"line {line}",
            line={"color": "#333333" if line == "all" else PALETTE[i % len(PALETTE)],
                  "width": 3 if line == "all" else 2},
            customdata=[[r["num_text"], r["den_text"]] for r in mine],
            hovertemplate="%{x}: %{y:.1%} (%{customdata[0]}/%{customdata[1]} evaluable lines)",
        )
    fig.update_yaxes(tickformat=".0%", range=[0, 1.02], title="concordant among evaluable lines")
    fig.update_xaxes(title="year of line start", dtick=1)
    return _layout(fig)


def context_rates(rows: list[dict[str, Any]]) -> go.Figure | None:
    """Concordance rate by context value, grouped bars per line group."""
    rows = [r for r in rows if r.get("rate") is not None]
    if not rows:
        return None
    fig = go.Figure()
    lines = sorted({r["line"] for r in rows}, key=lambda v: (v != "all", v))
    for i, line in enumerate(lines):
        mine = [r for r in rows if r["line"] == line]
        fig.add_bar(
            x=[[r["context"] for r in mine], [r["value"] for r in mine]],
            y=[r["rate"] for r in mine],
            name="all lines" if line == "all" else f"line {line}",
            marker_color="#555555" if line == "all" else PALETTE[i % len(PALETTE)],
            customdata=[[r["num_text"], r["den_text"]] for r in mine],
            hovertemplate="%{x}: %{y:.1%} (%{customdata[0]}/%{customdata[1]})",
        )
    fig.update_layout(barmode="group")
    fig.update_yaxes(tickformat=".0%", range=[0, 1.02], title="concordant among evaluable lines")
    return _layout(fig, height=460)


def _funnel_traces(sites: list[dict[str, Any]], p0: float) -> tuple[list[go.Scatter], float]:
    n_max = max(s["n_evaluable"] for s in sites)
    n_grid = np.unique(np.round(np.linspace(THRESHOLD, max(n_max * 1.1, THRESHOLD + 1), 300)))
    limits = stats.funnel_limits(n_grid, p0)
    traces = []
    styles = {"998": ("99.8% limits", "#d73027", "dash"), "95": ("95% limits", "#fc8d59", "dot")}
    for key, (name, colour, dash) in styles.items():
        for side in ("lower", "upper"):
            traces.append(go.Scatter(
                x=n_grid, y=limits[f"{side}_{key}"], mode="lines", name=name,
                legendgroup=key, showlegend=side == "upper",
                line={"color": colour, "dash": dash, "width": 1.5}, hoverinfo="skip",
            ))
    traces.append(go.Scatter(x=[n_grid[0], n_grid[-1]], y=[p0, p0], mode="lines",
                             name=f"all sites ({p0:.1%})",
                             line={"color": "#333333", "width": 1.5}, hoverinfo="skip"))
    colours = {"above 99.8%": "#1a9850", "below 99.8%": "#d73027"}
    traces.append(go.Scatter(
        x=[s["n_evaluable"] for s in sites], y=[s["rate"] for s in sites],
        mode="markers+text", name="sites",
        marker={"size": 9, "color": [colours.get(s["position"], "#4575b4") for s in sites],
                "line": {"width": 1, "color": "white"}},
        text=[s["site_id"] if s["position"] in colours else "" for s in sites],
        textposition="top center",
        customdata=[[s["site_id"], s["position"]] for s in sites],
        hovertemplate="%{customdata[0]}: %{y:.1%} of %{x:,} evaluable lines "
                      "(%{customdata[1]})<extra></extra>",
    ))
    low = min(min(s["rate"] for s in sites), float(np.nanmin(limits["lower_998"])))
    return traces, low


def funnel_plot(panels: list[tuple[str, list[dict[str, Any]], float | None]]) -> go.Figure | None:
    """Each site's concordance rate against its number of evaluable lines, with the 95% and
    99.8% exact binomial control limits around the rate of all sites; outliers named.

    One panel per line group (`(label, sites, p0)`), the first shown, the others chosen
    from a drop-down menu."""
    fig = go.Figure()
    groups: list[tuple[str, int, int, float]] = []
    for label, sites, p0 in panels:
        sites = [s for s in sites if s.get("rate") is not None and s.get("n_evaluable")]
        if not sites or p0 is None:
            continue
        traces, low = _funnel_traces(sites, p0)
        first = len(fig.data)
        for t in traces:
            t.visible = not groups
            fig.add_trace(t)
        groups.append((label, first, len(fig.data), low))
    if not groups:
        return None
    n = len(fig.data)
    if len(groups) > 1:
        buttons = [
            {"label": label, "method": "update",
             "args": [{"visible": [first <= i < last for i in range(n)]},
                      {"yaxis.range": [max(0.0, low - 0.05), 1.02]}]}
            for label, first, last, low in groups
        ]
        fig.update_layout(updatemenus=[{"buttons": buttons, "direction": "down", "x": 1.0,
                                        "xanchor": "right", "y": 1.14, "yanchor": "top",
                                        "showactive": True}])
    fig.update_xaxes(title="evaluable lines at the site (volume)", rangemode="tozero")
    fig.update_yaxes(tickformat=".0%", title="concordant among evaluable lines",
                     range=[max(0.0, groups[0][3] - 0.05), 1.02])
    return _layout(fig, height=500)


def sankey(links: list[dict[str, Any]]) -> go.Figure | None:
    """Line 1 → line 2 → line 3 regimens (patients)."""
    if not links:
        return None
    nodes: dict[tuple[int, str], int] = {}

    def node(line: int, name: str) -> int:
        return nodes.setdefault((line, name), len(nodes))

    src, tgt, val = [], [], []
    for link in links:
        line = link["source_line"]
        src.append(node(line, link["source"]))
        target_line = line + 1 if link["target"] != "No further line" else line + 1
        tgt.append(node(target_line, link["target"]))
        val.append(link["n"])
    labels = [f"L{line}: {name}" if name != "No further line" else "No further line"
              for (line, name) in nodes]
    names = sorted({name for _, name in nodes})  # one colour per regimen in every column
    colours = ["#bdbdbd" if name == "No further line" else
               REGIMEN_COLOURS.get(name, PALETTE[names.index(name) % len(PALETTE)])
               for _, name in nodes]
    # Fixed columns (line 1, 2, 3), so a node whose small flows were left out still sits in
    # its own line's column; within a column nodes are stacked by size, "No further line" last.
    size = [0.0] * len(nodes)
    for s, v in zip(src, val, strict=True):
        size[s] += v
    inflow = [0.0] * len(nodes)
    for t, v in zip(tgt, val, strict=True):
        inflow[t] += v
    size = [max(a, b) for a, b in zip(size, inflow, strict=True)]
    xs, ys = [0.0] * len(nodes), [0.0] * len(nodes)
    for column in sorted({line for line, _ in nodes}):
        members = [i for i, (line, _) in enumerate(nodes) if line == column]
        members.sort(key=lambda i: (labels[i] == "No further line", -size[i]))
        total = sum(size[i] for i in members) or 1.0
        top = 0.0
        for i in members:
            share = size[i] / total
            xs[i] = {1: 0.001, 2: 0.5, 3: 0.999}.get(column, 0.999)
            ys[i] = min(0.999, max(0.001, top + share / 2))
            top += share
    fig = go.Figure(go.Sankey(
        arrangement="snap",
        node={"label": labels, "pad": 14, "thickness": 16, "color": colours, "x": xs, "y": ys,
              "hovertemplate": "%{label}: %{value:,} patients<extra></extra>"},
        link={"source": src, "target": tgt, "value": val,
              "color": [_rgba(colours[s], 0.35) for s in src],
              "hovertemplate": "%{source.label} → %{target.label}: %{value:,} patients"
                               "<extra></extra>"},
    ))
    return _layout(fig, height=max(460, 26 * len(nodes)))


def km_curves(
    points: list[dict[str, Any]], title: str, at_risk: dict[str, dict[int, str]]
) -> go.Figure | None:
    """Kaplan–Meier step curves with their confidence bands (x in months)."""
    if not points:
        return None
    fig = go.Figure()
    labels = sorted({str(p["group_label"]) for p in points})
    for i, label in enumerate(labels):
        mine = [p for p in points if str(p["group_label"]) == label]
        if mine[0]["time_days"] > 0:
            mine.insert(0, {"time_days": 0, "survival": 1.0, "ci_lower": 1.0, "ci_upper": 1.0,
                            "n_at_risk": mine[0]["n_at_risk"]})
        x = [p["time_days"] / DAYS_PER_MONTH for p in mine]
        colour = PALETTE[i % len(PALETTE)]
        lower = [p["ci_lower"] if p["ci_lower"] is not None else p["survival"] for p in mine]
        upper = [p["ci_upper"] if p["ci_upper"] is not None else p["survival"] for p in mine]
        fig.add_scatter(x=x, y=upper, mode="lines", line={"width": 0, "shape": "hv"},
                        legendgroup=label, showlegend=False, hoverinfo="skip")
        fig.add_scatter(x=x, y=lower, mode="lines", line={"width": 0, "shape": "hv"},
                        fill="tonexty", fillcolor=_rgba(colour, 0.15), legendgroup=label,
                        showlegend=False, hoverinfo="skip")
        fig.add_scatter(
            x=x, y=[p["survival"] for p in mine], mode="lines", name=label.replace("_", " "),
            legendgroup=label,
            line={"color": colour, "width": 2, "shape": "hv"},
            hovertemplate="%{x:.1f} months: %{y:.1%}<extra>" + label + "</extra>",
        )
    x_max = max(p["time_days"] for p in points) / DAYS_PER_MONTH
    fig.update_xaxes(title="months", range=[0, max(6.0, math.ceil(x_max / 6) * 6)], dtick=6)
    fig.update_yaxes(title="probability", tickformat=".0%", range=[0, 1.02])
    fig.update_layout(meta={"title": title})
    return _layout(fig, height=440)


def forest_plot(rows: list[dict[str, Any]]) -> go.Figure | None:
    """Hazard ratios with 95% intervals on a log axis (rows: label, hr, lower, upper)."""
    rows = [r for r in rows if r.get("hr") is not None and r["hr"] > 0]
    if not rows:
        return None
    labels = [r["label"] for r in rows]
    fig = go.Figure()
    fig.add_scatter(
        x=[r["hr"] for r in rows], y=labels, mode="markers", name="hazard ratio",
        marker={"size": 10, "symbol": "square", "color": "#333333"},
        error_x={"type": "data", "symmetric": False,
                 "array": [(r["upper"] - r["hr"]) if r.get("upper") else 0 for r in rows],
                 "arrayminus": [(r["hr"] - r["lower"]) if r.get("lower") else 0 for r in rows],
                 "color": "#333333", "thickness": 1.5},
        customdata=[[r.get("lower"), r.get("upper")] for r in rows],
        hovertemplate="%{y}: HR %{x:.2f} (95% CI %{customdata[0]:.2f}–%{customdata[1]:.2f})"
                      "<extra></extra>",
    )
    fig.add_vline(x=1, line={"color": "#999999", "dash": "dash"})
    fig.update_xaxes(type="log", title="hazard ratio (log scale; < 1 favours the first group)")
    fig.update_yaxes(autorange="reversed", automargin=True)
    return _layout(fig, height=max(260, 34 * len(rows) + 110), showlegend=False)


def attrition_funnel(rows: list[dict[str, Any]]) -> go.Figure | None:
    rows = [r for r in rows if r.get("n_patients") is not None]
    if not rows:
        return None
    fig = go.Figure(go.Funnel(
        y=[r["step"] for r in rows], x=[r["n_patients"] for r in rows],
        texttemplate="%{value:,}", marker={"color": "#4575b4"},
        hovertemplate="%{y}: %{x:,} patients<extra></extra>",
    ))
    fig.update_yaxes(automargin=True)
    return _layout(fig, height=max(300, 48 * len(rows) + 80))


def quarantine_bars(rows: list[dict[str, Any]]) -> go.Figure | None:
    rows = [r for r in rows if r.get("n") is not None]
    if not rows:
        return None
    labels = [f"{r['source_table']}: {r['rule']}" for r in rows]
    fig = go.Figure(go.Bar(
        x=[r["n"] for r in rows], y=labels, orientation="h", marker_color="#fc8d59",
        hovertemplate="%{y}: %{x:,} rows<extra></extra>",
    ))
    fig.update_yaxes(autorange="reversed", automargin=True)
    fig.update_xaxes(title="quarantined rows")
    return _layout(fig, height=max(260, 28 * len(rows) + 100), showlegend=False)
