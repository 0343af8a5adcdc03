"""Small-cell suppression over whole tables of the report, built on the rules of
`privacy` (counts from 1 to 10 hidden, complementary suppression, rates hidden with their
counts). Each function takes aggregated rows and returns them with texts to show."""

from __future__ import annotations

import re
from typing import Any

from her2audit.disclosure import ShownElsewhere, grid_relations, protect, shown_elsewhere
from her2audit.stages.report.labels import categories
from her2audit.stages.report.privacy import (
    SUPPRESSED,
    fmt_count,
    is_small,
    suppress_rate_grid,
)


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


def suppress_category_rows(rows: list[dict[str, Any]], total_key: str | None = None
                           ) -> list[dict[str, Any]]:
    """Category counts of a table (one row per line group or era) with complementary
    suppression along each row (the categories add up to `n_lines`) and down each column
    (the rows add up to the row whose `total_key` is 'all', or else to the total row shown
    in another table), checked exactly (`disclosure.protect`).
    The concordance rate of a row is shown only when none of its counts is hidden."""
    cols = [*(f"n_{c}" for c in categories()), "n_lines"]
    values = {(i, c): r.get(c) or 0 for i, r in enumerate(rows) for c in cols}
    total = next((i for i, r in enumerate(rows) if total_key and r.get(total_key) == "all"),
                 None)
    column_totals: dict[str, Any] = {}
    if total is not None:
        column_totals = {c: (total, c) for c in cols}
    elif len(rows) > 1:  # (a single row is that total itself: nothing to add up)
        known = shown_elsewhere({c: sum(values[i, c] for i in range(len(rows))) for c in cols},
                                "n_lines")
        column_totals = {c: ShownElsewhere(c) for c in cols if c in known}
    hidden = protect(values, grid_relations(values, "n_lines", column_totals))
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


def suppress_summary(summary: list[dict[str, Any]]) -> tuple[set[int], set[int]]:
    """Rows of `survival_summary` whose patients (n) and whose events must be hidden,
    checked exactly (`disclosure.protect`). The groups of one line within a grouping add
    up to that line's row of the grouping 'line'; the groups of a grouping without lines
    to the endpoint's 'overall' row; the lines of the grouping 'line' to the number of
    lines shown in the concordance tables. Events are hidden with their row's patients, and with a
    small remainder (n − events, the censored), which is protected the same way."""
    line_rows = {(r["endpoint"], r["line_number"]): i for i, r in enumerate(summary)
                 if r["grouping"] == "line"}
    overall = {r["endpoint"]: i for i, r in enumerate(summary) if r["grouping"] == "overall"}
    blocks: dict[tuple, list[int]] = {}
    for i, r in enumerate(summary):
        if r["grouping"] == "overall":
            continue
        if r.get("line_number") is None or r["grouping"] == "line":
            blocks.setdefault((r["endpoint"], r["grouping"]), []).append(i)
        else:
            blocks.setdefault((r["endpoint"], r["grouping"], r["line_number"]), []).append(i)

    def total_of(block: tuple) -> int | None:
        if len(block) == 3:
            return line_rows.get((block[0], block[2]))
        return None if block[1] == "line" else overall.get(block[0])

    values = {}
    for i, r in enumerate(summary):
        values["n", i] = r["n"] or 0
        values["events", i] = r["events"] or 0
        values["censored", i] = (r["n"] or 0) - (r["events"] or 0)

    def relations(*quantities: str) -> list[list]:
        out = []
        for block, members in blocks.items():
            total = total_of(block)
            if total is not None:
                out += [[(q, total), *((q, i) for i in members)] for q in quantities]
                continue
            # the lines of the grouping 'line' (no total row): their number is shown in
            # the concordance tables (unless small there), their events nowhere else
            if quantities == ("n",) and not is_small(sum(values["n", i] for i in members)):
                out.append([ShownElsewhere(block), *(("n", i) for i in members)])
        return out

    hidden_n = {i for _, i in protect(
        {k: v for k, v in values.items() if k[0] == "n"}, relations("n"))}
    hidden_events = protect(
        {k: v for k, v in values.items() if k[0] != "n"}, relations("events", "censored"),
        together=lambda k: [("events", k[1]), ("censored", k[1])],
        hidden=[("events", i) for i in hidden_n])
    return hidden_n, {i for _, i in hidden_events}


def observed(value: Any, expectation: str | None) -> Any:
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
