"""The network report: one self-contained HTML file (`network.html`) from a network warehouse.

The page is a Jinja2 template (`templates/network.html.j2`) that extends the audit report's
page frame (`her2audit/stages/report/templates/base.html.j2`: style sheet, plotly.js and the
figures inline, with the report's filters), so it opens offline. It shows
only what the packages shared: aggregates, counts 1–10 already suppressed by the centres
(shown as "<11").
"""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path
from typing import Any

import duckdb
import jinja2

from her2audit import __version__
from her2audit.errors import UsageError
from her2audit.network.package import NetworkRules, load_rules
from her2audit.stages.report import figures, render
from her2audit.stages.report.render import DAYS_PER_MONTH, figure_html

REPORT = "network.html"
TEMPLATES = Path(__file__).with_name("templates")
MEASURE_LABELS = {
    "concordance_line_all": "concordance, all lines",
    "concordance_line_1": "concordance, line 1",
    "concordance_line_2": "concordance, line 2",
    "concordance_line_3": "concordance, line 3",
    "concordance_line_4+": "concordance, lines 4+",
}
GROUP_TITLES = {
    ("os_from_metastatic", "overall"): "Overall survival from metastatic diagnosis",
    ("os", "line"): "Overall survival from the start of line {line}",
    ("os", "line_concordance"): "Overall survival from the start of line {line}, "
                                "concordant vs not",
}
SURVIVAL_YEARS = (1, 2, 3, 5)
HEADLINE = "line_concordance"  # the measure of the network funnel
COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]


def _rows(con: duckdb.DuckDBPyConnection, query: str, params: list | None = None
          ) -> list[dict[str, Any]]:
    result = con.execute(query, params or [])
    names = [d[0] for d in result.description]
    return [dict(zip(names, row, strict=True)) for row in result.fetchall()]


def _count(value: Any) -> str:
    return "<11" if value is None else f"{int(value):,}"


def _rate(value: Any) -> str:
    return "–" if value is None or value != value else f"{value:.1%}"


def _hr(value: Any) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{value:.2f}"


def _funnel(con: duckdb.DuckDBPyConnection) -> Any:
    """One funnel across the network: each centre's line concordance against its volume."""
    rows = _rows(con, "select centre, denominator, rate, network_rate, funnel_position "
                      "from network.indicators_by_centre "
                      "where measure = ? and centre <> 'network'", [HEADLINE])
    centres = [{"site_id": r["centre"], "n_evaluable": r["denominator"], "rate": r["rate"],
                "position": r["funnel_position"]} for r in rows]
    p0 = rows[0]["network_rate"] if rows else None
    return figure_html(figures.funnel(centres, p0), "network-funnel")


def _survival(con: duckdb.DuckDBPyConnection, rules: NetworkRules,
              month_days: float) -> list[dict[str, Any]]:
    out = []
    for i, group in enumerate(rules.pooled_groups):
        line = group.get("line_number")
        points = _rows(
            con,
            "select coalesce(group_value, 'all') as group_label, time_days, survival, "
            "ci_lower, ci_upper, n_at_risk from network.pooled_survival "
            "where endpoint = ? and grouping = ? and line_number is not distinct from ? "
            "order by group_value, time_days",
            [group["endpoint"], group["grouping"], line],
        )
        title = GROUP_TITLES.get((group["endpoint"], group["grouping"]),
                                 f"{group['endpoint']} by {group['grouping']}").format(line=line)
        labels = list(dict.fromkeys(p["group_label"] for p in points))
        curves = [{"group": label, "label": label.replace("_", " "),
                   "colour": COLOURS[j % len(COLOURS)],
                   "points": [p for p in points if p["group_label"] == label]}
                  for j, label in enumerate(labels)]
        table = []
        for label in labels:
            mine = [p for p in points if p["group_label"] == label]
            cells = [label.replace("_", " "), _count(round(mine[0]["n_at_risk"] or 0))]
            for years in SURVIVAL_YEARS:
                before = [p for p in mine if p["time_days"] <= years * 365.25]
                reached = mine[-1]["time_days"] >= years * 365.25 - month_days
                cells.append(_rate(before[-1]["survival"]) if before and reached else "–")
            table.append(cells)
        out.append({"title": title,
                    "figure": figure_html(figures.km_panel(curves, [], title),
                                          f"network-km-{i}"),
                    "rows": table})
    return out


