"""The synthetic registry speaks SPEC §2 exactly, and its truth has the agreed columns."""

from __future__ import annotations

import datetime as dt
import re

import pandas as pd

from her2audit.synth import model

SPEC_COLUMNS = {
    "patients": ["patient_id", "site_id", "birth_date", "sex", "death_date",
                 "last_contact_date"],
    "diagnoses": ["patient_id", "diagnosis_date", "stage_at_diagnosis", "metastatic_date"],
    "biomarkers": ["patient_id", "test_date", "marker", "method", "result"],
    "metastases": ["patient_id", "diagnosis_date", "site"],
    "treatments": ["record_id", "patient_id", "drug", "drug_code", "code_system",
                   "start_date", "end_date", "setting", "route"],
    "progressions": ["patient_id", "progression_date", "type"],
}
TRUTH_COLUMNS = {
    "patients": ["patient_id", "site_id", "in_cohort", "exclusion_reason", "her2_status",
                 "hr_positive", "de_novo", "early_relapse", "cns_ever", "metastatic_date",
                 "death_date", "last_contact_date", "n_lines"],
    "lines": ["patient_id", "line_number", "start_date", "end_date", "ingredients", "regimen",
              "regimen_group", "has_maintenance_addition", "intended_category",
              "evaluated_as_line", "cns", "hr_positive", "early_relapse", "guideline_id"],
    "outcome_parameters": ["endpoint", "line_number", "regimen_group", "median_days",
                           "distribution", "source"],
    "mess": ["kind", "rate", "n_rows"],
}
ISO = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _is_date(text: str) -> bool:
    if not ISO.match(text):
        return False
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return True


def test_registry_columns_are_spec_names(tables) -> None:
    for name, columns in SPEC_COLUMNS.items():
        assert list(tables[name].columns) == columns, name


def test_truth_columns_are_exactly_the_agreed_ones(tables) -> None:
    for name, columns in TRUTH_COLUMNS.items():
        assert list(tables[f"truth_{name}"].columns) == columns, name


def test_dates_are_iso_except_the_injected_invalid_ones(tables, mess) -> None:
    date_columns = {
        "patients": ["death_date", "last_contact_date"],
        "diagnoses": ["diagnosis_date", "metastatic_date"],
        "biomarkers": ["test_date"], "metastases": ["diagnosis_date"],
        "treatments": ["end_date"], "progressions": ["progression_date"],
    }
    for name, columns in date_columns.items():
        for col in columns:
            values = tables[name][col]
            values = values[values != ""]
            assert values.map(_is_date).all(), (name, col)
    start = tables["treatments"]["start_date"]
    assert (start != "").all()
    assert int((~start.map(_is_date)).sum()) == mess["invalid_date"][1]
    birth = tables["patients"]["birth_date"]
    assert int((~birth.map(_is_date)).sum()) == mess["quarantined_patient"][1]


def test_values_are_in_the_allowed_sets(tables) -> None:
    p, d, b = tables["patients"], tables["diagnoses"], tables["biomarkers"]
    assert set(p["sex"]) <= {"F", "M", "U"}
    assert p["patient_id"].is_unique and d["patient_id"].is_unique
    assert set(d["stage_at_diagnosis"]) <= {"0", "I", "II", "III", "IV", "unknown"}
    assert set(b["marker"]) == {"HER2", "ER", "PR"}
    assert set(b["method"]) <= {"IHC", "ISH", "unknown", ""}
    her2 = b[b["marker"] == "HER2"]
    assert set(her2["result"]) == {"0", "1+", "2+", "3+", "amplified", "not amplified",
                                   "equivocal"}
    hr = b[b["marker"] != "HER2"]["result"]
    assert hr.map(lambda r: r in ("positive", "negative") or bool(re.fullmatch(r"\d+%", r))).all()
    assert set(tables["metastases"]["site"]) <= {
        "brain", "leptomeningeal", "bone", "liver", "lung", "lymph_node", "pleura", "skin",
        "other"}
    t = tables["treatments"]
    assert set(t["setting"]) <= {"neoadjuvant", "adjuvant", "metastatic", "unknown", ""}
    assert set(t["code_system"]) <= {"atc", ""}
    assert ((t["drug_code"] == "") == (t["code_system"] == "")).all()
    ids = t["record_id"][t["record_id"] != ""]
    assert ids.is_unique and len(ids) > 0


def test_truth_values_are_in_the_allowed_sets(tables) -> None:
    tp, tl = tables["truth_patients"], tables["truth_lines"]
    booleans = {"true", "false"}
    for col in ("in_cohort", "hr_positive", "de_novo", "early_relapse", "cns_ever"):
        assert set(tp[col]) <= booleans
    assert set(tp["exclusion_reason"]) == {"", "never_metastatic", "her2_negative",
                                           "her2_equivocal", "no_her2_test", "quarantined"}
    assert ((tp["exclusion_reason"] == "") == (tp["in_cohort"] == "true")).all()
    for col in ("has_maintenance_addition", "cns", "hr_positive", "early_relapse"):
        assert set(tl[col]) <= booleans
    assert set(tl["intended_category"]) == {"preferred", "alternative", "not_recommended",
                                            "trial"}
    assert set(tl["regimen_group"]) <= set(model.GROUPS)
    assert set(tl["guideline_id"]) == {e for e, _ in model.ERAS}
    known = set(model.INGREDIENTS)
    for text in tl["ingredients"].unique():
        parts = text.split(" + ")
        assert parts == sorted(parts) and set(parts) <= known, text
    op = tables["truth_outcome_parameters"]
    assert set(op["endpoint"]) == {"os", "ttd"}
    assert (pd.to_numeric(op["median_days"]) > 0).all()
    assert (op["source"] != "").all()
