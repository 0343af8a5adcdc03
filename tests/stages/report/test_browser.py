"""The report in a real browser: Debian's headless chromium opens it from file://, with no
console error, no network request, and every chart drawn. A screenshot is kept in
tests/artifacts/report.png."""

from __future__ import annotations

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
    assert len(charts) >= 12
    for chart in charts:
        assert chart["width"] > 300 and chart["height"] > 150, chart
        assert chart["marks"] > 0, f"{chart['id']} drew nothing"
    assert (ARTIFACTS / "report.png").stat().st_size > 50_000


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