def _hazard_ratios(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    out = []
    for i, m in enumerate(_rows(con, "select * from network.meta_analysis "
                                     "order by endpoint, line_number, model")):
        centres = _rows(con, "select centre, hazard_ratio, hr_ci_lower, hr_ci_upper "
                             "from network.centre_hazard_ratios where endpoint = ? and "
                             "line_number = ? and model = ? order by centre",
                        [m["endpoint"], m["line_number"], m["model"]])
        forest = [{"label": c["centre"], "hr": c["hazard_ratio"], "lower": c["hr_ci_lower"],
                   "upper": c["hr_ci_upper"]} for c in centres]
        if m["status"] == "estimated":
            forest.append({"label": "random effects (network)", "hr": m["hazard_ratio"],
                           "lower": m["hr_ci_lower"], "upper": m["hr_ci_upper"]})
        name = (f"{m['endpoint'].upper()}, line {m['line_number']}, "
                f"{m['model'].replace('_', ' ')}")
        summary = "fewer than 2 centres could estimate it" if m["status"] != "estimated" else (
            f"HR {_hr(m['hazard_ratio'])} (95% CI {_hr(m['hr_ci_lower'])}–"
            f"{_hr(m['hr_ci_upper'])}), {m['k_centres']} centres; I² {m['i2']:.0%}, "
            f"τ² {m['tau2']:.3f}, Q {m['q']:.1f} on {m['q_df']} df (p {m['q_p_value']:.3f}); "
            f"fixed effect HR {_hr(m['hazard_ratio_fixed'])}")
        out.append({"name": name, "summary": summary, "method": m["method"],
                    "figure": figure_html(figures.forest_plot(forest), f"network-forest-{i}")})
    return out


def network_context(con: duckdb.DuckDBPyConnection, generated_at: dt.datetime) -> dict[str, Any]:
    rules = load_rules()
    centres = _rows(con, "select * from network.centres order by centre")
    measures = [r["measure"] for r in _rows(
        con, "select distinct measure_kind, measure from network.indicators_by_centre "
             "order by measure_kind, measure")]
    measures.sort(key=lambda m: (m != "concordance_line_all", not m.startswith("concordance"), m))
    indicator_rows = []
    for r in _rows(con, "select * from network.indicators_by_centre "
                        "order by measure_kind, measure, centre = 'network', centre"):
        indicator_rows.append([
            MEASURE_LABELS.get(r["measure"], r["measure"].replace("_", " ")), r["centre"],
            _count(r["numerator"]), _count(r["denominator"]), _rate(r["rate"]),
            r["funnel_position"] or ("" if r["centre"] == "network" else "hidden (suppressed)"),
        ])
    rulebooks = json.loads(centres[0]["rulebooks"]) if centres else []
    years = [f"{y} y" for y in SURVIVAL_YEARS]
    month_days = float(centres[0]["life_table_month_days"] or DAYS_PER_MONTH) if centres \
        else DAYS_PER_MONTH
    return {
        "title": "HER2-positive MBC treatment audit — network",
        "subtitle": f"{len(centres)} centres · generated {generated_at:%Y-%m-%d %H:%M} UTC · "
                    f"her2audit {__version__}",
        "toc": [("centres", "Centres"), ("indicators", "Indicators by centre"),
                ("survival", "Pooled survival"), ("hazard-ratios", "Hazard ratios")],
        "with_plotly": True,
        "centres": [[c["centre"], c["run_id"], c["software_version"],
                     c["data_cutoff_month"] or "–", c["suppression_threshold"]]
                    for c in centres],
        "rulebooks": ", ".join(f"{r['id']} ({r['version']})" for r in rulebooks),
        "funnel": _funnel(con),
        "funnel_measure": MEASURE_LABELS.get(HEADLINE, HEADLINE.replace("_", " ")),
        "indicators": indicator_rows,
        "survival_years": years,
        "month_days": month_days,
        "survival": _survival(con, rules, month_days),
        "hazard_ratios": _hazard_ratios(con),
    }


def render_network_report(db: Path, reports: Path,
                          generated_at: dt.datetime | None = None) -> Path:
    """Render `network.html` into `reports` from the network warehouse `db`."""
    if reports.exists() and not reports.is_dir():
        raise UsageError(f"--reports {reports}: is a file, not a folder")
    generated_at = generated_at or dt.datetime.now(dt.UTC).replace(microsecond=0, tzinfo=None)
    con = duckdb.connect(str(db), read_only=True)
    try:
        context = network_context(con, generated_at)
    finally:
        con.close()
    env = render.environment().overlay(loader=jinja2.ChoiceLoader(
        [jinja2.FileSystemLoader(str(TEMPLATES)), render.environment().loader]))
    html = env.get_template("network.html.j2").render(**context)
    reports.mkdir(parents=True, exist_ok=True)
    path = reports / REPORT
    tmp = path.with_name(f".{REPORT}.tmp")
    try:
        tmp.write_text(html, encoding="utf-8")
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
