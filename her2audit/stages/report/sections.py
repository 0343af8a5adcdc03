"""The sections of the shareable report, each built from aggregated rows with small-cell
suppression applied before anything reaches a table or a figure."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from typing import Any

import duckdb

from her2audit import __version__
from her2audit.stages.report import data, figures, render
from her2audit.stages.report.data import CATEGORIES, RISK_MONTHS, Source
from her2audit.stages.report.privacy import (
    SUPPRESSED,
    THRESHOLD,
    Pseudonymiser,
    fmt_count,
    fmt_rate,
    is_small,
    suppress_parts,
    suppress_rate_grid,
    suppress_relations,
)

MISSING = "not available in this warehouse"
C = render.COUNT
ENDPOINT_NAMES = {
    "os": "Overall survival",
    "ttnt": "Time to next treatment",
    "ttd": "Time to treatment discontinuation",
    "os_from_metastatic": "Overall survival from metastatic diagnosis",
}


def fraction(numerator: int | None, denominator: int | None) -> tuple[str, str, float | None]:
    """Texts for numerator and denominator and the rate, with suppression: a small
    denominator hides everything; a small numerator, or a small remainder
    (denominator − numerator, recoverable by subtraction), hides the numerator and rate."""
    if numerator is None or denominator is None:
        return fmt_count(numerator), fmt_count(denominator), None
    if is_small(denominator):
        return SUPPRESSED, SUPPRESSED, None
    if is_small(numerator) or is_small(denominator - numerator):
        return SUPPRESSED, fmt_count(denominator), None
    rate = numerator / denominator if denominator else None
    return fmt_count(numerator), fmt_count(denominator), rate


def suppress_category_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Category counts of a table (one row per line group or era) with complementary
    suppression along each row (the categories add up to `n_lines`) and down each column
    (the rows add up to the table's 'all' row, or to the total shown in another table).
    The concordance rate of a row is shown only when none of its counts is hidden."""
    cols = [f"n_{c}" for c in CATEGORIES] + ["n_lines"]
    values = {(i, c): r.get(c) or 0 for i, r in enumerate(rows) for c in cols}
    relations = [[(i, c) for c in cols] for i in range(len(rows))]
    relations += [[(i, c) for i in range(len(rows))] for c in cols]
    hidden = suppress_relations(values, relations)
    out = []
    for i, row in enumerate(rows):
        o = dict(row)
        for c in cols:
            h = (i, c) in hidden
            o[f"{c}_text"] = fmt_count(row.get(c) or 0, h)
            o[c] = None if h else row.get(c) or 0
        any_hidden = any((i, c) in hidden for c in cols)
        _, _, rate = fraction(row.get("n_concordant"), row.get("n_evaluable"))
        o["rate"] = None if any_hidden else rate
        out.append(o)
    return out


def suppress_categories(row: dict[str, Any]) -> dict[str, Any]:
    """One row of category counts on its own (see `suppress_category_rows`)."""
    return suppress_category_rows([row])[0]


def rate_cells(rows: list[dict[str, Any]], row_key: str, col_key: str, num: str, den: str,
               total_column: Any = "all", columns_add_up: bool = True) -> list[dict[str, Any]]:
    """Rows of a table of rates (`num`/`den` per `row_key` × `col_key`, with a total column)
    with `rate`, `num_text` and `den_text` after complementary suppression over the table."""
    cells = {(r[row_key], r[col_key]): (r.get(num), r.get(den)) for r in rows}
    hidden = suppress_rate_grid(cells, total_column, columns_add_up)
    out = []
    for r in rows:
        if (r[row_key], r[col_key]) in hidden:
            out.append({**r, "rate": None, "hidden": True,
                        "num_text": fmt_count(r.get(num) or 0, True),
                        "den_text": fmt_count(r.get(den) or 0, True)})
        else:
            n_text, d_text, rate = fraction(r.get(num), r.get(den))
            out.append({**r, "rate": rate, "hidden": False, "num_text": n_text,
                        "den_text": d_text})
    return out


def _category_table(rows: list[dict[str, Any]], key: str, key_title: str) -> str:
    headers = [key_title, "lines"] + [figures.CATEGORY_LABELS[c] for c in CATEGORIES] + [
        "concordant (of evaluable)"]
    body = [
        [r[key], r["n_lines_text"]] + [r[f"n_{c}_text"] for c in CATEGORIES] + [fmt_rate(r["rate"])]
        for r in rows
    ]
    return render.table(headers, body, [False] + [C] * (len(headers) - 2) + [True])


# ---------------------------------------------------------------- sections

