"""The FHIR R4 bulk-export adapter: NDJSON gives the canonical reader's tables; what it
cannot use is quarantined with a reason and counted in the row accounting."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from adapter_helpers import compare_with_canonical, run_extract, synthetic_registry, table_rows

from her2audit.errors import RegistryError
from her2audit.sources import dispatch, exporters

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


def _land(source: str) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    for schema in ("raw", "staging", "build"):
        con.execute(f"create schema {schema}")
    dispatch.land_registry(con, source, progress=lambda m: None)
    return con


def _append(path: Path, *resources: dict | str) -> None:
    with open(path, "a", encoding="utf-8") as f:
        for r in resources:
            f.write((r if isinstance(r, str) else json.dumps(r)) + "\n")


def test_fhir_round_trip_matches_canonical(hand_registry: Path, tmp_path: Path):
    exporters.export(hand_registry, tmp_path / "fhir", "fhir")
    run_extract(str(hand_registry), tmp_path / "canonical.duckdb")
    run_extract(f"fhir:{tmp_path / 'fhir'}", tmp_path / "fhir.duckdb")
    compare_with_canonical(tmp_path / "canonical.duckdb", tmp_path / "fhir.duckdb",
                           setting=True, drug_code=True)


def test_fhir_round_trip_synthetic_registry(tmp_path: Path):
    canonical = synthetic_registry(tmp_path / "canonical", patients=200, seed=11)
    exporters.export(canonical, tmp_path / "fhir", "fhir")
    run_extract(str(canonical), tmp_path / "canonical.duckdb")
    run_extract(f"fhir:{tmp_path / 'fhir'}", tmp_path / "fhir.duckdb")
    compare_with_canonical(tmp_path / "canonical.duckdb", tmp_path / "fhir.duckdb",
                           setting=True, drug_code=True)


def test_unusable_resources_are_quarantined_or_out_of_scope(hand_registry: Path, tmp_path: Path):
    """What the audit would use but cannot is quarantined with the reason; what it does
    not use at all is out of scope; every resource is counted."""
    folder = tmp_path / "fhir"
    exporters.export(hand_registry, folder, "fhir")
    n_obs = len((folder / "Observation.ndjson").read_text().splitlines())
    n_cond = len((folder / "Condition.ndjson").read_text().splitlines())
    subject = {"reference": "Patient/P001"}
    _append(folder / "Observation.ndjson",
            {"resourceType": "Observation", "status": "final", "subject": subject,
             "code": {"coding": [{"system": LOINC, "code": "2160-0"}]},
             "effectiveDateTime": "2020-01-01", "valueQuantity": {"value": 1.1}},
            {"resourceType": "Observation", "status": "entered-in-error", "subject": subject,
             "code": {"coding": [{"system": LOINC, "code": "85319-2"}]},
             "effectiveDateTime": "2020-01-01", "valueCodeableConcept": {"text": "0"}},
            "{not json")
    _append(folder / "Condition.ndjson",
            {"resourceType": "Condition", "subject": subject, "onsetDateTime": "2015-01-01",
             "code": {"coding": [{"system": SNOMED, "code": "38341003"}]}})
    _append(folder / "MedicationRequest.ndjson",
            {"resourceType": "MedicationRequest", "status": "active", "subject": subject,
             "medicationReference": {"reference": "Medication/m1"},
             "authoredOn": "2021-01-01"},
            {"resourceType": "MedicationRequest", "status": "cancelled", "subject": subject,
             "medicationCodeableConcept": {"text": "lapatinib"}, "authoredOn": "2021-01-01"},
            {"resourceType": "MedicationRequest", "status": "active", "subject": subject,
             "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "314076",
                                                       "display": "lisinopril 10 MG Oral Tablet"}]},
             "authoredOn": "2021-01-01"})
    _append(folder / "Encounter.ndjson", {"resourceType": "Encounter", "id": "e1"})
    db = tmp_path / "w.duckdb"
    # extract and publish only: a quarter of these biomarkers is quarantined on purpose,
    # which the data-quality gate would (rightly) refuse
    run_extract(f"fhir:{folder}", db, stages=["extract", "publish"])
    rules = table_rows(db, "select source_table, rule, record_key from audit.quarantine")
    assert rules == sorted([
        ("biomarkers", "not_a_fact", f"Observation.ndjson:{n_obs + 2}"),
        ("biomarkers", "malformed_row", f"Observation.ndjson:{n_obs + 3}"),
        ("treatments", "unsupported_medication_reference", "MedicationRequest.ndjson:1"),
        ("treatments", "not_a_fact", "MedicationRequest.ndjson:2"),
    ], key=repr)
    detail = table_rows(db, "select detail from audit.quarantine "
                            "where rule = 'unsupported_medication_reference'")
    assert "Medication/m1" in detail[0][0]
    out_of_scope = dict(((t, r), n) for t, r, n in table_rows(
        db, "select source_table, reason, sum(n_rows) from raw.source_dispositions "
            "where disposition = 'out_of_scope' group by all"))
    assert out_of_scope == {("biomarkers", "observation_not_used"): 1,
                            ("diagnoses", "condition_not_used"): 1,
                            ("treatments", "drug_not_oncology"): 1}
    accounting = dict((t, (i, s, q, b)) for t, i, s, q, b in table_rows(
        db, "select source_table, rows_in, rows_staged, rows_quarantined, balanced "
            "from audit.row_accounting"))
    assert accounting["biomarkers"] == (n_obs + 3, n_obs, 2, True)
    # every Condition is a diagnoses row, a metastases row, or counted under diagnoses
    assert accounting["diagnoses"][0] + accounting["metastases"][0] == n_cond + 1
    assert accounting["treatments"] == (16, 13, 2, True)
    assert all(b for *_, b in accounting.values())


def test_codes_dates_and_requests(tmp_path: Path):
    folder = tmp_path / "fhir"
    folder.mkdir()
    subject = {"reference": "Patient/x-1"}
    _append(folder / "Patient.ndjson",
            {"resourceType": "Patient", "id": "x-1", "gender": "female",
             "birthDate": "1970-05-06", "deceasedDateTime": "2024-02-03T10:00:00+01:00"})
    _append(folder / "Condition.ndjson",
            {"resourceType": "Condition", "subject": subject, "onsetDateTime": "2018-03-04",
             "code": {"coding": [{"system": ICD10CM, "code": "C50.412"}]},
             "stage": [{"summary": {"text": "Stage IIIB"}}]},
            {"resourceType": "Condition", "subject": subject,
             "onsetPeriod": {"start": "2021-01-02"},
             "code": {"coding": [{"system": ICD10CM, "code": "C79.31"}]}},
            {"resourceType": "Condition", "subject": subject, "recordedDate": "2021-02-01",
             "code": {"coding": [{"system": SNOMED, "code": "94222008"}]}})
    _append(folder / "Observation.ndjson",
            {"resourceType": "Observation", "status": "final", "subject": subject,
             "code": {"coding": [{"system": LOINC, "code": "85337-4"}]},
             "effectiveDateTime": "2018-03-05T08:00:00Z",
             "valueQuantity": {"value": 95, "unit": "%"}},
            {"resourceType": "Observation", "status": "final", "subject": subject,
             "code": {"coding": [{"system": LOINC, "code": "85318-4"}]},
             "effectiveDateTime": "2018-03-05",
             "valueCodeableConcept": {"coding": [{"system": SNOMED, "code": "x",
                                                  "display": "Amplified"}]}})
    _append(folder / "MedicationRequest.ndjson",
            {"resourceType": "MedicationRequest", "status": "active", "subject": subject,
             "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "2361285",
                                                       "display": "tucatinib"}]},
             "authoredOn": "2021-03-01",
             "dosageInstruction": [{"route": {"text": "oral"}, "timing": {"repeat": {
                 "boundsPeriod": {"start": "2021-03-02", "end": "2021-06-30"}}}}]})
    con = _land(f"fhir:{folder}")
    assert con.execute("select patient_id, sex, birth_date, death_date from raw.patients"
                       ).fetchall() == [("x-1", "F", "1970-05-06", "2024-02-03")]
    assert con.execute("select diagnosis_date, stage_at_diagnosis, metastatic_date "
                       "from raw.diagnoses").fetchall() == [("2018-03-04", "III", "2021-01-02")]
    assert con.execute("select site, diagnosis_date from raw.metastases order by site"
                       ).fetchall() == [("bone", "2021-02-01"), ("brain", "2021-01-02")]
    assert con.execute("select marker, method, lower(result) from raw.biomarkers order by marker"
                       ).fetchall() == [("ER", "IHC", "95%"), ("HER2", "ISH", "amplified")]
    assert con.execute("select drug, drug_code, code_system, start_date, end_date, route "
                       "from raw.treatments").fetchall() == [
        ("tucatinib", "2361285", "rxnorm", "2021-03-02", "2021-06-30", "oral")]


def test_bad_fhir_sources(tmp_path: Path):
    with pytest.raises(RegistryError, match="is not a folder"):
        _land(f"fhir:{tmp_path / 'missing'}")
    (tmp_path / "empty").mkdir()
    with pytest.raises(RegistryError, match="holds no .ndjson files"):
        _land(f"fhir:{tmp_path / 'empty'}")
    (tmp_path / "nopatients").mkdir()
    _append(tmp_path / "nopatients" / "Observation.ndjson", {"resourceType": "Observation"})
    with pytest.raises(RegistryError, match="no Patient resources"):
        _land(f"fhir:{tmp_path / 'nopatients'}")
