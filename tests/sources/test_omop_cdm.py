"""An OMOP CDM as health systems hold it: everybody, with the OHDSI vocabulary tables.

The CDM (tests/sources/omop_fixture.py) holds 300 persons, seven with breast cancer;
drugs are coded as ETLs write them (the RxNorm code in drug_source_value, NDC source
concepts, a code without a concept). The audit must be the audit of the canonical
registry of those seven, from files and from PostgreSQL, and the SQL sent to
PostgreSQL must select the population so only its rows are transferred.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import omop_fixture
import pytest
from adapter_helpers import PG_URI_BASE, load_omop_folder_into_postgres, run_extract, table_rows
from population_fixture import BREAST_CANCER, write_canonical
from test_fhir_export import AUDIT_QUERIES

from her2audit import cli
from her2audit.sources import dispatch, omop

BY_NAME = {p.name: p for p in BREAST_CANCER}


@pytest.fixture(scope="module")
def cdm(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("omop_cdm")
    folder = omop_fixture.write_omop_cdm(root / "omop")
    canonical = write_canonical(root / "canonical", "omop")
    status = cli.main(["run", "--registry", str(folder), "--db", str(root / "omop.duckdb"),
                       "--reports", str(root / "reports"), "--data-cutoff", "2026-06-30"])
    assert status == 0  # the data-quality gate passed
    run_extract(str(canonical), root / "canonical.duckdb")
    return {"folder": folder, "omop": root / "omop.duckdb",
            "canonical": root / "canonical.duckdb"}


def test_audit_equals_the_canonical_registry_of_the_same_patients(cdm):
    for name, sql in AUDIT_QUERIES.items():
        assert table_rows(cdm["omop"], sql) == table_rows(cdm["canonical"], sql), name
    cohort = {r[0] for r in table_rows(cdm["omop"], "select patient_id from audit.patients")}
    assert cohort == {p.patient_id for p in BREAST_CANCER if p.her2_positive_metastatic}


def test_breast_cancer_through_ancestors_icdo3_and_icd10(cdm):
    """bc-sc-trastuzumab's condition is breast cancer only as a descendant of 4112853;
    bc-icdo3's an ICD-O-3 code; a ductal carcinoma in situ (8500/2) is not."""
    staged = {r[0] for r in table_rows(cdm["omop"], "select patient_id from staging.diagnoses")}
    assert staged == {p.patient_id for p in BREAST_CANCER}


def test_metastatic_disease_from_the_oncology_extension(cdm):
    patient = BY_NAME["bc-icdo3"].patient_id
    assert table_rows(cdm["omop"], "select metastatic_date::varchar, site from staging.diagnoses "
                                   f"join staging.metastases using (patient_id) "
                                   f"where patient_id = '{patient}'") == [("2023-01-15", "bone")]


def test_drugs_resolve_to_their_ingredients(cdm):
    rows = table_rows(cdm["omop"], "select patient_id, drug, drug_code from staging.treatments")
    by_patient: dict[str, set] = {}
    for patient, drug, code in rows:
        by_patient.setdefault(patient, set()).add((drug, code))
    # drug_source_value only the code 2119714 -> concept -> ingredients; the hyaluronidase
    # is not written, trastuzumab is, with its RxNorm ingredient code
    assert by_patient[BY_NAME["bc-sc-trastuzumab"].patient_id] == {
        ("trastuzumab", "224905"), ("pertuzumab", "1298944"), ("docetaxel", "72962")}
    # NDC source concepts 'Maps to' RxNorm; the study drug has no concept and stays as written
    assert ("tucatinib", "2361285") in by_patient[BY_NAME["bc-stage-iv-later"].patient_id]
    assert ("ABC-0815", None) in by_patient[BY_NAME["bc-stage-iv-later"].patient_id]
    # a branded drug: Kadcyla -> ado-trastuzumab emtansine, never trastuzumab
    assert by_patient[BY_NAME["bc-icdo3"].patient_id] == {("ado-trastuzumab emtansine", "1371041")}
    ingredients = table_rows(cdm["omop"], "select distinct ingredient from staging.administrations "
                                          f"where patient_id = '{BY_NAME['bc-icdo3'].patient_id}'")
    assert ingredients == [("trastuzumab emtansine",)]
    assert table_rows(cdm["omop"], "select drug from audit.unmapped_drugs") == [("ABC-0815",)]


