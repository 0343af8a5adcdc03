"""The shareable report and the case-review file, rendered by the real stages from a
fixture warehouse that includes a 3-patient site built to break suppression."""

from __future__ import annotations

import hashlib
import hmac
import json
import re

import duckdb
import pytest

from her2audit import cli, warehouse
from her2audit.stages.report import build_from_warehouse, data
from her2audit.stages.report.privacy import KEY_ENV

from .conftest import TEST_KEY, build_fixture_run

PATIENT_ID = re.compile(r"\b(?:PT\d{6}|TINY-\d{4})\b")
SECTIONS = ("overview", "indicators", "concordance", "sites", "sequences", "outcomes", "cohort",
            "data-quality", "provenance")
FIGURES = ("fig-indicator-trend", "fig-concordance-line", "fig-concordance-context",
           "fig-concordance-era", "fig-concordance-year", "fig-funnel", "fig-sankey",
           "fig-km-os", "fig-km-ttnt", "fig-km-ttd", "fig-forest", "fig-attrition")


@pytest.fixture(scope="module")
def html(built_report) -> str:
    return built_report.index.read_text(encoding="utf-8")


def test_one_self_contained_file_under_10_mb(built_report, html):
    assert built_report.index.stat().st_size < 10_000_000
    assert html.startswith("<!DOCTYPE html>")
    assert not re.search(r"<script[^>]+src=", html), "every script must be inline"
    assert not re.search(r"<link[^>]+href=", html), "no external style sheet"
    assert html.count("Plotly.newPlot") >= len(FIGURES)
    assert html.count("plotly.js v") <= 2  # the library is inlined once (its banner)


def test_every_section_and_figure_is_there(html):
    for anchor in SECTIONS:
        assert f'<section id="{anchor}">' in html
    for fig in FIGURES:
        assert f'data-figure="{fig}"' in html, fig
    assert "not available in this warehouse" not in html
    assert "could not be rendered" not in html
    glance = html[html.index("<h3>At a glance</h3>"):html.index('<div class="privacy">')]
    assert glance.count("<li>") == 3
    assert "S03" in glance  # the fixture's poorly concordant site is named up front


def test_no_real_patient_id_reaches_the_shareable_report(html):
    assert PATIENT_ID.findall(html) == []


def test_rare_free_text_drug_names_are_not_listed(html):
    assert "zzz unknown" in html  # 23 records
    assert "herceptn" not in html and "xyz-123" not in html  # 4 and 2 records


def test_patient_ids_that_appear_are_keyed_pseudonyms(html):
    digest = hmac.new(TEST_KEY.encode(), b"TINY-0002", hashlib.sha256).hexdigest()[:12]
    assert f"PX-{digest}" in html  # the quarantined record that named TINY-0002
    assert "key from HER2AUDIT_PSEUDONYM_KEY" in html
    assert TEST_KEY not in html


def test_no_count_below_11_is_shown(html):
    cells = re.findall(r'<td class="num count">([^<]*)</td>', html)
    assert len(cells) > 200
    for text in cells:
        if text in ("<11", "&lt;11", "–", "0", "*"):
            continue
        value = int(text.replace(",", ""))
        assert value >= 11, f"count {value} shown"
    assert "&lt;11" in html


def test_the_three_patient_site_is_suppressed_and_not_plotted(html):
    row = re.search(r"<tr><td>S-TINY</td>(.*?)</tr>", html).group(1)
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", row)
    assert cells[:4] == ["&lt;11"] * 4  # patients, lines, evaluable, concordant
    assert cells[4] == "–"  # no rate
    funnel = html[html.index('data-figure="fig-funnel"'):html.index('id="sequences"')]
    assert "S-TINY" not in funnel.split("</script>")[0]


def test_aggregates_for_figures_hold_no_small_cell(built_report):
    con = duckdb.connect(str(built_report.db), read_only=True)
    try:
        src = data.Source(con, warehouse.AUDIT)
        links = data.sankey_links(src)
        assert links and min(link["n"] for link in links) >= 11
        for endpoint, grouping, labels in data.choose_curves(data.survival_groups(src)):
            points = data.survival_curve_points(src, endpoint, grouping, labels)
            assert points and min(p["n_at_risk"] for p in points) >= 11
    finally:
        con.close()


def test_case_review_lists_every_non_concordant_line_with_real_ids(built_report):
    review = built_report.case_review.read_text(encoding="utf-8")
    assert "CONTAINS IDENTIFIABLE PATIENT DATA" in review
    assert "Plotly" not in review
    con = duckdb.connect(str(built_report.db), read_only=True)
    try:
        expected = con.execute(
            "select patient_id from audit.line_concordance where not concordant").fetchall()
    finally:
        con.close()
    rows = review.count("<tr><td>")
    assert rows == len(expected)
    for (pid,) in expected[:50]:
        assert f"<td>{pid}</td>" in review


