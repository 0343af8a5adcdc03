"""Concordance by line, guideline era and year; by clinical context ("for whom"); and the
regimens given instead of the preferred one ("where do we deviate")."""

from __future__ import annotations

from typing import Any

import numpy as np

from her2audit.stages.report import data, figures, labels, stats
from her2audit.stages.report.data import Source
from her2audit.stages.report.privacy import THRESHOLD, fmt_count, fmt_rate, suppress_parts
from her2audit.stages.report.render import figure_html
from her2audit.stages.report.suppression import rate_cells, suppress_category_rows

CONTEXT_KEYS = {"CNS": "cns", "HR status": "hr_status", "Early relapse": "early_relapse"}
OTHER = "__other__"


def _category_rows(rows: list[dict[str, Any]], key: str) -> list[list[Any]]:
    return [[r[key], r["n_lines_text"]] + [r[f"n_{c}_text"] for c in labels.categories()]
            + [fmt_rate(r["rate"])] for r in rows]


def category_headers(first: str) -> list[str]:
    return [first, "lines"] + [labels.category(c) for c in labels.categories()] + [
        "concordant (of evaluable)"]


def category_kinds() -> list[str]:
    return [""] + ["count"] * (len(labels.categories()) + 1) + ["num"]


def prepare(src: Source) -> dict[str, Any]:
    by_line = suppress_category_rows(data.concordance_by_line(src), total_key="line")
    for r in by_line:
        r["line_label"] = labels.line(r["line"])
    eras = suppress_category_rows(data.concordance_by_guideline(src))
    for r in eras:
        span = (f" ({r['first_line_start']:%Y-%m} to {r['last_line_start']:%Y-%m})"
                if r.get("first_line_start") else "")
        r["era"] = f"{r['guideline_id']}{span}"
    years = rate_cells(data.concordance_by_year(src), "year", "line", "n_concordant",
                       "n_evaluable")
    return {
        "by_line": {
            "available": bool(by_line),
            "figure": figure_html(figures.stacked_categories(
                [r for r in by_line if r["line"] != "all"], "line_label", "line of therapy"),
                "fig-concordance-line"),
            "rows": _category_rows(by_line, "line_label"),
        },
        "eras": {
            "available": bool(eras),
            "figure": figure_html(figures.stacked_categories(eras, "guideline_id", "rulebook"),
                                  "fig-concordance-era"),
            "rows": _category_rows(eras, "era"),
        },
        "years": {
            "available": bool(years),
            "figure": figure_html(figures.rate_by_year(years), "fig-concordance-year"),
        },
        "headers_line": category_headers("line"),
        "headers_era": category_headers("rulebook in force at line start"),
        "kinds": category_kinds(),
    }


# ---------------------------------------------------------------- for whom

def prepare_context(src: Source) -> dict[str, Any]:
    """Concordance by clinical context and line group with Wilson 95% intervals."""
    raw = data.concordance_by_context(src)
    if not raw:
        return {"available": False}
    cells = []
    for name in dict.fromkeys(r["context"] for r in raw):
        cells += rate_cells([r for r in raw if r["context"] == name], "value", "line",
                            "n_concordant", "n_evaluable")
    shown = [c for c in cells if c["rate"] is not None]
    lower, upper = stats.wilson_interval(
        np.array([c["n_concordant"] for c in shown]), np.array([c["n_evaluable"] for c in shown]))
    for c, lo, hi in zip(shown, lower, upper, strict=True):
        c["lower"], c["upper"] = float(lo), float(hi)
    for c in cells:
        c["context_label"] = labels.context(CONTEXT_KEYS.get(c["context"], c["context"]))
    order = {"all": 0, "1": 1, "2": 2, "3": 3, "4+": 4}
    cells.sort(key=lambda c: (c["context"], c["value"], order.get(c["line"], 9)))
    rows = [[c["context_label"], c["value"], labels.line(c["line"]), c["den_text"],
             c["num_text"], fmt_rate(c["rate"]),
             f"{c['lower']:.1%}–{c['upper']:.1%}" if c["rate"] is not None else "–"]
            for c in cells]
    return {"available": True,
            "figure": figure_html(figures.context_bars(cells), "fig-concordance-context"),
            "rows": rows}