def section_overview(src: Source, info: dict[str, Any], pseudo: Pseudonymiser) -> str:
    n = data.cohort_size(src)
    first, last = data.data_period(src)
    facts = []
    if n is not None:
        facts.append(("patients in the audit cohort", fmt_count(n)))
    if first is not None:
        facts.append(("lines of therapy started", f"{first:%Y-%m-%d} to {last:%Y-%m-%d}"))
    params = info.get("parameters") or {}
    if isinstance(params, dict) and params.get("data_cutoff"):
        facts.append(("data cut-off", params["data_cutoff"]))
    facts.append(("run", info.get("run_id") or "–"))
    cards = "".join(
        f'<div class="card"><div class="name">{render.esc(k)}</div>'
        f'<div class="value">{render.esc(v)}</div></div>' for k, v in facts
    )
    privacy = (
        '<div class="privacy"><strong>Privacy.</strong> This report is meant to be shared: it '
        "holds aggregates only (besides one example record per quarantine rule, under a "
        f"pseudonym). Counts from 1 to 10 are shown as “{SUPPRESSED}”; where a total "
        "would reveal such a count, a second cell is hidden too and shown as “*”; rates "
        "computed from hidden "
        f"counts are not shown; curves stop where fewer than {THRESHOLD} patients remain at "
        f"risk. {render.esc(pseudo.note())} Case-level listings for clinical review are in the "
        "separate internal file <code>case_review.html</code>, which contains identifiable "
        "data and must not be shared.</div>"
    )
    findings = "".join(f"<li>{render.esc(f)}</li>" for f in key_findings(src))
    glance = f"<h3>At a glance</h3><ul>{findings}</ul>" if findings else ""
    return render.section(
        "overview", "Overview",
        "Do HER2-positive metastatic breast cancer patients get the guideline-recommended "
        "sequence of systemic therapy, and how do they fare?",
        f'<div class="cards">{cards}</div>{glance}{privacy}',
    )


def key_findings(src: Source) -> list[str]:
    """A few sentences for the top of the report, each from an already suppressed figure
    (nothing is said that a section below would hide)."""
    out = []
    by_line = {r["line"]: r for r in suppress_category_rows(data.concordance_by_line(src))}
    overall = by_line.get("all")
    if overall and overall["rate"] is not None:
        worst = min((r for k, r in by_line.items() if k != "all" and r["rate"] is not None),
                    key=lambda r: r["rate"], default=None)
        out.append(
            f"{fmt_rate(overall['rate'])} of evaluable lines followed the guideline in force "
            "(preferred or alternative regimen)"
            + (f"; the lowest share is in line {worst['line']} ({fmt_rate(worst['rate'])})."
               if worst else "."))
    if src.has("concordance_by_site"):
        sites = [r for r in _suppress_sites(data.concordance_by_site(src)) if r["line"] == "all"]
        low = sorted((r for r in sites if r["rate"] is not None
                      and r["position"] == "below 99.8%"), key=lambda r: r["rate"])
        plotted = sum(1 for r in sites if r["rate"] is not None)
        if plotted:
            out.append(
                f"{len(low)} of {plotted} sites shown lie below the 99.8% control limit of "
                "concordance" + (": " + ", ".join(f"{r['site_id']} ({fmt_rate(r['rate'])})"
                                                  for r in low[:8])
                                 + (f" and {len(low) - 8} more" if len(low) > 8 else "")
                                 + "." if low else "."))
    cols, comps = data.survival_comparisons(src)
    count_cols = [c for c in cols if c in ("n", "events") or c.startswith(("n_", "events_"))]
    for r in comps:
        if (r.get("endpoint") == "os" and r.get("line_number") == 1
                and str(r.get("model", "")).endswith("adjusted")
                and "unadjusted" not in str(r.get("model", ""))
                and r.get("hazard_ratio") is not None
                and not any(is_small(r.get(c)) for c in count_cols)):
            lo, hi = r.get("hr_ci_lower"), r.get("hr_ci_upper")
            ci = f" (95% CI {lo:.2f}–{hi:.2f})" if lo is not None and hi is not None else ""
            out.append(
                f"First line: patients treated as recommended had an adjusted hazard ratio for "
                f"death of {r['hazard_ratio']:.2f}{ci} against those who were not — an "
                "observational association, not proof of cause.")
            break
    return out


def section_indicators(src: Source) -> str:
    rows = data.quality_indicators(src)
    if not rows:
        return render.section("indicators", "Quality indicators", "", render.note_missing(
            f"Quality indicators: audit.quality_indicators is {MISSING}."))
    grid = rate_cells(
        [{**r, "period": "all"} for r in rows] + data.quality_indicator_trend(src),
        "indicator", "period", "numerator", "denominator", total_column="all",
        columns_add_up=False)
    headline = [g for g in grid if g["period"] == "all"]
    trend = [{**g, "year": int(g["period"])} for g in grid if g["period"] != "all"]
    cards, labels = [], {}
    for r in headline:
        num, den, rate = r["num_text"], r["den_text"], r["rate"]
        label = r.get("label") or r["indicator"].replace("_", " ")
        labels[r["indicator"]] = label
        cards.append(
            f'<div class="card"><div class="name">{render.esc(label)}</div>'
            f'<div class="value">{render.esc(fmt_rate(rate))}</div>'
            f"<div>{render.esc(num)} of {render.esc(den)}</div>"
            f'<div class="def">{render.esc(r.get("definition") or "definition not recorded")}'
            f"</div></div>"
        )
    fig = figures.indicator_trend(trend, labels)
    body = (f'<div class="cards">{"".join(cards)}</div><h3>Trend by calendar year</h3>'
            + render.figure(fig, "fig-indicator-trend",
                            "No indicator has a yearly rate to show (none per year in the "
                            "warehouse, or all suppressed).")
            + render.note("A gap in a line is a year whose counts are suppressed."))
    return render.section(
        "indicators", "Quality indicators",
        "All sites together, all years; each card gives the rate, its numerator and "
        "denominator, and the indicator's definition.", body)


