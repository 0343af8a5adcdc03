"""Pages from Jinja2 templates (`templates/`, autoescaped): Python prepares the data of
each section, the templates say how it looks and in which words, so a registry can restyle
or translate the report without touching code.

Everything ends up inline: the style sheet, plotly.js (once, in the page head) and each
figure's data, so a page opens offline and makes no network request.
"""

from __future__ import annotations

import datetime as dt
import decimal
import functools
import json
from pathlib import Path
from typing import Any

import jinja2
import markupsafe
import numpy as np

from her2audit.stages.report import labels
from her2audit.stages.report.privacy import fmt_count, fmt_rate

TEMPLATES = Path(__file__).with_name("templates")
PLOTLY_CONFIG = {"displayModeBar": False, "displaylogo": False, "responsive": True,
                 "staticPlot": False}
DAYS_PER_MONTH = 30.4375


@functools.cache
def plotly_js() -> str:
    import plotly.offline

    return plotly.offline.get_plotlyjs()


def _default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


def script_json(value: Any) -> str:
    """JSON safe inside a <script> element: no '<', '>' or '&' can end it early."""
    text = json.dumps(value, default=_default, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _clean(value: Any) -> Any:
    """NaN and infinity → null (plotly reads null as a gap)."""
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, np.ndarray):
        return _clean(value.tolist())
    if isinstance(value, np.generic):
        return _clean(value.item())
    return value


def figure_html(fig: dict[str, Any] | None, div_id: str) -> markupsafe.Markup | None:
    """A figure as a div plus the script that draws it (plotly.js is on the page)."""
    if fig is None:
        return None
    height = int(fig["layout"].get("height") or 420)
    data, layout = script_json(_clean(fig["data"])), script_json(_clean(fig["layout"]))
    return markupsafe.Markup(
        f'<div class="plot" data-figure="{markupsafe.escape(div_id)}">'
        f'<div id="{markupsafe.escape(div_id)}" class="plotly-graph-div" '
        f'style="height:{height}px; width:100%;"></div>'
        f'<script type="text/javascript">Plotly.newPlot("{markupsafe.escape(div_id)}", {data}, '
        f"{layout}, {script_json(PLOTLY_CONFIG)});</script></div>")


def months(days: float | None) -> str:
    if days is None or days != days:
        return "–"
    return f"{days / DAYS_PER_MONTH:.1f}"


def _count(value: Any, hidden: bool | None = None) -> str:
    return fmt_count(value, hidden)


@functools.cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update({
        "count": _count, "rate": fmt_rate, "months": months, "p_value": labels.p_value,
        "number": labels.number, "line_label": labels.line, "category": labels.category,
        "endpoint": labels.endpoint,
    })
    env.globals.update({"plotly_js": plotly_js, "labels": labels})
    return env


def render(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)
