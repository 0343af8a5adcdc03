"""The OMOP CDM v5.4 adapter: files and PostgreSQL give the canonical reader's tables;
bad sources fail with one clear line (exit 2) that never shows the password."""

from __future__ import annotations

import csv
from pathlib import Path

import duckdb
import pytest
from adapter_helpers import (
    PG_URI_BASE,
    compare_with_canonical,
    load_omop_folder_into_postgres,
    run_extract,
    synthetic_registry,
    table_rows,
)

from her2audit import cli
from her2audit.errors import RegistryError
from her2audit.sources import dispatch, exporters, omop


def _land(source: str) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    for schema in ("raw", "staging", "build"):
        con.execute(f"create schema {schema}")
    dispatch.land_registry(con, source, progress=lambda m: None)
    return con


def test_omop_folder_round_trip_matches_canonical(hand_registry: Path, tmp_path: Path):
    exporters.export(hand_registry, tmp_path / "omop", "omop")
    run_extract(str(hand_registry), tmp_path / "canonical.duckdb")
    run_extract(str(tmp_path / "omop"), tmp_path / "omop.duckdb")
    compare_with_canonical(tmp_path / "canonical.duckdb", tmp_path / "omop.duckdb",
                           setting=False, drug_code=False)
    # every raw row names its OMOP table and id
    keys = table_rows(tmp_path / "omop.duckdb",
                      "select distinct _source_file from raw.treatments")
    assert keys == [("drug_exposure",)]


def test_omop_folder_of_parquet_files(hand_registry: Path, tmp_path: Path):
    exporters.export(hand_registry, tmp_path / "omop_csv", "omop")
    (tmp_path / "omop_pq").mkdir()
    con = duckdb.connect()
    for path in (tmp_path / "omop_csv").glob("*.csv"):
        con.execute(f"copy (select * from read_csv('{path}')) to "
                    f"'{tmp_path / 'omop_pq' / (path.stem + '.parquet')}' (format parquet)")
    got = _land(str(tmp_path / "omop_pq"))
    assert got.execute("select count(*) from raw.patients").fetchone()[0] == 5
    assert got.execute(
        "select site from raw.metastases where patient_id = 'P001' order by diagnosis_date"
    ).fetchall() == [("bone",), ("brain",)]


def _write_csv(path: Path, header: list[str], rows: list[list]) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


def _vocabulary_folder(f: Path) -> Path:
    """An OMOP folder with vocabulary tables. The concept ids 2000000001.. are local test
    ids; the codes are those of the mapping file."""
    f.mkdir()
    _write_csv(f / "person.csv", ["person_id", "gender_concept_id", "year_of_birth",
                                  "month_of_birth", "person_source_value"],
               [[1, 8532, 1961, "", "A1"]])
    _write_csv(f / "condition_occurrence.csv",
               ["condition_occurrence_id", "person_id", "condition_concept_id",
                "condition_start_date", "condition_source_value"],
               [[1, 1, 2000000010, "2019-05-01", ""],      # descendant of breast cancer
                [2, 1, 2000000020, "2020-01-02", ""],      # brain metastasis (SNOMED)
                [3, 1, 0, "2020-01-01", "C79.51"]])       # bone, source value only
    _write_csv(f / "measurement.csv",
               ["measurement_id", "person_id", "measurement_concept_id", "measurement_date",
                "value_as_concept_id", "value_source_value", "measurement_source_value"],
               [[7, 1, 2000000030, "2019-05-03", 2000000040, "", ""],
                [8, 1, 2000000050, "2019-05-03", 0, "12", ""]])   # not a HER2/ER/PR test
    _write_csv(f / "drug_exposure.csv",
               ["drug_exposure_id", "person_id", "drug_concept_id", "drug_exposure_start_date",
                "drug_exposure_end_date", "drug_source_value"],
               [[11, 1, 2000000100, "2020-01-10", "2020-01-10", "Phesgo 600 MG"]])
    _write_csv(f / "concept.csv",
               ["concept_id", "concept_name", "domain_id", "vocabulary_id", "concept_class_id",
                "concept_code"],
               [[4112853, "Malignant tumor of breast", "Condition", "SNOMED", "Clinical Finding",
                 "254837009"],
                [2000000010, "Carcinoma of breast (test)", "Condition", "SNOMED",
                 "Clinical Finding", "x1"],
                [2000000020, "Secondary malignant neoplasm of brain", "Condition", "SNOMED",
                 "Clinical Finding", "94225005"],
                [2000000030, "HER2 IHC", "Measurement", "LOINC", "Lab Test", "85319-2"],
                [2000000040, "Positive", "Meas Value", "Meas Value", "Answer", "x4"],
                [2000000050, "Hemoglobin", "Measurement", "LOINC", "Lab Test", "x5"],
                [2000000100, "pertuzumab / trastuzumab / hyaluronidase injection", "Drug",
                 "RxNorm", "Clinical Drug", "x100"],
                [2000000101, "pertuzumab", "Drug", "RxNorm", "Ingredient", "1298944"],
                [2000000102, "trastuzumab", "Drug", "RxNorm", "Ingredient", "224905"]])
    _write_csv(f / "concept_ancestor.csv", ["ancestor_concept_id", "descendant_concept_id"],
               [[4112853, 2000000010], [2000000101, 2000000100], [2000000102, 2000000100]])
    return f