def section_concordance(src: Source) -> str:
    parts = []
    by_line = suppress_category_rows(data.concordance_by_line(src))
    for r in by_line:
        r["line_label"] = "all lines" if r["line"] == "all" else f"line {r['line']}"
    if by_line:
        parts.append("<h3>By line</h3>")
        parts.append(render.figure(
            figures.stacked_categories([r for r in by_line if r["line"] != "all"], "line_label",
                                       "line of therapy"), "fig-concordance-line",
            "Every line group is suppressed."))
        parts.append(_category_table(by_line, "line_label", "line"))
    else:
        parts.append(render.note_missing(f"Concordance by line: audit.concordance_by_line is "
                                         f"{MISSING}."))

    context = []
    raw_context = data.concordance_by_context(src)
    for name in dict.fromkeys(r["context"] for r in raw_context):
        context += rate_cells([r for r in raw_context if r["context"] == name], "value", "line",
                              "n_concordant", "n_evaluable")
    parts.append("<h3>By clinical context</h3>")
    if context:
        parts.append(render.figure(figures.context_rates(context), "fig-concordance-context",
                                   "Every context group is suppressed."))
        parts.append(render.note(
            "CNS: brain or leptomeningeal metastasis documented by the line's start + 14 days. "
            "Early relapse: metastatic disease within 183 days of the last (neo)adjuvant "
            "HER2-directed treatment; such first lines are judged as second lines."))
    else:
        parts.append(render.note_missing(f"Concordance by context: audit.line_concordance is "
                                         f"{MISSING}."))

    eras = suppress_category_rows(data.concordance_by_guideline(src))
    parts.append("<h3>By guideline era</h3>")
    if eras:
        for r in eras:
            span = (f" ({r['first_line_start']:%Y-%m} to {r['last_line_start']:%Y-%m})"
                    if r.get("first_line_start") else "")
            r["era"] = f"{r['guideline_id']}{span}"
        parts.append(render.figure(figures.stacked_categories(eras, "guideline_id", "rulebook"),
                                   "fig-concordance-era", "Every era is suppressed."))
        parts.append(_category_table(eras, "era", "rulebook in force at line start"))
    else:
        parts.append(render.note_missing(f"Concordance by guideline era: "
                                         f"audit.line_concordance is {MISSING}."))

    years = rate_cells(data.concordance_by_year(src), "year", "line", "n_concordant",
                       "n_evaluable")
    parts.append("<h3>By year of line start</h3>")
    if years:
        parts.append(render.figure(figures.rate_by_year(years), "fig-concordance-year",
                                   "Every year is suppressed."))
    else:
        parts.append(render.note_missing(f"Concordance by year: audit.concordance_by_year is "
                                         f"{MISSING}."))
    return render.section(
        "concordance", "Concordance with the recommended sequence",
        "Each line is judged by the rulebook in force at its start: preferred and alternative "
        "regimens are concordant, not-recommended ones discordant; trial participation and "
        "not-evaluable lines are shown apart and left out of the rates (concordant among "
        "preferred, alternative and not recommended lines).", "".join(parts))


