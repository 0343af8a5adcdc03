"""Every input row is accounted for: used, quarantined with its rule, or out of scope
with a reason (audit.row_dispositions)."""

from __future__ import annotations

import duckdb

from her2audit import pipeline
from her2audit.parameters import RunParameters

STAGES = ["extract", "cohort", "lines", "publish"]


def treatment(pid, drug, start, end="", setting="metastatic"):
    return {"patient_id": pid, "drug": drug, "start_date": start, "end_date": end,
            "setting": setting}


REGISTRY = {
    "patients": [
        {"patient_id": "P1", "birth_date": "1960-01-01", "sex": "F", "last_contact_date": ""},
        {"patient_id": "NEG", "birth_date": "1960-01-01", "sex": "F", "last_contact_date": ""},
    ],
    "diagnoses": [
        {"patient_id": "P1", "diagnosis_date": "2018-01-01", "metastatic_date": "2020-01-01"},
        {"patient_id": "NEG", "diagnosis_date": "2018-01-01", "metastatic_date": "2020-01-01"},
    ],
    "biomarkers": [
        {"patient_id": "P1", "test_date": "2018-01-01", "marker": "HER2", "result": "3+"},
        {"patient_id": "NEG", "test_date": "2018-01-01", "marker": "HER2", "result": "1+"},
    ],
    "treatments": [
        treatment("P1", "Herceptin", "2018-02-01", setting="adjuvant"),    # prior HER2
        treatment("P1", "doxorubicin", "2018-02-01", setting="adjuvant"),  # prior chemo
        treatment("P1", "Taxotere", "2020-01-10"),
        treatment("P1", "Herceptin", "2020-01-10"),
        treatment("P1", "Herceptin", "2020-01-10"),                        # exact duplicate
        treatment("P1", "Perjeta", "2020-01-10"),
        treatment("P1", "Xgeva", "2020-01-10"),                            # supportive
        treatment("P1", "mystery tonic", "2020-01-10"),                    # unmapped
        treatment("P1", "Herceptin", "2020-13-01"),                        # quarantined
        treatment("NEG", "docetaxel", "2020-01-10"),                       # not in cohort
    ],
}


def test_every_row_has_a_disposition_and_reason(tmp_path, registry_factory):
    db = tmp_path / "w.duckdb"
    pipeline.run_pipeline(db, str(registry_factory(REGISTRY)), RunParameters(), None,
                          stages=STAGES, progress=lambda m: None)
    con = duckdb.connect(str(db), read_only=True)
    treatments = {
        (d, r): n for d, r, n in con.execute(
            "select disposition, reason, n_rows from audit.row_dispositions "
            "where source_table = 'treatments'").fetchall()
    }
    assert treatments == {
        ("used", "prior_her2_treatment_early_relapse"): 1,
        ("out_of_scope", "before_metastatic_disease"): 1,
        ("used", "line_of_therapy"): 3,
        ("used", "exact_duplicate_counted_once"): 1,
        ("out_of_scope", "supportive_drug"): 1,
        ("out_of_scope", "unmapped_drug"): 1,
        ("quarantined", "invalid_date"): 1,
        ("out_of_scope", "patient_not_in_cohort: her2_negative_at_metastatic_diagnosis"): 1,
    }
    patients = con.execute(
        "select disposition, reason from audit.row_dispositions where source_table = 'patients' "
        "order by all").fetchall()
    assert patients == [
        ("out_of_scope", "patient_not_in_cohort: her2_negative_at_metastatic_diagnosis"),
        ("used", "cohort_patient"),
    ]
    totals = con.execute(
        "select a.source_table, a.rows_in, sum(d.n_rows) from audit.row_accounting a "
        "join audit.row_dispositions d using (source_table) group by all").fetchall()
    assert all(rows_in == n for _, rows_in, n in totals)
    con.close()
