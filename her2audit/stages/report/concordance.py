"""Concordance by line, guideline era and year; by clinical context ("for whom"); and the
regimens given instead of the preferred one ("where do we deviate")."""

from __future__ import annotations

from typing import Any

import numpy as np

from her2audit import proportions
from her2audit.disclosure import ShownElsewhere, protect, remainders
from her2audit.stages.report import data, figures, labels
from her2audit.stages.report.data import Source
from her2audit.stages.report.privacy import THRESHOLD, fmt_count, fmt_rate, is_small
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
    lower, upper = proportions.wilson_interval(
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


def _deviation_blocks(raw: list[dict[str, Any]]
                      ) -> list[tuple[str, str, dict[str, Any] | None, list[dict[str, Any]]]]:
    """(line group, rulebook, the most frequent preferred-regimen row, items) per block, in
    line and rulebook order; items: preferred, the alternatives together, each other regimen
    group of 11 lines or more, the rest pooled (with its lines per verdict)."""
    blocks: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in raw:
        blocks.setdefault((r["line"], r["guideline_id"]), []).append(r)
    order = {"1": 1, "2": 2, "3": 3, "4+": 4}
    built = []
    for (line, era), rows in sorted(blocks.items(),
                                    key=lambda kv: (order.get(kv[0][0], 9), str(kv[0][1]))):
        alternatives = sorted((r for r in rows if r["category"] == "alternative"),
                              key=lambda r: -r["n"])
        deviating = [r for r in rows if r["category"] not in ("preferred", "alternative")]
        items = [{"label": "Preferred", "category": "preferred",
                  "n": sum(r["n"] for r in rows if r["category"] == "preferred")}]
        if alternatives:
            named = [labels.regimen_group(r["regimen_group"]) for r in alternatives
                     if r["n"] >= THRESHOLD]
            items.append({"label": "Alternative regimens" + (
                f" ({', '.join(named[:4])}{', …' if len(named) > 4 else ''})" if named else ""),
                "category": "alternative", "n": sum(r["n"] for r in alternatives)})
        items += [{"label": labels.regimen_group(r["regimen_group"]),
                   "category": r["category"], "regimen_group": r["regimen_group"],
                   "n": r["n"]}
                  for r in deviating if r["n"] >= THRESHOLD]
        pooled: dict[str, int] = {}
        for r in deviating:
            if r["n"] < THRESHOLD:
                pooled[r["category"]] = pooled.get(r["category"], 0) + r["n"]
        if pooled:
            items.append({"label": f"Other regimens (each fewer than {THRESHOLD} lines)",
                          "category": None, "n": sum(pooled.values()), "pooled": pooled})
        preferred = max((r for r in rows if r["preferred"]), key=lambda r: r["n"], default=None)
        built.append((line, era, preferred, items))
    return built


def _item_key(item: dict[str, Any]) -> tuple | None:
    """What an item counts, the same at a site and at all sites (None for the pooled rest,
    whose regimens differ)."""
    if item.get("pooled") is not None:
        return None
    if item["category"] in ("preferred", "alternative"):
        return (item["category"],)
    return (item["category"], item.get("regimen_group"))


def prepare_deviations(src: Source, site: str | None = None) -> dict[str, Any]:
    """What was given instead of the preferred regimen, per line group and rulebook: the
    alternative regimens together, then each not-recommended, trial or not-evaluable
    regimen group given for 11 lines or more, then the rest pooled, each with its lines and
    share of the block's lines. Each line is counted in one row only; the rows of a block
    add up to its lines, and a verdict's rows over the rulebooks of a line group (or over
    the line groups of a rulebook) add up to the counts of the concordance tables, so the
    blocks are suppressed together (`hidden_deviations`).

    With `site`, the site's blocks are shown beside all sites' (the site report), and the
    difference of the two is the other sites' count: a site's count is hidden where that
    difference would be from 1 to 10, and a site's block is withheld where the other sites'
    lines of it are (its total beside all sites' would give them away)."""
    raw = data.deviations(src, site)
    if not raw:
        return {"available": False}
    eras = data.deviation_eras(src)
    built = _deviation_blocks(raw)
    beside: dict[tuple[int, int], int] = {}
    withheld: set[int] = set()
    if site is not None:
        everyone = _deviation_blocks(data.deviations(src))
        hidden_there = hidden_deviations([(line, era, items) for line, era, _, items in everyone])
        shown_there = {(line, era): {_item_key(item): None if (b, k) in hidden_there
                                     else item["n"] for k, item in enumerate(items)}
                       for b, (line, era, _, items) in enumerate(everyone)}
        totals_there = {(line, era): sum(i["n"] for i in items)
                        for line, era, _, items in everyone}
        for b, (line, era, _, items) in enumerate(built):
            if is_small(totals_there.get((line, era), 0) - sum(i["n"] for i in items)):
                withheld.add(b)
            for k, item in enumerate(items):
                key = _item_key(item)
                n_there = shown_there.get((line, era), {}).get(key)
                if key is not None and n_there is not None:
                    beside[b, k] = n_there
    hidden = hidden_deviations([(line, era, items) for line, era, _, items in built], beside)
    out_blocks = []
    for b, (line, era, preferred, items) in enumerate(built):
        total = sum(i["n"] for i in items)
        start, end = eras.get(era, (None, None))
        rows_out = []
        for k, item in enumerate(items[1:], start=1):
            h = (b, k) in hidden or b in withheld
            rows_out.append({
                **{key: v for key, v in item.items() if key != "pooled"},
                "n_text": fmt_count(item["n"], h),
                "share": None if h or not total else item["n"] / total,
                "category_label": labels.category(item["category"]) if item["category"]
                else "various",
                "colour": labels.category_colour(item["category"]) if item["category"]
                else "#BBBBBB"})
        preferred_hidden = (b, 0) in hidden or b in withheld
        out_blocks.append({
            "line": labels.line(line), "era": era,
            "span": f"{start:%Y-%m} to {end:%Y-%m}" if start and end else "",
            "total_text": fmt_count(total, b in withheld),
            "preferred_text": fmt_count(items[0]["n"], preferred_hidden),
            "preferred_share": None if preferred_hidden or not total
            else items[0]["n"] / total,
            "preferred_label": _groups_label(preferred["preferred"] if preferred else None),
            "rows": rows_out,
        })
    top = max((row | {"block": b} for b in out_blocks for row in b["rows"]
               if row["category"] == "not_recommended" and row["share"] is not None),
              key=lambda row: row["n"], default=None)
    return {"available": True, "blocks": out_blocks, "top": top}


def hidden_deviations(blocks: list[tuple[str, str, list[dict[str, Any]]]],
                      beside: dict[tuple[int, int], int] | None = None
                      ) -> set[tuple[int, int]]:
    """The (block, item) counts of `prepare_deviations` to hide. Each block (line group,
    rulebook, its items: preferred first, then alternatives, regimen groups and the pooled
    rest with its lines per verdict) adds up to its lines, shown; a verdict's lines over a
    line group's blocks, and over a rulebook's, are shown in the concordance tables (by line
    and by rulebook) unless small there. The pooled row's lines per verdict are not shown
    but follow from those totals, so they are protected as unpublished counts. `beside`
    maps an item to the same count over all sites, shown beside it (a site's report): their
    difference, the other sites' count, is protected as an unpublished count too."""
    values: dict[Any, int] = {}
    unpublished: set[Any] = set()
    relations: list[list[Any]] = []
    by_verdict: dict[tuple[str, str, str], list[Any]] = {}
    for b, (line, era, items) in enumerate(blocks):
        cells = [(b, k) for k in range(len(items))]
        for cell, item in zip(cells, items, strict=True):
            values[cell] = item["n"]
            parts = item.get("pooled")
            if parts is None:
                for margin in (("line", line), ("rulebook", era)):
                    by_verdict.setdefault((*margin, item["category"]), []).append(cell)
                continue
            pooled_cells = [(*cell, category) for category in parts]
            for part, category in zip(pooled_cells, parts, strict=True):
                values[part] = parts[category]
                unpublished.add(part)
                for margin in (("line", line), ("rulebook", era)):
                    by_verdict.setdefault((*margin, category), []).append(part)
            relations.append([cell, *pooled_cells])
        total = sum(values[c] for c in cells)
        if not is_small(total):
            relations.append([ShownElsewhere(("lines", b)), *cells])
    for margin, cells in by_verdict.items():
        if not is_small(sum(values[c] for c in cells)):
            relations.append([ShownElsewhere(margin), *cells])
    others, beside_relations = remainders(values, beside or {})
    return protect(values | others, relations + beside_relations, unpublished | set(others))