def _suppress_sites(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Site rows of every line group, suppressed as one table: the line groups of a site add
    up to its 'all' row, and the sites of a line group add up to the all-sites totals shown
    elsewhere, so complementary suppression runs along both."""
    shown = rate_cells(rows, "site_id", "line", "n_concordant", "n_evaluable")
    out = []
    for line in dict.fromkeys(r["line"] for r in shown):
        mine = [r for r in shown if r["line"] == line]
        hidden_lines = suppress_parts([r["n_lines"] for r in mine])
        hidden_patients = suppress_parts([r["n_patients"] for r in mine])
        for r, hl, hp in zip(mine, hidden_lines, hidden_patients, strict=True):
            out.append({
                **r,
                "n_evaluable": None if r["hidden"] else r["n_evaluable"],
                "patients_text": fmt_count(r["n_patients"], hp),
                "lines_text": fmt_count(r["n_lines"], hl),
                "position": ((r.get("funnel_position") or "–") if r["rate"] is not None
                             else "suppressed"),
            })
    return out


def section_sites(src: Source) -> str:
    rows = data.concordance_by_site(src)
    if not rows:
        return render.section("sites", "Sites", "", render.note_missing(
            f"Concordance by site: audit.concordance_by_site is {MISSING}."))
    lines = sorted({r["line"] for r in rows}, key=lambda v: (v != "all", v))
    panels, notes = [], []
    by_line: dict[str, list[dict[str, Any]]] = {}
    suppressed = _suppress_sites(rows)
    for line in lines:
        mine = [r for r in rows if r["line"] == line]
        shown = by_line[line] = [r for r in suppressed if r["line"] == line]
        p0 = next((r["expected_rate"] for r in mine if r.get("expected_rate") is not None), None)
        label = "all lines" if line == "all" else f"line {line}"
        panels.append((label, shown, p0))
        not_plotted = sum(1 for s in shown if s["rate"] is None)

        def outside(direction: str, sites: list[dict[str, Any]] = shown) -> str:
            found = sorted((s for s in sites if s["rate"] is not None
                            and s["position"] == f"{direction} 99.8%"), key=lambda s: s["rate"])
            return ", ".join(f"{s['site_id']} {fmt_rate(s['rate'])}" for s in found) or "none"

        notes.append([label, fmt_rate(p0), outside("below"), outside("above"), not_plotted])
    shown = by_line.get("all", [])
    body = (
        render.figure(figures.funnel_plot(panels), "fig-funnel",
                      "No site has enough evaluable lines to plot.")
        + render.note(
            "Control limits are exact binomial limits (Spiegelhalter 2005) around the rate of "
            "all sites for the line group chosen in the menu (top right). Sites whose counts "
            "are suppressed are not plotted.")
        + render.table(["line group", "rate of all sites", "below the 99.8% limit",
                        "above the 99.8% limit", "sites not plotted"], notes,
                       [False, True, False, False, True])
        + "<details><summary>All sites, all lines</summary>"
        + render.table(
            ["site", "patients", "lines", "evaluable", "concordant", "rate", "funnel position"],
            [[s["site_id"], s["patients_text"], s["lines_text"], s["den_text"], s["num_text"],
              fmt_rate(s["rate"]), s["position"]] for s in shown],
            [False, C, C, C, C, True, False])
        + "</details>"
    )
    return render.section(
        "sites", "Sites",
        "Funnel plot: each site's concordance rate against its number of evaluable lines. "
        "Sites outside the limits differ from the rest by more than chance explains.", body)


def section_sequences(src: Source) -> str:
    if not src.has("lines_of_therapy"):
        return render.section("sequences", "Treatment sequences", "", render.note_missing(
            f"Treatment sequences: audit.lines_of_therapy is {MISSING}."))
    links = data.sankey_links(src)
    body = render.figure(figures.sankey(links), "fig-sankey",
                         "No flow of 11 or more patients between lines.")
    body += render.note(
        f"Patients by regimen at line 1, 2 and 3. Regimens given to fewer than {THRESHOLD} "
        f"patients at a line are pooled as “Other regimens”; flows of fewer than {THRESHOLD} "
        "patients are not drawn, so node sizes can be a little smaller than the true counts.")
    return render.section("sequences", "Treatment sequences",
                          "From the first to the third line of metastatic therapy.", body)


def _at_risk_table(at_risk: dict[str, dict[int, int]]) -> str:
    headers = ["group"] + [f"{m} mo" for m in RISK_MONTHS]
    body = [[label.replace("_", " ")] + [fmt_count(counts[m]) for m in RISK_MONTHS]
            for label, counts in at_risk.items()]
    return render.table(headers, body, [False] + [C] * len(RISK_MONTHS))


def _months(days: float | None) -> str:
    return "–" if days is None or days != days else f"{days / data.DAYS_PER_MONTH:.1f}"


def section_outcomes(src: Source) -> str:
    parts = []
    groups = data.survival_groups(src)
    if not groups:
        parts.append(render.note_missing(f"Kaplan–Meier curves: audit.survival_curves is "
                                         f"{MISSING}."))
    for endpoint, grouping, labels in data.choose_curves(groups):
        name = ENDPOINT_NAMES.get(endpoint, endpoint)
        title = f"{name} by {grouping.replace('_', ' ')}"
        points = data.survival_curve_points(src, endpoint, grouping, labels)
        at_risk = data.numbers_at_risk(src, endpoint, grouping, labels)
        parts.append(f"<h3>{render.esc(title)}</h3>")
        parts.append(render.figure(figures.km_curves(points, title, at_risk),
                                   f"fig-km-{endpoint}",
                                   f"No {name.lower()} group has {THRESHOLD} or more patients."))
        if at_risk:
            parts.append("<p class=\"note\">Numbers at risk</p>" + _at_risk_table(at_risk))

    summary = data.survival_summary(src)
    parts.append("<h3>Medians</h3>")
    if summary:
        rows = []
        hidden_n, hidden_events = _suppress_summary(summary)
        for i, r in enumerate(summary):
            n_small = i in hidden_n
            events_hidden = n_small or i in hidden_events
            hide_median = n_small or events_hidden
            ci = ("–" if hide_median or r["median_ci_lower_days"] is None else
                  f"{_months(r['median_ci_lower_days'])}–{_months(r['median_ci_upper_days'])}")
            rows.append([
                ENDPOINT_NAMES.get(r["endpoint"], r["endpoint"]),
                r["grouping"].replace("_", " "), r["group_label"],
                fmt_count(r["n"], n_small), fmt_count(r["events"], events_hidden),
                "suppressed" if hide_median else (
                    _months(r["median_days"]) if r["median_days"] is not None
                    else "not reached"),
                ci,
            ])
        main_groupings = {"overall", "line", "line_concordance"}
        headers = ["endpoint", "grouping", "group", "patients", "events", "median (months)",
                   "95% CI"]
        numeric = [False, False, False, C, C, True, True]
        main = [row for row, r in zip(rows, summary, strict=True) if r["grouping"] in
                main_groupings]
        rest = [row for row, r in zip(rows, summary, strict=True) if r["grouping"] not in
                main_groupings]
        if main:
            parts.append(render.table(headers, main, numeric))
        if rest:
            parts.append(f"<details><summary>All groupings ({len(rest)} more groups)</summary>"
                         + render.table(headers, rest, numeric) + "</details>")
    else:
        parts.append(render.note_missing(f"Median survival: audit.survival_summary is {MISSING}."))

    parts.append("<h3>Hazard ratios</h3>")
    cols, comps = data.survival_comparisons(src)
    if comps:
        parts.append(_forest(cols, comps))
    else:
        parts.append(render.note_missing(
            f"Hazard ratios: audit.survival_comparisons is {MISSING}."))
    return render.section(
        "outcomes", "Outcomes",
        "Kaplan–Meier estimates with 95% confidence bands (log(−log) intervals); time from "
        "the start of the line (overall survival from the line start, time to next treatment, "
        "time to treatment discontinuation).", "".join(parts))


def _suppress_summary(summary: list[dict[str, Any]]) -> tuple[set[int], set[int]]:
    """Rows of `survival_summary` whose patients (n) and whose events must be hidden. The
    groups of one endpoint × grouping (and of one line within it) add up to totals shown
    elsewhere, so complementary suppression runs within each; events are hidden with a
    small remainder (n − events) too."""
    blocks: dict[tuple, list[int]] = {}
    for i, r in enumerate(summary):
        blocks.setdefault((r["endpoint"], r["grouping"]), []).append(i)
        if r.get("line_number") is not None:
            blocks.setdefault((r["endpoint"], r["grouping"], r["line_number"]), []).append(i)
    relations = list(blocks.values())
    hidden_n = suppress_relations({i: r["n"] for i, r in enumerate(summary)}, relations)
    start = hidden_n | {i for i, r in enumerate(summary)
                        if is_small((r["n"] or 0) - (r["events"] or 0))}
    hidden_events = suppress_relations({i: r["events"] for i, r in enumerate(summary)},
                                       relations, start)
    return hidden_n, hidden_events


def _pick(cols: list[str], *names: str) -> str | None:
    for n in names:
        if n in cols:
            return n
    return None


LABEL_COLUMNS = ("endpoint", "line_number", "line", "grouping", "comparison", "model")


def _forest(cols: list[str], comps: list[dict[str, Any]]) -> str:
    hr_col = _pick(cols, "hazard_ratio", "hr", "estimate")
    lo_col = _pick(cols, "hr_ci_lower", "ci_lower", "hr_lower", "lower_95", "ci_lower_95")
    hi_col = _pick(cols, "hr_ci_upper", "ci_upper", "hr_upper", "upper_95", "ci_upper_95")
    p_col = _pick(cols, "p_value", "p", "logrank_p_value", "pvalue")
    caveat_col = _pick(cols, "caveat")
    note_col = _pick(cols, "note", "warning")
    count_cols = [c for c in cols if c in ("n", "events", "n_patients", "n_events") or
                  c.startswith(("n_", "events_"))]
    label_cols = [c for c in LABEL_COLUMNS if c in cols
                  and len({str(r.get(c)) for r in comps}) > 1]
    if not label_cols:  # an unknown layout: every short text or integer column labels a row
        label_cols = [c for c in cols if c not in {hr_col, lo_col, hi_col, p_col, caveat_col,
                                                   note_col, *count_cols}
                      and isinstance(comps[0].get(c), str | int)
                      and not isinstance(comps[0].get(c), bool)]
    common = [str(comps[0][c]) for c in ("comparison",) if c in cols and c not in label_cols]

    def part(c: str, v: Any) -> str:
        if isinstance(v, int) and not isinstance(v, bool):
            return f"line {v}" if "line" in c else f"{c.replace('_', ' ')} {v}"
        return ENDPOINT_NAMES.get(str(v), str(v))

    if hr_col is None:
        return render.note_missing("Hazard ratios: audit.survival_comparisons has no hazard "
                                   "ratio column.")
    forest, table_rows = [], []
    for r in comps:
        label = " · ".join(part(c, r[c]) for c in label_cols if r.get(c) not in (None, ""))
        small = any(is_small(r.get(c)) for c in count_cols)
        hr = None if small else r.get(hr_col)
        lo = None if small or lo_col is None else r.get(lo_col)
        hi = None if small or hi_col is None else r.get(hi_col)
        if hr is not None:
            forest.append({"label": label, "hr": hr, "lower": lo, "upper": hi})
        # one small count hides every count of the row (they add up to each other)
        counts = [fmt_count(r.get(c), True if small else None) for c in count_cols]
        table_rows.append(
            [label] + counts
            + ["suppressed" if small else ("–" if hr is None else f"{hr:.2f}"),
               "–" if lo is None or hi is None else f"{lo:.2f}–{hi:.2f}",
               "–" if small or p_col is None or r.get(p_col) is None else f"{r[p_col]:.3g}"]
            + ([r.get(note_col) or ""] if note_col else []))
    caveats = sorted({str(r[caveat_col]) for r in comps if caveat_col and r.get(caveat_col)})
    caveat = (" ".join(caveats) if caveats else
              "These are observational associations, not causal effects: patients who did not "
              "receive the recommended regimen may differ in ways the models do not capture.")
    out = render.figure(figures.forest_plot(forest), "fig-forest",
                        "No comparison has enough patients to show.")
    if common:
        out += render.note(f"Comparison: {common[0]}; a hazard ratio below 1 favours the first "
                           "group.")
    out += '<div class="privacy"><strong>Caveat.</strong> ' + render.esc(caveat) + "</div>"
    headers = (["comparison"] + [c.replace("_", " ") for c in count_cols]
               + ["hazard ratio", "95% CI", "p"] + (["note"] if note_col else []))
    out += render.table(headers, table_rows, [False] + [C] * len(count_cols) + [True] * 3
                        + ([False] if note_col else []))
    return out


def merge_small_steps(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Attrition steps whose exclusions are 1 to 10 patients are merged with the next
    step(s) (or the previous one at the end) so no exclusion count below 11 can be read off
    the difference of two shown counts."""
    groups: list[list[dict[str, Any]]] = []
    current: list[dict[str, Any]] = []
    for r in rows:
        current.append(r)
        excluded = sum(x.get("n_excluded") or 0 for x in current)
        if not is_small(excluded):
            groups.append(current)
            current = []
    if current:
        if groups and len(groups) > 1:
            groups[-1].extend(current)
        else:
            groups.append(current)
    merged = []
    for g in groups:
        excluded = sum(x.get("n_excluded") or 0 for x in g)
        reasons = [str(x["reason"]) for x in g if x.get("reason") and (x.get("n_excluded") or 0)]
        small = is_small(excluded)
        merged.append({
            "step": "; ".join(str(x["step"]) for x in g),
            "n_patients": None if small else g[-1]["n_patients"],
            "n_excluded": None if small else excluded,
            "excluded_text": SUPPRESSED if small else fmt_count(excluded),
            "patients_text": SUPPRESSED if small else fmt_count(g[-1]["n_patients"]),
            "reason": "; ".join(reasons),
        })
    return merged


def section_cohort(src: Source) -> str:
    rows = data.cohort_attrition(src)
    if not rows:
        return render.section("cohort", "Cohort", "", render.note_missing(
            f"Cohort attrition: audit.cohort_attrition is {MISSING}."))
    merged = merge_small_steps(rows)
    body = render.figure(figures.attrition_funnel(merged), "fig-attrition",
                         "Every attrition step is suppressed.")
    body += render.table(["step", "patients remaining", "excluded", "why"],
                         [[m["step"], m["patients_text"], m["excluded_text"], m["reason"]]
                          for m in merged], [False, C, C, False])
    if len(merged) < len(rows):
        body += render.note("Steps that excluded fewer than 11 patients are merged with a "
                            "neighbouring step.")
    return render.section(
        "cohort", "Cohort",
        "From every registry patient to the audit cohort (HER2-positive metastatic disease): "
        "each step and why patients left it.", body)


def section_data_quality(src: Source, pseudo: Pseudonymiser) -> str:
    parts = []
    accounting = data.row_accounting(src)
    quarantine_total_hidden: set[str] = set()
    if accounting:
        rows = []
        for r in accounting:
            hidden = suppress_parts([r["rows_staged"], r["rows_quarantined"]])
            if hidden[1]:
                quarantine_total_hidden.add(r["source_table"])
            rows.append([r["source_table"], fmt_count(r["rows_in"]),
                         fmt_count(r["rows_staged"], hidden[0]),
                         fmt_count(r["rows_quarantined"], hidden[1])])
        parts.append("<h3>Rows read, used and quarantined</h3>" + render.table(
            ["table", "rows read", "rows used", "rows quarantined"], rows,
            [False, C, C, C]))
    else:
        parts.append(render.note_missing(f"Row accounting: audit.row_accounting is {MISSING}."))

    by_rule = data.quarantine_by_rule(src)
    parts.append("<h3>Quarantine by rule</h3>")
    if by_rule:
        shown = []
        for table in sorted({r["source_table"] for r in by_rule}):
            mine = [r for r in by_rule if r["source_table"] == table]
            hidden = suppress_parts([r["n"] for r in mine])
            if table in quarantine_total_hidden:  # the rules would add up to the hidden total
                hidden = [True] * len(mine)
            for r, h in zip(mine, hidden, strict=True):
                shown.append({**r, "n": None if h else r["n"], "n_text": fmt_count(r["n"], h)})
        shown.sort(key=lambda r: (-(r["n"] or 0), r["source_table"], r["rule"]))
        parts.append(render.figure(figures.quarantine_bars(shown), "fig-quarantine",
                                   "No quarantine count can be drawn without revealing a "
                                   "count below 11 (see the table)."))
        parts.append(render.table(["table", "rule", "rows"],
                                  [[r["source_table"], r["rule"], r["n_text"]] for r in shown],
                                  [False, False, C]))
        examples = data.quarantine_examples(src)
        if examples:
            parts.append(
                "<details><summary>One example per rule (patient ids pseudonymised)</summary>"
                + render.table(["table", "rule", "patient (pseudonym)", "detail"],
                               [[e["source_table"], e["rule"], pseudo(e["patient_id"]) or "–",
                                 pseudo.scrub(e["detail"], e["patient_id"])] for e in examples])
                + "</details>")
    elif src.has("quarantine"):
        parts.append(render.note("No row was quarantined."))
    else:
        parts.append(render.note_missing(f"Quarantine: audit.quarantine is {MISSING}."))

    names, records, top = data.unmapped_drugs(src)
    parts.append("<h3>Unmapped drug names</h3>")
    if not src.has("unmapped_drugs"):
        parts.append(render.note_missing(f"Unmapped drugs: audit.unmapped_drugs is {MISSING}."))
    elif not top:
        parts.append(render.note("Every drug name in the registry was mapped."))
    else:
        # A name is free text from the source: one written in fewer than 11 records could
        # carry something about a patient, so only names seen 11 times or more are listed.
        listed = [r for r in top if not is_small(r["n_records"])]
        rare = names - len(listed)
        parts.append(render.note(
            f"{names:,} names map to no ingredient, in {fmt_count(records)} treatment "
            f"records. {len(listed)} most frequent are listed; {rare:,} written in fewer than "
            f"{THRESHOLD} records (or beyond the list) are not shown, as free text could "
            "identify a patient."))
        if listed:
            parts.append(render.table(["drug as written", "records"],
                                      [[r["drug"], fmt_count(r["n_records"])] for r in listed],
                                      [False, C]))

    results = data.data_quality_results(src)
    parts.append("<h3>Data-quality expectations</h3>")
    if results:
        failed = [r for r in results if r.get("success") is False]
        parts.append(render.note(f"{len(results)} expectations checked, {len(failed)} failed."))
        cols = list(results[0])
        rows = []
        for r in results:
            row = []
            for c in cols:
                v = r[c]
                if c == "success":
                    v = "passed" if v else "FAILED"
                elif c == "unexpected_count":
                    v = fmt_count(v)
                elif c == "observed_value":
                    v = _observed(v, r.get("expectation"))
                row.append(v)
            rows.append(row)
        parts.append(render.table([c.replace("_", " ") for c in cols], rows,
                                  [C if c == "unexpected_count" else False for c in cols]))
    else:
        parts.append(render.note_missing(
            f"Data-quality results: audit.data_quality_results is {MISSING}."))
    return render.section(
        "data-quality", "Data quality",
        "Rows that broke a row-level rule were quarantined with a reason, never dropped "
        "silently; table-level expectations guard each run.", "".join(parts))


def _observed(value: Any, expectation: str | None) -> Any:
    """An expectation's observed value with small counts suppressed: a whole number is a
    count unless the expectation is about a share (`pct`, `rate`, `share`, `ratio`), and
    "N of M values unexpected" has both numbers checked."""
    if value is None:
        return value
    text = str(value).strip()
    is_share = any(w in (expectation or "") for w in ("pct", "rate", "share", "ratio"))
    if text.isdigit() and not is_share:
        return fmt_count(int(text))
    return re.sub(r"\b(\d+) of (\d+)\b",
                  lambda m: f"{fmt_count(int(m.group(1)))} of {fmt_count(int(m.group(2)))}",
                  text)


def redact_credentials(source: Any) -> Any:
    """A registry URI without its password (postgresql://user:secret@host → user:***@host)."""
    if not isinstance(source, str):
        return source
    source = re.sub(r"(://[^:/@\s]+):[^@/\s]*@", r"\1:***@", source)
    return re.sub(r"(?i)(password=)[^&\s]*", r"\1***", source)


def _jsonish(value: Any) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, default=str)
    return "–" if value is None else str(value)


