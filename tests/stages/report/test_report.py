"""The shareable report and the case-review file, rendered by the real stages from a
fixture warehouse that includes a 3-patient site built to break suppression."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import subprocess
import sys

import duckdb
import pytest

from her2audit import cli, warehouse
from her2audit.stages.report import build_from_warehouse, data
from her2audit.stages.report.privacy import KEY_ENV

from .conftest import TEST_KEY, build_fixture_run

PATIENT_ID = re.compile(r"\b(?:PT\d{6}|TINY-\d{4})\b")
SECTIONS = ("overview", "indicators", "concordance", "deviations", "sequences", "sites",
            "context", "outcomes", "sensitivity", "cohort", "data-quality", "provenance")
FIGURES = ("fig-indicator-trend", "fig-concordance-line", "fig-concordance-context",
           "fig-concordance-era", "fig-concordance-year", "fig-funnel-all", "fig-funnel-1",
           "fig-funnel-2", "fig-funnel-3", "fig-funnel-4plus", "fig-sankey", "fig-km-os-1",
           "fig-km-ttnt-1", "fig-km-ttd-1", "fig-km-os-4", "fig-forest", "fig-attrition")


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
    assert glance.count("<li>") == 4
    assert "S03" in glance  # the fixture's poorly concordant site is named up front


def test_no_real_patient_id_reaches_the_shareable_report(html):
    assert PATIENT_ID.findall(html) == []


def test_rare_free_text_drug_names_are_not_listed(html):
    assert "zzz unknown" in html  # 23 records
    assert "herceptn" not in html and "xyz-123" not in html  # 4 and 2 records


def test_quarantined_rows_are_examples_in_the_case_review_only(built_report, html):
    review = built_report.case_review.read_text(encoding="utf-8")
    digest = hmac.new(TEST_KEY.encode(), b"TINY-0002", hashlib.sha256).hexdigest()[:12]
    # the quarantined record that named TINY-0002: its detail and keyed pseudonym are in the
    # internal file, and nothing of it (not even the pseudonym) in the shareable one
    assert "start_date 2031-02-03 for patient TINY-0002 is in the future" in review
    assert f"<td>TINY-0002</td><td>PX-{digest}</td>" in review
    assert "2031-02-03" not in html and f"PX-{digest}" not in html
    assert "key from HER2AUDIT_PSEUDONYM_KEY" in html
    assert TEST_KEY not in html and TEST_KEY not in review


def test_no_count_below_11_is_shown(html):
    cells = re.findall(r'<td class="num count">([^<]*)</td>', html)
    assert len(cells) > 200
    for text in cells:
        if text in ("<11", "&lt;11", "–", "0", "*"):
            continue
        value = int(text.replace(",", ""))
        assert value >= 11, f"count {value} shown"
    assert "&lt;11" in html


def test_the_three_patient_site_is_shown_by_position_only(html):
    row = re.search(r"<tr><td>S-TINY</td>(.*?)</tr>", html).group(1)
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", row)
    assert cells[:4] == ["&lt;11"] * 4  # patients, lines, evaluable, concordant
    assert cells[4] == "–"  # no rate
    assert "Within the limits" in row  # its position, always
    for trace in _figure_traces(html, "fig-funnel-all"):
        if "S-TINY" in (trace.get("text") or []):
            assert trace["xaxis"] == "x2"  # the position-only strip: no volume, no rate
            assert all(isinstance(x, str) for x in trace["x"])


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
    listing = review[review.index('<section id="case-review">'):review.index("</section>")]
    rows = listing.count("<tr><td>")
    assert rows == len(expected)
    for (pid,) in expected[:50]:
        assert f"<td>{pid}</td>" in review


def test_missing_tables_render_as_a_note(tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, TEST_KEY)
    missing = ("survival_curves", "survival_summary", "survival_comparisons",
               "quality_indicators", "data_quality_results", "unmapped_drugs", "cohort_attrition")
    built = build_fixture_run(tmp_path / "w.duckdb", tmp_path / "reports", n_patients=150,
                              drop=(*missing, "median_follow_up"))
    html = built.index.read_text(encoding="utf-8")
    for table in missing:
        assert f"audit.{table} is not available in this warehouse" in html, table
    assert _follow_up_card(html)[0] == "not available"
    assert 'data-figure="fig-sankey"' in html


def test_the_funnels_show_every_site_with_an_evaluable_line(built_report, html):
    """Position always, rate when the disclosure rule allows: no site is dropped."""
    con = duckdb.connect(str(built_report.db), read_only=True)
    try:
        expected = {line: {s for (s,) in con.execute(
            "select site_id from audit.concordance_by_site where line = ? and n_evaluable > 0",
            [line]).fetchall()} for line in ("all", "1", "2", "3", "4+")}
    finally:
        con.close()
    for line, sites in expected.items():
        div = f"fig-funnel-{line.replace('+', 'plus')}"
        drawn = [t for t in _figure_traces(html, div) if t.get("mode") == "markers+text"]
        named = {text for t in drawn for text in t["text"] if text}
        hovered = {c[0] for t in drawn for c in t["customdata"]}
        assert hovered == sites, line
        if line == "all":
            with_rate = {c[0] for t in drawn if t.get("xaxis") != "x2" for c in t["customdata"]}
            assert "S03" in with_rate and "S03" in named  # below the limits: rate and name
            assert "S-TINY" not in with_rate and "S-TINY" in named  # position only


def test_first_screen_states_cut_off_and_follow_up(html):
    overview = html[html.index('<section id="overview">'):html.index("</section>")]
    assert "Data cut-off" in overview and "31 Dec 2025" in overview
    assert re.search(r"Median follow-up</div>\s*<div class=\"value\"[^>]*>\d+\.\d months", overview)
    assert "reverse Kaplan–Meier" in overview
    params = html[html.index('<section id="provenance">'):]
    assert "<td>data_cutoff</td><td>2025-12-31 (derived" in params


FOLLOW_UP_CARD = (r'Median follow-up</div>\s*<div class="value"[^>]*>([^<]*)</div>'
                  r'\s*<div class="sub">([^<]*)')


def _follow_up_card(page: str) -> tuple[str, str]:
    card = re.search(FOLLOW_UP_CARD, page)
    assert card, "no median follow-up card"
    return card.group(1), card.group(2)


def _months(days: float) -> str:
    return f"{days / data.DAYS_PER_MONTH:.1f}"


def test_follow_up_is_the_outcomes_stages_reverse_kaplan_meier(built_report, html, tmp_path,
                                                                monkeypatch):
    """The report fits nothing: the whole cohort's card and a site's card show the rows of
    audit.median_follow_up that the outcomes stage estimated; a site of 3 patients has none."""
    monkeypatch.setenv(KEY_ENV, TEST_KEY)
    with duckdb.connect(str(built_report.db), read_only=True) as con:
        rows = {r[0]: r[1:] for r in con.execute(
            "select site_id, median_days, median_ci_lower_days, median_ci_upper_days "
            "from audit.median_follow_up").fetchall()}
    for site, page in (("all", html), ("S03", None), ("S-TINY", None)):
        if page is None:
            assert cli.main(["report", "--db", str(built_report.db), "--reports",
                             str(tmp_path), "--site", site]) == 0
            page = (tmp_path / f"site-{site}.html").read_text(encoding="utf-8")
        value, sub = _follow_up_card(page)
        if site == "S-TINY":
            assert value == "not available" and "CI" not in sub
            continue
        median, lower, upper = rows[site]
        assert value == f"{_months(median)} months"
        assert f"(95% CI {_months(lower)}–{_months(upper)})" in sub


def test_readable_labels_and_numbers(html):
    body = html[html.index("<body>"):]
    text = re.sub(r"<script.*?</script>", "", body, flags=re.S)
    for internal in ("first line thp", "cox_unadjusted", "first_line_thp",
                     "no_her2_test_by_metastatic_date_plus_60_days", "not_recommended"):
        assert internal not in text, internal
    assert "First line: THP" in text and "Cox, unadjusted" in text
    assert "e-" not in re.sub(r"[a-z]e-[a-z]", "", text.lower().replace("one-", ""))


def test_where_we_deviate_lists_what_was_given_instead(html):
    section = html[html.index('<section id="deviations">'):]
    section = section[:section.index("</section>")]
    assert "Chemotherapy without anti-HER2" in section
    assert "Not recommended" in section and "her2-mbc-2023" in section
    for text in re.findall(r'<td class="num count[^"]*">([^<]*)</td>', section):
        assert text in ("&lt;11", "*", "0") or int(text.replace(",", "")) >= 11, text


def test_sankey_is_coloured_by_verdict_and_splits_what_followed(html):
    from her2audit.stages.report import labels

    (sankey,) = _figure_traces(html, "fig-sankey")
    nodes = sankey["node"]["label"]
    assert any(n.startswith("First line: not recommended") for n in nodes)
    assert "Died" in nodes and "Lost to follow-up or censored" in nodes
    colour = dict(zip(nodes, sankey["node"]["color"], strict=True))
    assert colour["First line: preferred"] == labels.category_colour("preferred")
    assert colour["First line: not recommended"] == labels.category_colour("not_recommended")


def test_sensitivity_section_reads_the_table_it_finds(html):
    section = html[html.index('<section id="sensitivity">'):]
    section = section[:section.index("</section>")]
    assert "max gap days" in section and "(this run)" in section
    assert "Concordant lines" in section and "First line" in section  # titles, not ids
    assert "95.0%" not in section  # line 3 at 90 days: 5 lines not concordant, rate hidden
    assert "<td class=\"num count\">31</td>" in section and "&lt;11" in section


def test_a_site_report_shows_the_site_against_anonymous_others(built_report, tmp_path,
                                                               monkeypatch, capsys):
    monkeypatch.setenv(KEY_ENV, TEST_KEY)
    out = tmp_path / "site"
    assert cli.main(["report", "--db", str(built_report.db), "--reports", str(out),
                     "--site", "S03"]) == 0
    page = (out / "site-S03.html").read_text(encoding="utf-8")
    assert str(out / "site-S03.html") in capsys.readouterr().out
    body = re.sub(r"<script.*?</script>", "", page[page.index("<body>"):], flags=re.S)
    others = {f"S{i:02d}" for i in range(1, 15)} - {"S03"} | {"S-TINY"}
    assert [s for s in others if re.search(rf"\b{s}\b", body)] == []
    for div in ("fig-funnel-all", "fig-funnel-1"):
        traces = _figure_traces(page, div)
        names = {c[0] for t in traces if t.get("customdata") for c in t["customdata"]}
        assert "S03 (this site)" in names and names <= {"S03 (this site)", "another site"}
    assert "Below the 99.8% limit" in body  # the fixture's poorly concordant site
    assert PATIENT_ID.findall(page) == []
    for text in re.findall(r'<td class="num count">([^<]*)</td>', page):
        for part in text.split(" / "):
            assert part in ("&lt;11", "–", "0", "*") or int(part.replace(",", "")) >= 11


def test_an_unknown_site_exits_2(built_report, tmp_path, capsys):
    assert cli.main(["report", "--db", str(built_report.db), "--reports", str(tmp_path),
                     "--site", "S99"]) == 2
    assert "no such site" in capsys.readouterr().err


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
    from her2audit.stages.report.suppression import observed as _observed

    assert _observed("1 of 1998 values unexpected", "x_age") == "<11 of 1,998 values unexpected"
    assert _observed("1", "patients_with_diagnosis_at_least_80pct") == "1"
    assert _observed("7", "biomarkers_staged_at_least_one") == "<11"
    assert _observed("7001", "biomarkers_staged_at_least_one") == "7,001"
    assert _observed("0.98", "x_pct") == "0.98"


def test_a_registry_uri_is_shown_without_its_password():
    from her2audit.stages.report.suppression import redact_credentials

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
    for trace in _figure_traces(html, "fig-funnel-all"):
        if trace.get("mode") == "markers+text" and trace.get("xaxis") != "x2":
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
            if not trace.get("customdata"):
                continue
            for y, (num, den, *_) in zip(trace["y"], trace["customdata"], strict=True):
                if y is None:
                    continue
                num, den = int(num.replace(",", "")), int(den.replace(",", ""))
                assert (num == 0 or num >= 11) and den >= 11 and (den - num == 0 or
                                                                   den - num >= 11)


def test_templates_escape_hostile_text_and_scripts_cannot_be_closed_early():
    from her2audit.stages.report import render

    hostile = '<script>alert("x")</script>'
    page = render.environment().from_string(
        '{% from "macros.html.j2" import table %}{{ table(["h"], [[text]]) }}').render(
        text=hostile)
    assert hostile not in page and "&lt;script&gt;" in page
    fig = render.figure_html({"data": [{"type": "bar", "x": [hostile], "y": [1]}],
                              "layout": {}}, "fig-x")
    assert "</script>" not in str(fig).replace("</script></div>", "")
    assert '"x":["\\u003cscript\\u003e' in str(fig)


def test_rendering_the_report_loads_no_lifelines(built_report, tmp_path):
    """The median follow-up is read from audit.median_follow_up, so rebuilding the report
    (as the report stage renders it) fits nothing: lifelines, which took 2–3 s to load in the
    report stage, stays unloaded."""
    code = ("import sys\nfrom pathlib import Path\n"
            "from her2audit.stages.report import build_from_warehouse\n"
            f"build_from_warehouse(Path({str(built_report.db)!r}), Path({str(tmp_path)!r}))\n"
            "print('lifelines' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={**os.environ, KEY_ENV: TEST_KEY})
    assert out.stdout.strip().splitlines()[-1] == "False"
    assert "Median follow-up" in (tmp_path / "index.html").read_text(encoding="utf-8")
