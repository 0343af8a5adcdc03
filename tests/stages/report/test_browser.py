"""The report in a real browser: Debian's headless chromium opens it from file://, with no
console error, no network request, and every chart drawn. A screenshot of each section is
kept in tests/artifacts/report/<section>.png, the printed PDF in tests/artifacts/report.pdf
(tests/artifacts/ is git-ignored)."""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not installed (Debian package `chromium`; .ci/run installs it)")
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="playwright (dev extra) not installed")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        yield browser
        browser.close()


def _open(browser, path: Path, screenshot: Path | None = None):
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    errors: list[str] = []
    requests: list[str] = []
    page.on("console", lambda m: errors.append(f"console.{m.type}: {m.text}")
            if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
    page.on("request", lambda r: requests.append(r.url))
    page.on("requestfailed", lambda r: errors.append(f"request failed: {r.url}"))
    page.goto(path.resolve().as_uri(), wait_until="load")
    page.wait_for_function(
        "() => [...document.querySelectorAll('div.plot')]"
        ".every(d => d.querySelector('svg.main-svg'))", timeout=30_000)
    charts = page.evaluate(
        """() => [...document.querySelectorAll('div.plot')].map(d => {
            const svg = d.querySelector('svg.main-svg');
            const box = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
            return {id: d.dataset.figure, width: box.width, height: box.height,
                    marks: d.querySelectorAll(
                        '.trace path, .trace rect, .sankey-node, .sankey-link, .point').length};
        })""")
    if screenshot is not None:
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(screenshot), full_page=True)
    page.close()
    return errors, requests, charts


def test_report_renders_offline_without_errors(browser, built_report):
    errors, requests, charts = _open(browser, built_report.index, ARTIFACTS / "report.png")
    assert errors == []
    assert [u for u in requests if not u.startswith("file://")] == []
    assert len(charts) >= 20
    for chart in charts:
        assert chart["width"] > 300 and chart["height"] > 150, chart
        assert chart["marks"] > 0, f"{chart['id']} drew nothing"
    assert (ARTIFACTS / "report.png").stat().st_size > 50_000


SECTIONS = ("overview", "indicators", "concordance", "deviations", "sequences", "sites",
            "context", "outcomes", "sensitivity", "cohort", "data-quality", "provenance")


def _loaded(browser, path: Path, **kwargs):
    page = browser.new_page(**kwargs)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(path.resolve().as_uri(), wait_until="load")
    page.wait_for_function(
        "() => [...document.querySelectorAll('div.plot')]"
        ".every(d => d.querySelector('svg.main-svg'))", timeout=30_000)
    return page, errors


def test_every_section_renders_and_is_kept_as_a_screenshot(browser, built_report):
    page, errors = _loaded(browser, built_report.index, viewport={"width": 1366, "height": 900})
    page.add_style_tag(content="nav.toc { position: static; }")  # not over each section
    folder = ARTIFACTS / "report"
    folder.mkdir(parents=True, exist_ok=True)
    for anchor in SECTIONS:
        section = page.locator(f"section#{anchor}")
        assert section.count() == 1, anchor
        box = section.bounding_box()
        assert box and box["height"] > 80, anchor
        assert "could not be rendered" not in section.inner_text()
        section.screenshot(path=str(folder / f"{anchor}.png"))
        assert (folder / f"{anchor}.png").stat().st_size > 5_000
    assert page.locator(".modebar").count() == 0  # no plotly toolbar, on screen either
    page.close()
    assert errors == []


def test_printed_report_has_full_width_charts_and_no_toolbar(browser, built_report):
    page, errors = _loaded(browser, built_report.index, viewport={"width": 1366, "height": 900})
    page.emulate_media(media="print")
    page.evaluate("() => { document.querySelectorAll('.js-plotly-plot')"
                  ".forEach(p => Plotly.Plots.resize(p)); }")
    full_width = """() => [...document.querySelectorAll('div.plot')].every(d =>
        d.querySelector('svg.main-svg').getBoundingClientRect().width >=
        0.97 * document.querySelector('main').getBoundingClientRect().width)"""
    # plotly redraws each chart at the printed width (the page's resize listener); if one
    # never does, the assertion below names it
    with contextlib.suppress(Exception):
        page.wait_for_function(full_width, timeout=20_000)
    sizes = page.evaluate(
        """() => [...document.querySelectorAll('div.plot')].map(d => {
            const svg = d.querySelector('svg.main-svg').getBoundingClientRect();
            return {id: d.dataset.figure, plot: svg.width,
                    page: document.querySelector('main').getBoundingClientRect().width};
        })""")
    for s in sizes:  # each chart as wide as the printed page's text
        assert s["plot"] >= 0.97 * s["page"], s
    assert page.locator(".modebar").count() == 0
    pdf = ARTIFACTS / "report.pdf"
    pdf.parent.mkdir(parents=True, exist_ok=True)
    page.pdf(path=str(pdf), format="A4", print_background=True)
    page.close()
    assert errors == []
    raw = pdf.read_bytes()
    boxes = set(re.findall(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", raw))
    assert boxes and all(abs(float(w) - 595.92) < 2 and abs(float(h) - 842.88) < 2
                         for w, h in boxes), boxes  # A4 portrait pages
    assert len(re.findall(rb"/Type\s*/Page\b", raw)) >= len(SECTIONS)  # a page per section


def test_site_report_renders_in_the_browser(browser, built_report, tmp_path):
    from her2audit.stages.report import build_from_warehouse

    path = build_from_warehouse(built_report.db, tmp_path, site="S03")
    errors, requests, charts = _open(browser, path, ARTIFACTS / "report" / "site-S03.png")
    assert errors == []
    assert [u for u in requests if not u.startswith("file://")] == []
    assert charts and all(c["marks"] > 0 for c in charts)


def test_case_review_opens_without_errors(browser, built_report, tmp_path):
    # the case-review file has no chart; it must still open cleanly
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(built_report.case_review.resolve().as_uri())
    assert "IDENTIFIABLE" in page.inner_text("body")
    page.close()
    assert errors == []


def test_a_report_with_missing_tables_still_renders(browser, tmp_path, monkeypatch):
    from .conftest import build_fixture_run

    built = build_fixture_run(tmp_path / "w.duckdb", tmp_path / "reports", n_patients=150,
                              drop=("survival_curves", "survival_comparisons"))
    errors, requests, charts = _open(browser, built.index)
    assert errors == []
    assert [u for u in requests if not u.startswith("file://")] == []
    assert all(c["marks"] > 0 for c in charts)