def section_provenance(src: Source, info: dict[str, Any], generated_at: dt.datetime) -> str:
    rows = [
        ["run id", info.get("run_id")],
        ["command", info.get("command")],
        ["started", info.get("started_at")],
        ["finished", info.get("finished_at")],
        ["registry", redact_credentials(info.get("registry"))],
        ["source fingerprint (SHA-256 of the input files)", info.get("source_fingerprint")],
        ["software", f"her2audit {info.get('software_version') or __version__}"],
        ["report generated", f"{generated_at:%Y-%m-%d %H:%M:%S} UTC from schema {src.schema}"],
    ]
    body = render.table(["", ""], [[k, _jsonish(v)] for k, v in rows], wrap=True)
    params = info.get("parameters")
    body += "<h3>Parameters</h3>"
    if isinstance(params, dict) and params:
        body += render.table(["parameter", "value"],
                             [[k, _jsonish(v)] for k, v in sorted(params.items())])
    else:
        body += render.note_missing(f"Run parameters are {MISSING}.")
    versions = info.get("guideline_versions")
    body += "<h3>Guideline versions</h3>"
    if isinstance(versions, list) and versions and isinstance(versions[0], dict):
        first = ["guideline_id", "version", "title", "effective_from", "effective_to"]
        cols = [c for c in first if c in versions[0]] + [c for c in versions[0]
                                                         if c not in first]
        body += render.table(
            cols, [[fmt_count(v.get(c)) if c.startswith("n_lines") else _jsonish(v.get(c))
                    for c in cols] for v in versions],
            [C if c.startswith("n_lines") else False for c in cols], wrap=True)
    elif versions:
        body += render.note(_jsonish(versions))
    else:
        body += render.note_missing(f"Guideline versions are {MISSING}.")
    return render.section("provenance", "Reproducibility",
                          "What this report was computed from and with.", body)