def test_missing_tables_render_as_a_note(tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, TEST_KEY)
    missing = ("survival_curves", "survival_summary", "survival_comparisons",
               "quality_indicators", "data_quality_results", "unmapped_drugs", "cohort_attrition")
    built = build_fixture_run(tmp_path / "w.duckdb", tmp_path / "reports", n_patients=150,
                              drop=missing)
    html = built.index.read_text(encoding="utf-8")
    for table in missing:
        assert f"audit.{table} is not available in this warehouse" in html, table
    assert 'data-figure="fig-sankey"' in html


def test_her2audit_report_rebuilds_from_the_published_warehouse(built_report, tmp_path,
                                                                 monkeypatch, capsys):
    monkeypatch.delenv(KEY_ENV, raising=False)
    out = tmp_path / "rebuilt"
    assert cli.main(["report", "--db", str(built_report.db), "--reports", str(out)]) == 0
    assert str(out / "index.html") in capsys.readouterr().out
    html = (out / "index.html").read_text(encoding="utf-8")
    for fig in FIGURES:
        assert f'data-figure="{fig}"' in html
    assert "from schema audit" in html
    assert "random key drawn for this report only" in html
    assert PATIENT_ID.findall(html) == []


def test_her2audit_report_on_a_missing_warehouse_exits_2(tmp_path, capsys):
    assert cli.main(["report", "--db", str(tmp_path / "none.duckdb"),
                     "--reports", str(tmp_path / "r")]) == 2
    assert "no such warehouse file" in capsys.readouterr().err


@pytest.mark.slow
def test_100k_patient_warehouse_report_stays_under_10_mb(tmp_path, monkeypatch):
    """Size is a property of the file; build time is measured by `make bench`, not here."""
    monkeypatch.setenv(KEY_ENV, TEST_KEY)
    built = build_fixture_run(tmp_path / "big.duckdb", tmp_path / "stage", n_patients=100_000)
    index = build_from_warehouse(built.db, tmp_path / "rebuilt")
    assert index.stat().st_size < 10_000_000


def test_a_table_with_unexpected_columns_becomes_a_note_not_a_crash(tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, TEST_KEY)
    built = build_fixture_run(tmp_path / "w.duckdb", tmp_path / "reports", n_patients=150)
    con = duckdb.connect(str(built.db))
    con.execute("alter table audit.survival_summary rename column median_days to median")
    con.close()
    with pytest.warns(UserWarning, match="Outcomes"):
        index = build_from_warehouse(built.db, tmp_path / "again")
    html = index.read_text(encoding="utf-8")
    assert "Outcomes could not be rendered from this warehouse" in html
    assert 'data-figure="fig-sankey"' in html


def test_observed_values_of_expectations_hide_small_counts_not_shares():
    from her2audit.stages.report.sections import _observed

    assert _observed("1 of 1998 values unexpected", "x_age") == "<11 of 1,998 values unexpected"
    assert _observed("1", "patients_with_diagnosis_at_least_80pct") == "1"
    assert _observed("7", "biomarkers_staged_at_least_one") == "<11"
    assert _observed("7001", "biomarkers_staged_at_least_one") == "7,001"
    assert _observed("0.98", "x_pct") == "0.98"


def test_a_registry_uri_is_shown_without_its_password():
    from her2audit.stages.report.sections import redact_credentials

    assert (redact_credentials("postgresql://alice:s3cret@db:5432/x?schema=cdm")
            == "postgresql://alice:***@db:5432/x?schema=cdm")
    assert redact_credentials("postgresql://db/x?password=s3cret&schema=cdm") == (
        "postgresql://db/x?password=***&schema=cdm")
    assert redact_credentials("/data/registry") == "/data/registry"


def _figure_traces(html: str, div_id: str) -> list[dict]:
    """The trace list passed to Plotly.newPlot for one figure of the page."""
    match = re.search(r'Plotly\.newPlot\(\s*"' + re.escape(div_id) + r'",\s*', html)
    assert match, div_id
    traces, _ = json.JSONDecoder().raw_decode(html, match.end())
    return traces


def test_the_data_inside_the_figures_holds_no_small_count(html):
    for trace in _figure_traces(html, "fig-funnel"):
        if trace.get("name") == "sites":
            assert min(trace["x"]) >= 11  # evaluable lines of every plotted site
            assert "S-TINY" not in trace["text"]
    (sankey,) = _figure_traces(html, "fig-sankey")
    assert min(sankey["link"]["value"]) >= 11
    for div in ("fig-concordance-line", "fig-concordance-era"):
        for trace in _figure_traces(html, div):
            for shown in trace.get("customdata") or []:
                count = shown[0].replace(",", "")
                assert count in ("<11", "*") or int(count) == 0 or int(count) >= 11
    for div in ("fig-concordance-year", "fig-concordance-context", "fig-indicator-trend"):
        for trace in _figure_traces(html, div):
            for y, (num, den) in zip(trace["y"], trace["customdata"], strict=True):
                if y is None:
                    continue
                num, den = int(num.replace(",", "")), int(den.replace(",", ""))
                assert (num == 0 or num >= 11) and den >= 11 and (den - num == 0 or
                                                                   den - num >= 11)