def _assert_vocabulary_results(con: duckdb.DuckDBPyConnection) -> None:
    assert con.execute("select diagnosis_date, metastatic_date from raw.diagnoses").fetchall() \
        == [("2019-05-01", "2020-01-01")]
    assert con.execute("select site from raw.metastases order by site").fetchall() == \
        [("bone",), ("brain",)]
    assert con.execute("select marker, method, lower(result) from raw.biomarkers").fetchall() == \
        [("HER2", "IHC", "positive")]
    assert con.execute(
        "select drug, drug_code, code_system, end_date from raw.treatments order by drug"
    ).fetchall() == [("pertuzumab", "1298944", "rxnorm", None),
                     ("trastuzumab", "224905", "rxnorm", None)]
    assert con.execute("select birth_date, sex from raw.patients").fetchall() == \
        [("1961-07-01", "F")]


def test_concepts_and_ancestors_reach_ingredients_and_loinc(tmp_path: Path):
    """With vocabulary tables, a combination product gives one row per RxNorm ingredient
    and a LOINC-coded measurement concept is found without any source value."""
    _assert_vocabulary_results(_land(str(_vocabulary_folder(tmp_path / "omop"))))


def _ndc_folder(f: Path) -> Path:
    """The vocabulary folder with NDC-coded drugs and no standard drug concept: one row
    has the NDC code only in drug_source_value, one has the NDC source concept and free
    text. Each NDC concept 'Maps to' an RxNorm clinical drug whose ancestor is the
    ingredient (local test ids; the ingredient codes are the vocabulary's)."""
    _vocabulary_folder(f)
    _write_csv(f / "drug_exposure.csv",
               ["drug_exposure_id", "person_id", "drug_concept_id", "drug_exposure_start_date",
                "drug_exposure_end_date", "drug_source_value", "drug_source_concept_id"],
               [[21, 1, 0, "2020-02-01", "2020-02-14", "00000123401", 0],
                [22, 1, 0, "2020-03-01", "2020-03-01", "lapatinib 250mg tab (pharmacy)",
                 2000000201]])
    with open(f / "concept.csv", "a", newline="") as out:
        csv.writer(out).writerows([
            [2000000200, "capecitabine 500 MG Oral Tablet (NDC)", "Drug", "NDC", "11-digit NDC",
             "00000123401"],
            [2000000201, "lapatinib 250 MG Oral Tablet (NDC)", "Drug", "NDC", "11-digit NDC",
             "00000567801"],
            [2000000210, "capecitabine 500 MG Oral Tablet", "Drug", "RxNorm", "Clinical Drug",
             "x210"],
            [2000000211, "lapatinib 250 MG Oral Tablet", "Drug", "RxNorm", "Clinical Drug",
             "x211"],
            [2000000220, "capecitabine", "Drug", "RxNorm", "Ingredient", "194000"],
            [2000000221, "lapatinib", "Drug", "RxNorm", "Ingredient", "480167"]])
    with open(f / "concept_ancestor.csv", "a", newline="") as out:
        csv.writer(out).writerows([[2000000220, 2000000210], [2000000221, 2000000211]])
    _write_csv(f / "concept_relationship.csv", ["concept_id_1", "concept_id_2", "relationship_id"],
               [[2000000200, 2000000210, "Maps to"], [2000000201, 2000000211, "Maps to"],
                [2000000210, 2000000200, "Mapped from"]])
    return f