TOC = [("overview", "Overview"), ("indicators", "Indicators"), ("concordance", "Concordance"),
       ("sites", "Sites"), ("sequences", "Sequences"), ("outcomes", "Outcomes"),
       ("cohort", "Cohort"), ("data-quality", "Data quality"),
       ("provenance", "Reproducibility")]


def _guarded(anchor: str, title: str, build: Callable[[], str],
             problems: list[str]) -> str:
    """Render one section; a table whose columns are not what the contract says becomes a
    visible note naming the problem, and the rest of the report still renders."""
    try:
        return build()
    except duckdb.Error as exc:
        message = str(exc).splitlines()[0]
        problems.append(f"{title}: {message}")
        return render.section(anchor, title, "", render.note_missing(
            f"{title} could not be rendered from this warehouse: {message}"))


def render_index(src: Source, pseudo: Pseudonymiser, generated_at: dt.datetime,
                 problems: list[str] | None = None) -> str:
    """The shareable report. Sections that fail on an unexpected table layout are listed in
    `problems` (and shown as notes)."""
    problems = problems if problems is not None else []
    info = data.run_info(src)
    builders: list[tuple[str, str, Callable[[], str]]] = [
        ("overview", "Overview", lambda: section_overview(src, info, pseudo)),
        ("indicators", "Quality indicators", lambda: section_indicators(src)),
        ("concordance", "Concordance", lambda: section_concordance(src)),
        ("sites", "Sites", lambda: section_sites(src)),
        ("sequences", "Treatment sequences", lambda: section_sequences(src)),
        ("outcomes", "Outcomes", lambda: section_outcomes(src)),
        ("cohort", "Cohort", lambda: section_cohort(src)),
        ("data-quality", "Data quality", lambda: section_data_quality(src, pseudo)),
        ("provenance", "Reproducibility", lambda: section_provenance(src, info, generated_at)),
    ]
    body = [_guarded(anchor, title, build, problems) for anchor, title, build in builders]
    footer = (f"her2audit {render.esc(info.get('software_version') or __version__)} · run "
              f"{render.esc(info.get('run_id') or '–')} · generated {generated_at:%Y-%m-%d %H:%M}"
              " UTC · shareable: aggregates only, counts below 11 suppressed")
    return render.page("HER2-positive metastatic breast cancer: treatment sequence audit",
                       f"Guideline concordance and outcomes · run {info.get('run_id') or '–'}",
                       TOC, body, footer)
