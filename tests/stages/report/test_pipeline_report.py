"""End to end: a synthetic registry through the real pipeline (`run_pipeline`, every stage
on main) ends with a report; `her2audit report` rebuilds it from the published tables."""

from __future__ import annotations

import csv
import re

import duckdb
import pytest

from her2audit import pipeline
from her2audit.parameters import load_parameters
from her2audit.stages.report import build_from_warehouse
from her2audit.stages.report.privacy import KEY_ENV

TINY_SITE = "TINY-SITE"
TINY_PATIENTS = 3


def _move_to_tiny_site(patients_csv, n: int) -> None:
    """Break the registry on purpose: the first `n` patients are a site of their own."""
    with open(patients_csv, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    for row in rows[:n]:
        row["site_id"] = TINY_SITE
    with open(patients_csv, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


@pytest.fixture(scope="module")
def pipeline_run(tmp_path_factory):
    synth = pytest.importorskip("her2audit.synth", reason="synthetic registry not on main yet")
    root = tmp_path_factory.mktemp("pipeline")
    registry = root / "registry"
    synth.write_registry(registry, patients=400, seed=11, fmt="csv", progress=lambda m: None)
    _move_to_tiny_site(registry / "patients.csv", TINY_PATIENTS)
    db, reports = root / "w.duckdb", root / "reports"
    pipeline.run_pipeline(db, str(registry), load_parameters(), reports, command="test",
                          progress=lambda m: None)
    return db, reports


def test_pipeline_writes_the_report_and_marts(pipeline_run):
    db, reports = pipeline_run
    assert (reports / "index.html").exists() and (reports / "case_review.html").exists()
    con = duckdb.connect(str(db), read_only=True)
    try:
        tables = {r[0] for r in con.execute(
            "select table_name from information_schema.tables where table_schema = 'audit'"
        ).fetchall()}
        ids = [r[0] for r in con.execute("select patient_id from staging.patients").fetchall()]
    finally:
        con.close()
    if "line_concordance" in tables:
        assert {"concordance_by_line", "concordance_by_site", "concordance_by_year"} <= tables
    html = (reports / "index.html").read_text(encoding="utf-8")
    body = html[html.index("<body>"):]
    tokens = set(re.findall(r"[A-Za-z0-9_-]+", body))
    leaked = [i for i in ids if len(i) >= 4 and i in tokens]
    assert leaked == []


def test_the_three_patient_site_never_shows_a_small_count(pipeline_run):
    _, reports = pipeline_run
    html = (reports / "index.html").read_text(encoding="utf-8")
    for text in re.findall(r'<td class="num count">([^<]*)</td>', html):
        assert text in ("&lt;11", "–", "0", "*") or int(text.replace(",", "")) >= 11, text
    for row in re.findall(rf"<tr><td>{TINY_SITE}</td>(.*?)</tr>", html):
        counts = re.findall(r'<td class="num count">([^<]*)</td>', row)
        assert counts and all(c in ("&lt;11", "0", "*") for c in counts), row


def test_report_command_rebuilds_from_audit(pipeline_run, tmp_path, monkeypatch):
    db, _ = pipeline_run
    monkeypatch.setenv(KEY_ENV, "k")
    index = build_from_warehouse(db, tmp_path / "again")
    assert "from schema audit" in index.read_text(encoding="utf-8")


def test_whatever_stages_exist_the_pipeline_ends_with_a_readable_report(registry_factory,
                                                                         tmp_path):
    """On a hand-written registry through extract and the report's own stages only: the
    report is written, and the tables of the stages left out are notes, not errors."""
    registry = registry_factory()
    reports = tmp_path / "reports"
    pipeline.run_pipeline(tmp_path / "w.duckdb", str(registry), load_parameters(), reports,
                          command="test", stages=["extract", "marts", "report", "publish"],
                          progress=lambda m: None)
    html = (reports / "index.html").read_text(encoding="utf-8")
    assert '<section id="provenance">' in html
    assert "audit.line_concordance is not available in this warehouse" in html
    body = html[html.index("<body>"):]
    assert not re.search(r"\bP1\b", body)  # the registry's only patient id
    assert "CONTAINS IDENTIFIABLE" in (reports / "case_review.html").read_text(encoding="utf-8")
