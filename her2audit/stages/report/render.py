"""HTML building blocks of the report: page frame, sections, tables, figures.

Everything is inline: the style sheet, plotly.js (once, in the page head) and each
figure's data, so the file opens offline and makes no network request.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio
import plotly.offline

PLOTLY_CONFIG = {
    "displaylogo": False,
    "responsive": True,
    "modeBarButtonsToRemove": ["sendDataToCloud", "lasso2d", "select2d"],
}

CSS = """
:root { --ink:#1f2328; --muted:#59636e; --line:#d0d7de; --bg:#f6f8fa; --accent:#0b5394; }
* { box-sizing: border-box; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink);
       margin: 0; line-height: 1.45; font-size: 15px; }
header.top { background: var(--accent); color: white; padding: 18px 28px; }
header.top h1 { margin: 0 0 4px 0; font-size: 24px; }
header.top p { margin: 0; opacity: .9; }
nav.toc { position: sticky; top: 0; background: white; border-bottom: 1px solid var(--line);
          padding: 8px 28px; z-index: 10; font-size: 14px; }
nav.toc a { margin-right: 14px; color: var(--accent); text-decoration: none; white-space: nowrap; }
main { max-width: 1180px; margin: 0 auto; padding: 8px 28px 40px; }
section { margin-top: 28px; border-top: 1px solid var(--line); padding-top: 8px; }
h2 { font-size: 21px; margin: 12px 0 6px; }
h3 { font-size: 17px; margin: 18px 0 6px; }
p.lead, p.note { color: var(--muted); margin: 4px 0 10px; }
div.missing { background: #fff8c5; border: 1px solid #d4a72c; padding: 8px 12px; border-radius: 6px;
              margin: 8px 0; }
div.privacy { background: var(--bg); border: 1px solid var(--line); padding: 8px 12px;
              border-radius: 6px; margin: 12px 0; font-size: 14px; }
table { border-collapse: collapse; margin: 8px 0 14px; font-size: 13.5px; width: auto; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 10px; text-align: left;
         vertical-align: top; }
th { background: var(--bg); font-weight: 600; }
table.wrap td { overflow-wrap: anywhere; max-width: 24em; }
td:first-child { min-width: 8em; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
div.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(250px, 1fr)); gap: 12px;
            margin: 10px 0 16px; }
div.card { border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px; }
div.card .value { font-size: 28px; font-weight: 650; }
div.card .name { font-weight: 600; }
div.card .def { color: var(--muted); font-size: 13px; }
div.plot { width: 100%; min-height: 200px; }
details summary { cursor: pointer; color: var(--accent); margin: 6px 0; }
code { background: var(--bg); padding: 1px 4px; border-radius: 4px; font-size: 13px; }
footer { color: var(--muted); font-size: 13px; border-top: 1px solid var(--line); margin-top: 30px;
         padding-top: 10px; }
@page { size: A4; margin: 12mm; }
@media print {
  body { font-size: 11pt; }
  nav.toc { display: none; }
  div.plot { zoom: 0.6; }
  table { font-size: 9pt; }
  .updatemenu-container { display: none; }
  header.top { background: white; color: black; border-bottom: 2px solid black; }
  section { break-inside: auto; }
  div.plot, table, div.card { break-inside: avoid; }
  details { display: block; }
  main { max-width: none; padding: 0 10px; }
}
"""


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def plotly_script() -> str:
    """plotly.js itself, inline, once per page."""
    return f'<script type="text/javascript">{plotly.offline.get_plotlyjs()}</script>'


def figure(fig: go.Figure | None, div_id: str, missing: str) -> str:
    """A figure as a div plus its inline script (plotly.js must already be on the page)."""
    if fig is None:
        return note_missing(missing)
    body = pio.to_html(
        fig, include_plotlyjs=False, full_html=False, div_id=div_id, config=PLOTLY_CONFIG,
        default_width="100%", default_height=f"{fig.layout.height or 420}px", validate=False,
    )
    return f'<div class="plot" data-figure="{esc(div_id)}">{body}</div>'


def note_missing(what: str) -> str:
    return f'<div class="missing">{esc(what)}</div>'


def note(text: str) -> str:
    return f'<p class="note">{esc(text)}</p>'


COUNT = "count"


def _cell_class(kind: bool | str) -> str:
    if kind == COUNT:
        return ' class="num count"'
    return ' class="num"' if kind else ""


def table(
    headers: Sequence[str], rows: Iterable[Sequence[Any]],
    numeric: Sequence[bool | str] | None = None, wrap: bool = False,
) -> str:
    """An HTML table. `numeric[i]` is False (text), True (a number, right-aligned) or
    `COUNT` (a count of patients, lines or rows: subject to small-cell suppression)."""
    numeric = list(numeric) if numeric is not None else [False] * len(headers)
    head = "".join(
        f'<th class="num">{esc(h)}</th>' if n else f"<th>{esc(h)}</th>"
        for h, n in zip(headers, numeric, strict=True)
    )
    body = []
    for row in rows:
        cells = "".join(
            f"<td{_cell_class(n)}>{esc(v)}</td>"
            for v, n in zip(row, numeric, strict=True)
        )
        body.append(f"<tr>{cells}</tr>")
    cls = ' class="wrap"' if wrap else ""
    return (f"<table{cls}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody>"
            "</table>")


def section(anchor: str, title: str, lead: str, body: str) -> str:
    return (f'<section id="{esc(anchor)}"><h2>{esc(title)}</h2>'
            f'<p class="lead">{esc(lead)}</p>{body}</section>')


def page(title: str, subtitle: str, toc: Sequence[tuple[str, str]], sections: Sequence[str],
         footer: str, with_plotly: bool = True) -> str:
    nav = "".join(f'<a href="#{esc(a)}">{esc(t)}</a>' for a, t in toc)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{esc(title)}</title><style>{CSS}</style>"
        f"{plotly_script() if with_plotly else ''}</head><body>"
        f'<header class="top"><h1>{esc(title)}</h1><p>{esc(subtitle)}</p></header>'
        f'<nav class="toc">{nav}</nav><main>{"".join(sections)}'
        f"<footer>{footer}</footer></main></body></html>\n"
    )
