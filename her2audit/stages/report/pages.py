"""The pages: the shareable report (`index.html`), the report of one site against the
others, and the internal case-review file. Python prepares each section's data (modules
of this package); the templates lay it out."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import duckdb

from her2audit import __version__
from her2audit.stages.report import (
    concordance,
    data,
    indicators,
    outcomes,
    overview,
    provenance,
    quality,
    sensitivity,
    sites,
)
from her2audit.stages.report.data import Source
from her2audit.stages.report.privacy import SUPPRESSED, THRESHOLD, Pseudonymiser
from her2audit.stages.report.render import render

TITLE = "HER2-positive metastatic breast cancer: treatment sequence audit"
TOC = [("overview", "Overview"), ("indicators", "Indicators"), ("concordance", "Concordance"),
       ("deviations", "Where we deviate"), ("sequences", "What happened next"),
       ("sites", "Sites"), ("context", "For whom"), ("outcomes", "Outcomes"),
       ("sensitivity", "Robustness"), ("cohort", "Cohort"), ("data-quality", "Data quality"),
       ("provenance", "Reproducibility")]
SECTION_TITLES = dict(TOC) | {"outcomes": "Outcomes", "data-quality": "Data quality"}


class Guard:
    """Prepare one section; a table whose columns are not what the contract says becomes a
    visible note naming the problem (listed in `problems`), and the rest still renders."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def __call__(self, anchor: str, build: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        try:
            return build()
        except duckdb.Error as exc:
            title = SECTION_TITLES.get(anchor, anchor)
            message = str(exc).splitlines()[0]
            self.problems.append(f"{title}: {message}")
            return {"error": f"{title} could not be rendered from this warehouse: {message}"}


def _common(src: Source, guard: Guard, site: str | None) -> dict[str, Any]:
    info = data.run_info(src)
    cutoff = data.data_cutoff(src, info)
    fu = overview.follow_up(src, site)
    site_data = guard("sites", lambda: sites.prepare(src, site))
    deviations = guard("deviations", lambda: concordance.prepare_deviations(src, site))
    return {"info": info, "cutoff": cutoff, "fu": fu, "sites": site_data,
            "deviations": deviations, "threshold": THRESHOLD, "suppressed": SUPPRESSED,
            "software": info.get("software_version") or __version__}


def render_index(src: Source, pseudo: Pseudonymiser, generated_at: dt.datetime,
                 problems: list[str] | None = None) -> str:
    """The shareable report. Sections that fail on an unexpected table layout are listed in
    `problems` (and shown as notes)."""
    guard = Guard()
    page = _common(src, guard, None)
    glance = guard("overview", lambda: {"items": overview.findings(
        src, page["sites"], page["deviations"])})
    html = render(
        "index.html.j2", title=TITLE, toc=TOC, with_plotly=True,
        subtitle=f"Guideline concordance and outcomes · run {page['info'].get('run_id') or '–'}",
        generated_at=generated_at, schema=src.schema, pseudo_note=pseudo.note(), **page,
        overview=overview.prepare(src, page["info"], page["cutoff"], page["fu"],
                                  glance.get("items", [])),
        indicators=guard("indicators", lambda: indicators.prepare(src)),
        concordance=guard("concordance", lambda: concordance.prepare(src)),
        sequences=guard("sequences", lambda: outcomes.prepare_sequences(src, page["cutoff"])),
        context=guard("context", lambda: concordance.prepare_context(src)),
        outcomes=guard("outcomes", lambda: outcomes.prepare(src)),
        sensitivity=guard("sensitivity",
                          lambda: sensitivity.prepare(src, page["info"].get("run_id"))),
        cohort=guard("cohort", lambda: quality.prepare_cohort(src)),
        quality=guard("data-quality", lambda: quality.prepare_data_quality(src)),
        provenance=provenance.prepare(src, page["info"], generated_at, page["cutoff"]),
    )
    if problems is not None:
        problems.extend(guard.problems)
    return html


SITE_TOC = [("overview", "Overview"), ("indicators", "Indicators"), ("sites", "Position"),
            ("deviations", "Deviations"), ("sequences", "What happened next")]


def render_site(src: Source, site: str, generated_at: dt.datetime,
                problems: list[str] | None = None) -> str:
    """One site against the others: its indicators beside all sites', its position in each
    funnel (other sites unnamed), its deviations and what followed, all suppressed as in
    the shareable report."""
    guard = Guard()
    page = _common(src, guard, site)
    html = render(
        "site.html.j2", title=f"Site {site}: treatment sequence audit", toc=SITE_TOC,
        with_plotly=True, site=site,
        subtitle=f"{site} against all sites · run {page['info'].get('run_id') or '–'}",
        generated_at=generated_at, schema=src.schema, **page,
        overview=overview.prepare(src, page["info"], page["cutoff"], page["fu"], []),
        indicators=guard("indicators", lambda: indicators.prepare(src, site)),
        all_deviations=guard("deviations", lambda: concordance.prepare_deviations(src)),
        sequences=guard("sequences",
                        lambda: outcomes.prepare_sequences(src, page["cutoff"], site)),
    )
    if problems is not None:
        problems.extend(guard.problems)
    return html