def _assert_ndc_results(con: duckdb.DuckDBPyConnection) -> None:
    assert con.execute(
        "select drug, drug_code, code_system, start_date, end_date from raw.treatments "
        "order by start_date").fetchall() == [
        ("capecitabine", "194000", "rxnorm", "2020-02-01", "2020-02-14"),
        ("lapatinib", "480167", "rxnorm", "2020-03-01", None)]


def test_an_ndc_coded_drug_without_a_standard_concept_reaches_its_ingredient(tmp_path: Path):
    """drug_concept_id 0: the NDC code in drug_source_value (or the NDC source concept)
    'Maps to' an RxNorm clinical drug (concept_relationship), whose ancestor is the
    ingredient (concept_ancestor)."""
    _assert_ndc_results(_land(str(_ndc_folder(tmp_path / "omop"))))


@pytest.mark.postgres
def test_ndc_coded_drugs_on_postgres(pg_schema: str, tmp_path: Path):
    """The same through PostgreSQL, where the adapter fetches the 'Maps to' rows of the
    NDC codes it reads in drug_source_value."""
    load_omop_folder_into_postgres(_ndc_folder(tmp_path / "omop"), pg_schema)
    _assert_ndc_results(_land(f"{PG_URI_BASE}?schema={pg_schema}"))


@pytest.mark.postgres
def test_vocabulary_tables_on_postgres(pg_schema: str, tmp_path: Path):
    """The same through PostgreSQL, where only the rows the extract refers to are fetched."""
    load_omop_folder_into_postgres(_vocabulary_folder(tmp_path / "omop"), pg_schema)
    _assert_vocabulary_results(_land(f"{PG_URI_BASE}?schema={pg_schema}"))


def test_omop_folder_without_drug_exposure_is_refused(hand_registry: Path, tmp_path: Path):
    exporters.export(hand_registry, tmp_path / "omop", "omop")
    (tmp_path / "omop" / "drug_exposure.csv").unlink()
    with pytest.raises(RegistryError, match="drug_exposure missing"):
        _land(str(tmp_path / "omop"))


def test_person_table_without_omop_columns_is_refused(tmp_path: Path):
    f = tmp_path / "omop"
    f.mkdir()
    for name in ("person", "condition_occurrence", "drug_exposure", "measurement"):
        _write_csv(f / f"{name}.csv", ["id", "name"], [[1, "x"]])
    with pytest.raises(RegistryError, match="is not an OMOP CDM person table"):
        _land(str(f))


# --------------------------------------------------------------------------- PostgreSQL


