"""Biomarker results as laboratory and EHR systems write them (rules/biomarker_results.yaml):
staging turns them into the canonical results, whatever the source, and ASCO/CAP still
decides the HER2 status in the cohort."""

from __future__ import annotations

import pytest

from her2audit.stages import cohort, extract
from tests.conftest import MINIMAL_REGISTRY


def _staged(run_context, registry_factory, rows: list[tuple[str, str, str]]):
    """Stage one patient's biomarker rows (marker, method, result)."""
    tables = dict(MINIMAL_REGISTRY)
    tables["biomarkers"] = [
        {"patient_id": "P1", "test_date": "2020-01-01", "marker": marker, "method": method,
         "result": result}
        for marker, method, result in rows
    ]
    run_context.registry = str(registry_factory(tables))
    extract.run(run_context)
    return run_context.con


@pytest.mark.parametrize(("marker", "method", "written", "result"), [
    # interpretations, any case, SNOMED qualifiers by display or code, v3 codes
    ("HER2", "", "Positive", "positive"),
    ("HER2", "IHC", "POSITIVE (qualifier value)", "positive"),
    ("HER2", "", "10828004", "positive"),
    ("HER2", "unknown", "neg", "negative"),
    ("HER2", "", "Equivocal", "equivocal"),
    ("HER2", "IHC", "IHC 3+", "3+"),
    ("ER", "IHC", "Negative (qualifier value)", "negative"),
    ("PR", "", "POS", "positive"),
    ("ER", "IHC", "90 %", "90%"),
    # HER2/CEP17 ratios: a number with method ISH, or a comparator / decimal without one
    ("HER2", "ISH", "2.5", "amplified"),
    ("HER2", "ISH", "2", "amplified"),
    ("HER2", "ISH", "1.9", "not amplified"),
    ("HER2", "", ">= 2.0", "amplified"),
    ("HER2", "", "greater than 2.2", "amplified"),
    ("HER2", "ISH", "less than 1.8", "not amplified"),
    ("HER2", "", "< 2.0", "not amplified"),
    ("HER2", "", "2.0", "amplified"),
    ("HER2", "ISH", "Amplified", "amplified"),
    ("HER2", "ISH", "non-amplified", "not amplified"),
])
def test_results_as_systems_write_them(run_context, registry_factory, marker, method, written,
                                       result):
    con = _staged(run_context, registry_factory, [(marker, method, written)])
    assert con.execute("select result from staging.biomarkers").fetchall() == [(result,)]


def test_a_ratio_without_a_method_is_an_ish_result(run_context, registry_factory):
    con = _staged(run_context, registry_factory, [("HER2", "", "greater than 2.2"),
                                                  ("HER2", "", "0")])
    assert sorted(con.execute("select method, result from staging.biomarkers").fetchall()) == [
        ("ISH", "amplified"), ("unknown", "0")]


@pytest.mark.parametrize("written", ["> 1.5", "<= 2.4", "about 2"])
def test_a_ratio_that_leaves_the_status_open_is_quarantined(run_context, registry_factory,
                                                             written):
    con = _staged(run_context, registry_factory, [("HER2", "ISH", written)])
    rule, detail = con.execute(
        "select rule, detail from build.quarantine where source_table = 'biomarkers'"
    ).fetchall()[0]
    assert rule == "value_not_allowed" and f"'{written}'" in detail


def test_er_may_not_be_an_ish_or_ihc_result(run_context, registry_factory):
    con = _staged(run_context, registry_factory, [("ER", "IHC", "3+"), ("PR", "", "amplified")])
    assert con.execute("select count(*) from build.quarantine "
                       "where rule = 'value_not_allowed'").fetchall() == [(2,)]


@pytest.mark.parametrize(("rows", "status"), [
    ([("HER2", "", "Positive")], "positive"),  # an interpretation without a method counts
    ([("HER2", "IHC", "Negative")], "negative"),
    ([("HER2", "IHC", "Equivocal")], "equivocal"),
    ([("HER2", "IHC", "Equivocal"), ("HER2", "ISH", "greater than 2.2")], "positive"),
    ([("HER2", "IHC", "2+"), ("HER2", "ISH", "1.4")], "negative"),
])
def test_asco_cap_decides_with_interpretations_and_ratios(run_context, registry_factory, rows,
                                                          status):
    _staged(run_context, registry_factory, rows)
    cohort.run(run_context)
    assert run_context.con.execute("select her2_status from staging.patient_facts").fetchall() \
        == [(status,)]