def test_everything_else_is_out_of_scope_and_every_row_is_counted(cdm):
    db = cdm["omop"]
    assert table_rows(db, "select * from audit.quarantine") == []
    assert all(r[0] for r in table_rows(db, "select balanced from audit.row_accounting"))
    at_source = dict(((t, d, r), n) for t, d, r, n in table_rows(
        db, "select source_table, disposition, reason, sum(n_rows) from raw.source_dispositions "
            "group by all"))
    assert at_source[("patients", "out_of_scope", "no_breast_cancer_diagnosis")] == 293
    assert at_source[("treatments", "out_of_scope", "drug_not_oncology")] == 5
    assert at_source[("diagnoses", "out_of_scope", "condition_not_used")] == 7
    assert at_source[("biomarkers", "out_of_scope", "measurement_not_used")] == 7
    # each breast cancer is recorded again at the last visit: combined into the diagnosis
    assert at_source[("diagnoses", "combined", "breast_cancer_condition")] == 7
    assert at_source[("diagnoses", "combined", "metastatic_evidence")] == 1  # the episode
    used = table_rows(db, "select reason, n_rows from audit.row_dispositions "
                          "where source_table = 'diagnoses' and disposition = 'used'")
    assert ("breast_cancer_condition", 5) in used  # the five cohort patients'


# --------------------------------------------------------------------------- PostgreSQL


def _land(source: str) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    for schema in ("raw", "staging", "build"):
        con.execute(f"create schema {schema}")
    dispatch.land_registry(con, source, progress=lambda m: None)
    return con


@pytest.mark.postgres
def test_postgres_sends_the_population_filter_and_transfers_only_its_rows(
        pg_schema: str, cdm, monkeypatch, tmp_path: Path):
    load_omop_folder_into_postgres(cdm["folder"], pg_schema)
    sent: dict[str, tuple[str, int]] = {}
    stream = omop._stream

    def recording_stream(con, source, sql, target):
        stream(con, source, sql, target)
        sent[target.split(".")[-1]] = (sql, con.execute(f"select count(*) from {target}")
                                       .fetchall()[0][0])

    monkeypatch.setattr(omop, "_stream", recording_stream)
    con = _land(f"{PG_URI_BASE}?schema={pg_schema}")
    # the population is selected on the server: the persons with a breast cancer
    # condition (a descendant of 4112853, or a C50 / ICD-O-3 code)
    population_sql, n_population = sent["server_population"]
    assert "4112853" in population_sql and "like 'C50%'" in population_sql
    assert n_population == 7
    population = {p for p in range(1, 8)}
    for table in ("person", "condition_occurrence", "measurement", "observation",
                  "drug_exposure", "episode", "observation_period"):
        sql, _ = sent[table]
        ids = sql.split("t.person_id in (select unnest(array[", 1)[1].split("]", 1)[0]
        assert {int(i) for i in ids.split(",")} == population, table
    n_rows = {table: n for table, (_, n) in sent.items()}
    assert n_rows["person"] == 7  # of 300
    in_scope = omop_fixture.population_rows(cdm["folder"])
    assert n_rows["drug_exposure"] == in_scope["drug_exposure"]  # the population's, all of them
    assert n_rows["condition_occurrence"] == in_scope["condition_occurrence"]
    # measurements: only the population's tests and staging facts (not their body weight)
    assert n_rows["measurement"] == in_scope["measurement"] - 7
    # vocabulary rows: only for the concepts those rows name
    assert n_rows["concept"] < omop_fixture.n_rows(cdm["folder"], "concept")
    assert con.execute("select count(*) from raw.patients").fetchall() == [(7,)]


@pytest.mark.postgres
def test_postgres_gives_the_same_audit_as_the_files(pg_schema: str, cdm, tmp_path: Path):
    load_omop_folder_into_postgres(cdm["folder"], pg_schema)
    run_extract(f"{PG_URI_BASE}?schema={pg_schema}", tmp_path / "pg.duckdb")
    for name, sql in [*AUDIT_QUERIES.items(),
                      ("dispositions", "select * from audit.row_dispositions"),
                      ("accounting", "select * from audit.row_accounting")]:
        assert table_rows(tmp_path / "pg.duckdb", sql) == table_rows(cdm["omop"], sql), name