# ---------------------------------------------------------------- where do we deviate

def _groups_label(groups: str | None) -> str:
    if not groups:
        return "no preferred regimen in this context"
    return " or ".join(labels.regimen_group(g) for g in groups.split(","))


def prepare_deviations(src: Source, site: str | None = None) -> dict[str, Any]:
    """What was given instead of the preferred regimen, per line group and rulebook: the
    alternative regimens together, then each not-recommended, trial or not-evaluable
    regimen group given for 11 lines or more, then the rest pooled, each with its lines and
    share of the block's lines. Complementary suppression runs within each block (its rows
    add up to the block's lines); each line is counted in one row only, so no difference of
    two rows gives a small count away."""
    raw = data.deviations(src, site)
    if not raw:
        return {"available": False}
    eras = data.deviation_eras(src)
    blocks: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in raw:
        blocks.setdefault((r["line"], r["guideline_id"]), []).append(r)
    order = {"1": 1, "2": 2, "3": 3, "4+": 4}
    out_blocks = []
    for (line, era), rows in sorted(blocks.items(),
                                    key=lambda kv: (order.get(kv[0][0], 9), str(kv[0][1]))):
        total = sum(r["n"] for r in rows)
        preferred_n = sum(r["n"] for r in rows if r["category"] == "preferred")
        preferred = max((r for r in rows if r["preferred"]), key=lambda r: r["n"], default=None)
        alternatives = sorted((r for r in rows if r["category"] == "alternative"),
                              key=lambda r: -r["n"])
        deviating = [r for r in rows if r["category"] not in ("preferred", "alternative")]
        items = []
        if alternatives:
            named = [labels.regimen_group(r["regimen_group"]) for r in alternatives
                     if r["n"] >= THRESHOLD]
            items.append({"label": "Alternative regimens" + (
                f" ({', '.join(named[:4])}{', …' if len(named) > 4 else ''})" if named else ""),
                "category": "alternative", "n": sum(r["n"] for r in alternatives)})
        items += [{"label": labels.regimen_group(r["regimen_group"]),
                   "category": r["category"], "n": r["n"]}
                  for r in deviating if r["n"] >= THRESHOLD]
        pooled = sum(r["n"] for r in deviating if r["n"] < THRESHOLD)
        if pooled:
            items.append({"label": f"Other regimens (each fewer than {THRESHOLD} lines)",
                          "category": None, "n": pooled})
        hidden = suppress_parts([preferred_n] + [i["n"] for i in items]) if total else []
        start, end = eras.get(era, (None, None))
        rows_out = []
        for item, h in zip(items, hidden[1:], strict=True):
            rows_out.append({
                **item, "n_text": fmt_count(item["n"], h),
                "share": None if h or not total else item["n"] / total,
                "category_label": labels.category(item["category"]) if item["category"]
                else "various",
                "colour": labels.category_colour(item["category"]) if item["category"]
                else "#BBBBBB"})
        out_blocks.append({
            "line": labels.line(line), "era": era,
            "span": f"{start:%Y-%m} to {end:%Y-%m}" if start and end else "",
            "total_text": fmt_count(total),
            "preferred_text": fmt_count(preferred_n, hidden[0] if hidden else None),
            "preferred_share": None if (hidden and hidden[0]) or not total
            else preferred_n / total,
            "preferred_label": _groups_label(preferred["preferred"] if preferred else None),
            "rows": rows_out,
        })
    top = max((row | {"block": b} for b in out_blocks for row in b["rows"]
               if row["category"] == "not_recommended" and row["share"] is not None),
              key=lambda row: row["n"], default=None)
    return {"available": True, "blocks": out_blocks, "top": top}