@pytest.mark.postgres
def test_postgres_round_trip_matches_canonical(pg_schema: str, tmp_path: Path):
    canonical = synthetic_registry(tmp_path / "canonical", patients=200, seed=8)
    exporters.export(canonical, tmp_path / "omop", "omop")
    load_omop_folder_into_postgres(tmp_path / "omop", pg_schema)
    # the server trusts local connections, so this password is accepted and ignored;
    # it must still never be recorded
    uri = f"{PG_URI_BASE}?schema={pg_schema}".replace("postgres@", "postgres:pw-h2a-9z@")
    run_extract(str(canonical), tmp_path / "canonical.duckdb")
    run_extract(uri, tmp_path / "pg.duckdb")
    compare_with_canonical(tmp_path / "canonical.duckdb", tmp_path / "pg.duckdb",
                           setting=False, drug_code=False)
    assert table_rows(tmp_path / "pg.duckdb", "select distinct _source_file from raw.patients") \
        == [(f"{pg_schema}.person",)]
    recorded = table_rows(tmp_path / "pg.duckdb", "select registry from audit.runs")
    assert recorded == [(uri.replace("pw-h2a-9z", "***"),)]
    # the same database read twice gives the same fingerprint; nothing of omop_src remains
    con = duckdb.connect(str(tmp_path / "pg.duckdb"))
    first = con.execute("select source_fingerprint from audit.runs").fetchone()[0]
    assert dispatch.land_registry(con, uri, progress=lambda m: None) == first
    assert con.execute("select count(*) from information_schema.schemata "
                       "where schema_name = 'omop_src'").fetchone()[0] == 0


def _cli_error(capsys, registry: str) -> str:
    status = cli.main(["validate", "--registry", registry])
    err = capsys.readouterr().err
    assert status == 2, err
    errors = [line for line in err.splitlines() if line.startswith("her2audit: error")]
    assert "Traceback" not in err and len(errors) == 1, err
    return errors[0]


def test_unreachable_database_one_line_no_password(capsys):
    err = _cli_error(capsys, "postgresql://postgres:s3cr3t-pw@127.0.0.1:1/test?schema=cdm")
    assert "cannot connect to PostgreSQL" in err
    assert "s3cr3t-pw" not in err and "postgres:***@127.0.0.1:1" in err


@pytest.mark.postgres
def test_wrong_credentials_one_line_no_password(pg_schema: str, capsys):
    err = _cli_error(
        capsys, f"postgresql://no_such_role_h2a:hunter2-pw@127.0.0.1:5432/test?schema={pg_schema}"
    )
    assert "cannot connect to PostgreSQL" in err and "no_such_role_h2a" in err
    assert "hunter2-pw" not in err


@pytest.mark.postgres
def test_empty_schema_is_reported(pg_schema: str, capsys):
    err = _cli_error(capsys, f"{PG_URI_BASE}?schema={pg_schema}")
    assert f"schema '{pg_schema}' does not exist or has no tables" in err


@pytest.mark.postgres
def test_non_omop_schema_is_reported(pg_schema: str, capsys):
    import psycopg

    with psycopg.connect(PG_URI_BASE, autocommit=True) as conn:
        conn.execute(f"create table {pg_schema}.invoices (invoice_id int, amount numeric)")
        conn.execute(f"create table {pg_schema}.customers (customer_id int)")
    err = _cli_error(capsys, f"{PG_URI_BASE}?schema={pg_schema}")
    assert "is not an OMOP CDM v5.4 source" in err
    assert "person, condition_occurrence, drug_exposure" in err and "customers" in err


@pytest.mark.postgres
def test_missing_omop_tables_are_named(pg_schema: str, hand_registry: Path, tmp_path: Path,
                                       capsys):
    exporters.export(hand_registry, tmp_path / "omop", "omop")
    for name in ("drug_exposure", "measurement"):
        (tmp_path / "omop" / f"{name}.csv").unlink()
    load_omop_folder_into_postgres(tmp_path / "omop", pg_schema)
    err = _cli_error(capsys, f"{PG_URI_BASE}?schema={pg_schema}")
    assert "drug_exposure, measurement (or observation) missing" in err


def test_redact_hides_passwords():
    assert omop.redact("postgresql://u:p%40ss@h:5/db?schema=cdm") == \
        "postgresql://u:***@h:5/db?schema=cdm"
    assert omop.redact("postgresql://h/db?password=abc&schema=x") == \
        "postgresql://h/db?password=***&schema=x"
    assert dispatch.display_source("postgresql://u@h/db") == "postgresql://u@h/db"


def test_unknown_uri_scheme_is_refused():
    with pytest.raises(RegistryError, match="unknown source type"):
        _land("mysql://u:pw@h/db")
