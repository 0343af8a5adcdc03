"""Reading the canonical registry folder: file-level errors stop the run with a clear
message; row-level problems are quarantined and every input row is accounted for."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from her2audit.errors import RegistryError
from her2audit.stages import extract
from tests.conftest import MINIMAL_REGISTRY, write_table


def run_extract(ctx, folder):
    ctx.registry = str(folder)
    extract.run(ctx)
    return ctx.con


def quarantine(con):
    return con.execute(
        "select source_table, record_key, rule, detail from build.quarantine order by all"
    ).fetchall()


def test_missing_required_file_names_the_file(run_context, registry_factory):
    folder = registry_factory({k: v for k, v in MINIMAL_REGISTRY.items() if k != "biomarkers"})
    with pytest.raises(RegistryError, match=r"biomarkers\.csv: required table biomarkers"):
        run_extract(run_context, folder)


def test_missing_required_column_names_file_and_column(run_context, registry_factory):
    tables = dict(MINIMAL_REGISTRY)
    tables["treatments"] = [{k: v for k, v in r.items() if k != "start_date"}
                            for r in MINIMAL_REGISTRY["treatments"]]
    folder = registry_factory(tables)
    with pytest.raises(RegistryError) as err:
        run_extract(run_context, folder)
    assert "treatments.csv" in str(err.value)
    assert "missing required column(s) start_date" in str(err.value)


def test_empty_and_header_only_files_are_refused(run_context, registry_factory):
    folder = registry_factory()
    (folder / "patients.csv").write_text("")
    with pytest.raises(RegistryError, match="patients.csv: the file is empty"):
        run_extract(run_context, folder)
    (folder / "patients.csv").write_text("patient_id,site_id\n")
    with pytest.raises(RegistryError, match="patients.csv: has no data rows"):
        run_extract(run_context, folder)


def test_unreadable_files_are_refused(run_context, registry_factory):
    folder = registry_factory()
    (folder / "diagnoses.csv").write_bytes(b"\xff\xfe\x00garbage\x00\xff")
    with pytest.raises(RegistryError, match="diagnoses.csv: .*UTF-8"):
        run_extract(run_context, folder)
    (folder / "diagnoses.csv").unlink()
    (folder / "diagnoses.parquet").write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(RegistryError, match="diagnoses.parquet: cannot be read as Parquet"):
        run_extract(run_context, folder)


def test_both_csv_and_parquet_is_ambiguous(run_context, registry_factory):
    folder = registry_factory()
    pq.write_table(pa.table({"patient_id": ["P1"]}), folder / "patients.parquet")
    with pytest.raises(RegistryError, match="both patients.csv and patients.parquet"):
        run_extract(run_context, folder)


def test_not_a_folder(run_context, tmp_path):
    with pytest.raises(RegistryError, match="no such folder"):
        run_extract(run_context, tmp_path / "nowhere")


def test_headers_are_matched_case_insensitively_and_extra_columns_kept(
    run_context, registry_factory
):
    folder = registry_factory()
    write_table(folder, "patients", [{" Patient_ID ": "P1", "SITE_ID": "S9", "Favourite": "x"}])
    con = run_extract(run_context, folder)
    assert con.execute("select patient_id, site_id, favourite, _row_number from raw.patients"
                       ).fetchall() == [("P1", "S9", "x", 2)]
    assert con.execute("select site_id, sex from staging.patients").fetchall() == [("S9", None)]


def test_text_values_are_trimmed_and_case_folded(run_context, registry_factory):
    folder = registry_factory()
    write_table(folder, "biomarkers", [
        {"patient_id": " P1 ", "test_date": "2020-01-01", "marker": " her2", "method": "ihc",
         "result": "3+"},
        {"patient_id": "P1", "test_date": "2020-01-01", "marker": "Er", "method": "IHC",
         "result": "80 %"},
        {"patient_id": "P1", "test_date": "2020-01-01", "marker": "HER2", "method": "Ish",
         "result": "Not  Amplified"},
    ])
    con = run_extract(run_context, folder)
    assert con.execute(
        "select patient_id, marker, method, result, result_percent from staging.biomarkers "
        "order by all").fetchall() == [
        ("P1", "ER", "IHC", "80%", 80.0),
        ("P1", "HER2", "IHC", "3+", None),
        ("P1", "HER2", "ISH", "not amplified", None),
    ]


def test_row_problems_are_quarantined_with_rule_and_detail(run_context, registry_factory):
    folder = registry_factory({
        "patients": [
            {"patient_id": "P1", "birth_date": "1960-01-01", "sex": "F", "death_date": ""},
            {"patient_id": "P2", "birth_date": "1970-02-30", "sex": "F", "death_date": ""},
            {"patient_id": "P3", "birth_date": "1965-05-05", "sex": "X", "death_date": ""},
            {"patient_id": "P1", "birth_date": "1960-01-01", "sex": "F", "death_date": ""},
            {"patient_id": "P4", "birth_date": "1950-01-01", "sex": "F",
             "death_date": "1940-01-01"},
            {"patient_id": "", "birth_date": "", "sex": "", "death_date": ""},
        ],
        "diagnoses": [
            {"patient_id": "P1", "diagnosis_date": "2019-01-01", "metastatic_date": "2018-01-01"},
            {"patient_id": "P9", "diagnosis_date": "2019-01-01", "metastatic_date": ""},
        ],
        "biomarkers": [
            {"patient_id": "P1", "test_date": "2019-01-01", "marker": "HER2", "result": "4+"},
            {"patient_id": "P1", "test_date": "", "marker": "HER2", "result": "3+"},
        ],
        "treatments": [
            {"patient_id": "P1", "drug": "Herceptin", "start_date": "2019-01-10",
             "end_date": "2019-01-01", "setting": "metastatic"},
            {"patient_id": "P1", "drug": "Perjeta", "start_date": "2099-01-10",
             "end_date": "", "setting": "palliative"},
            {"patient_id": "P2", "drug": "Perjeta", "start_date": "2019-01-10",
             "end_date": "", "setting": ""},
        ],
    })
    con = run_extract(run_context, folder)
    rules = {(t, k): r for t, k, r, _ in quarantine(con)}
    assert rules == {
        ("patients", "patients.csv:3"): "invalid_date",
        ("patients", "patients.csv:4"): "value_not_allowed",
        ("patients", "patients.csv:5"): "duplicate_patient_id",
        ("patients", "patients.csv:6"): "impossible_date",
        ("patients", "patients.csv:7"): "missing_patient_id",
        ("diagnoses", "diagnoses.csv:2"): "impossible_date",
        ("diagnoses", "diagnoses.csv:3"): "unknown_patient",
        ("biomarkers", "biomarkers.csv:2"): "value_not_allowed",
        ("biomarkers", "biomarkers.csv:3"): "missing_required_value",
        ("treatments", "treatments.csv:2"): "end_before_start",
        ("treatments", "treatments.csv:3"): "impossible_date",
        ("treatments", "treatments.csv:4"): "unknown_patient",  # P2 was quarantined
    }
    details = {k: d for _, k, _, d in quarantine(con)}
    assert "birth_date '1970-02-30' is not a date" in details["patients.csv:3"]
    assert "already appears on row 2" in details["patients.csv:5"]
    # all problems of a row are kept in the detail, the first one is the rule
    assert "setting 'palliative' is not one of" in details["treatments.csv:3"]


def test_treatment_rows_sharing_a_text_keep_their_own_rule_and_record_key(
        run_context, registry_factory):
    # the texts a row shares with others (drug, code, code system, setting, route) are
    # checked once per combination; each row still gets its own rule, in rule order
    # (a row's date before its code system), with all of its details
    row = {"patient_id": "P1", "drug": "Herceptin", "drug_code": "", "code_system": "snomed",
           "start_date": "2020-02-01", "end_date": "", "setting": "metastatic", "route": ""}
    folder = registry_factory({**MINIMAL_REGISTRY, "treatments": [
        row,
        {**row, "start_date": "2020-02-30"},
        {**row, "patient_id": "P9"},
        {**row, "code_system": "", "route": "IV"},
        {**row, "code_system": ""},
    ]})
    con = run_extract(run_context, folder)
    quarantined = {k: (r, d) for t, k, r, d in quarantine(con) if t == "treatments"}
    assert {k: r for k, (r, _) in quarantined.items()} == {
        "treatments.csv:2": "value_not_allowed",
        "treatments.csv:3": "invalid_date",
        "treatments.csv:4": "unknown_patient",
    }
    assert all("code_system 'snomed' is not one of" in d for _, d in quarantined.values())
    assert "start_date '2020-02-30' is not a date" in quarantined["treatments.csv:3"][1]
    assert con.execute(
        "select record_key, drug, drug_key, drug_code, code_system, route "
        "from staging.treatments order by record_key").fetchall() == [
        ("treatments.csv:5", "Herceptin", "herceptin", None, None, "IV"),
        ("treatments.csv:6", "Herceptin", "herceptin", None, None, None),
    ]
    assert con.execute("select count(*), count(distinct row_number) "
                       "from staging.treatments_checked").fetchall() == [(5, 5)]


def test_treatment_texts_padded_with_spaces_stage_like_the_clean_ones(
        run_context, registry_factory):
    # raw.treatments_as_read keeps the file's text; raw.treatments and everything staged
    # see it trimmed (and blank as empty), whichever spelling of the same text a row has
    row = {"patient_id": "P1", "drug": "Herceptin", "drug_code": "", "code_system": "",
           "start_date": "2020-02-01", "end_date": "", "setting": "metastatic", "route": "IV"}
    folder = registry_factory({**MINIMAL_REGISTRY, "treatments": [
        row,
        {**row, "patient_id": " P1", "drug": "  Herceptin ", "start_date": "2020-02-01 ",
         "setting": " metastatic", "route": "IV  "},
        {**row, "setting": "   ", "route": " "},
        {**row, "setting": " palliative "},
    ]})
    con = run_extract(run_context, folder)
    assert con.execute(
        "select drug, setting, route from raw.treatments_as_read order by _row_number"
    ).fetchall() == [("Herceptin", "metastatic", "IV"), ("  Herceptin ", " metastatic", "IV  "),
                     ("Herceptin", "   ", " "), ("Herceptin", " palliative ", "IV")]
    assert con.execute(
        "select drug, setting, route from raw.treatments order by _row_number"
    ).fetchall() == [("Herceptin", "metastatic", "IV"), ("Herceptin", "metastatic", "IV"),
                     ("Herceptin", None, None), ("Herceptin", "palliative", "IV")]
    assert con.execute(
        "select record_key, patient_id, drug, drug_key, start_date, setting, route "
        "from staging.treatments order by record_key").fetchall() == [
        ("treatments.csv:2", "P1", "Herceptin", "herceptin", dt.date(2020, 2, 1),
         "metastatic", "IV"),
        ("treatments.csv:3", "P1", "Herceptin", "herceptin", dt.date(2020, 2, 1),
         "metastatic", "IV"),
        ("treatments.csv:4", "P1", "Herceptin", "herceptin", dt.date(2020, 2, 1),
         "unknown", None),
    ]
    assert [(k, r, d) for t, k, r, d in quarantine(con) if t == "treatments"] == [
        ("treatments.csv:5", "value_not_allowed",
         "setting 'palliative' is not one of neoadjuvant, adjuvant, metastatic, unknown"),
    ]
    # one spelling of the drug as far as the mapping is concerned
    assert con.execute("select drug, n_records from staging.drug_sources").fetchall() == [
        ("Herceptin", 3)]
    # the combinations as read are numbered in the order of their texts (the same registry
    # gives the same value_ids)
    assert con.execute(
        "select list(value_id order by source_file, drug_as_read, drug_code_as_read, "
        "code_system_as_read, setting_as_read, route_as_read) from staging.treatment_values"
    ).fetchone()[0] == [1, 2, 3, 4]


def test_malformed_csv_lines_are_quarantined_and_good_rows_flow(run_context, registry_factory):
    folder = registry_factory()
    (folder / "treatments.csv").write_text(
        "patient_id,drug,start_date,end_date,setting\n"
        "P1,docetaxel,2020-01-10,,metastatic\n"
        "P1,Perjeta,2020-01-10\n"
        "P1,Herceptin,2020-01-10,,metastatic,surprise\n"
        "P1,Herceptin,2020-01-31,,metastatic\n"
    )
    con = run_extract(run_context, folder)
    assert con.execute("select drug, _row_number from raw.treatments order by 2").fetchall() == [
        ("docetaxel", 2), ("Herceptin", 5)]
    malformed = [(k, r) for t, k, r, _ in quarantine(con) if t == "treatments"]
    assert malformed == [("treatments.csv:3", "malformed_row"), ("treatments.csv:4",
                                                                  "malformed_row")]


def test_every_input_row_is_accounted_for(run_context, registry_factory):
    folder = registry_factory()
    (folder / "treatments.csv").write_text(
        "patient_id,drug,start_date,end_date,setting\n"
        "P1,docetaxel,2020-01-10,,metastatic\n"
        "P1,Perjeta,2020-01-10\n"
        "P7,Herceptin,2020-01-10,,metastatic\n"
        "P1,Herceptin,2020-13-10,,metastatic\n"
        "P1,Herceptin,2020-01-31,,metastatic\n"
    )
    con = run_extract(run_context, folder)
    rows = con.execute(
        "select source_table, rows_in, rows_staged, rows_quarantined, balanced "
        "from build.row_accounting order by 1").fetchall()
    assert ("treatments", 5, 2, 3, True) in rows
    assert all(balanced for *_, balanced in rows)


def test_parquet_registry_reads_like_csv(run_context, registry_factory, tmp_path):
    csv_folder = registry_factory()
    pq_folder = tmp_path / "pq"
    pq_folder.mkdir()
    for name, rows in MINIMAL_REGISTRY.items():
        pq.write_table(pa.Table.from_pylist(rows), pq_folder / f"{name}.parquet")
    con = run_extract(run_context, pq_folder)
    from_parquet = con.execute("select * exclude (record_key) from staging.treatments").fetchall()
    assert con.execute("select _row_number from raw.patients").fetchall() == [(1,)]
    con = run_extract(run_context, csv_folder)
    assert con.execute("select * exclude (record_key) from staging.treatments"
                       ).fetchall() == from_parquet


TREATMENTS_HEADER = "patient_id,drug,start_date,end_date,setting\n"


def test_a_non_utf8_byte_after_the_first_lines_stops_the_run_naming_file_and_line(
    run_context, registry_factory
):
    folder = registry_factory()
    good = "".join(f"P1,docetaxel,2020-01-{1 + i % 28:02d},,metastatic\n" for i in range(400))
    (folder / "treatments.csv").write_bytes(
        (TREATMENTS_HEADER + good).encode() + b"P1,Herceptin \xe9,2020-01-10,,metastatic\n"
        + b"P1,docetaxel,2020-01-31,,metastatic\n"
    )
    assert (folder / "treatments.csv").stat().st_size > 8192
    with pytest.raises(RegistryError, match=r"treatments\.csv: line 402 is not UTF-8"):
        run_extract(run_context, folder)


def test_a_column_named_twice_in_the_header_is_refused(run_context, registry_factory):
    folder = registry_factory()
    (folder / "treatments.csv").write_text(
        "patient_id,drug,start_date,Drug\nP1,docetaxel,2020-01-10,paclitaxel\n")
    with pytest.raises(RegistryError, match=r"treatments\.csv: the header names column 'drug' "
                                            r"twice \('drug' and 'Drug'\)"):
        run_extract(run_context, folder)
    (folder / "treatments.csv").write_text(
        "patient_id,drug,start_date,drug\nP1,docetaxel,2020-01-10,paclitaxel\n")
    with pytest.raises(RegistryError, match=r"names column 'drug' twice"):
        run_extract(run_context, folder)


@pytest.mark.parametrize(("first", "appended"), [(b"\r\n", b"\n"), (b"\n", b"\r\n")])
def test_a_file_with_mixed_line_ends_is_read(run_context, registry_factory, first, appended):
    folder = registry_factory()
    rows = [b"P1,docetaxel,2020-01-10,,metastatic", b"P1,\"Herceptin\",2020-01-10,,metastatic",
            b"P1,Perjeta,2020-01-10", b"P1,paclitaxel,2020-01-31,,metastatic"]
    (folder / "treatments.csv").write_bytes(
        TREATMENTS_HEADER.strip().encode() + first + rows[0] + first + rows[1] + first
        + rows[2] + appended + rows[3] + appended
    )
    con = run_extract(run_context, folder)
    assert con.execute("select drug, _row_number from raw.treatments order by 2").fetchall() == [
        ("docetaxel", 2), ("Herceptin", 3), ("paclitaxel", 5)]
    assert [(k, r) for t, k, r, _ in quarantine(con) if t == "treatments"] == [
        ("treatments.csv:4", "malformed_row")]


def test_dates_must_be_written_exactly_yyyy_mm_dd(run_context, registry_factory):
    folder = registry_factory()
    (folder / "treatments.csv").write_text(
        TREATMENTS_HEADER + "P1,docetaxel,2023-1-5,,metastatic\n"
        "P1,docetaxel,2023-01-05,,metastatic\nP1,docetaxel,2023-01-5,,metastatic\n"
        "P1,docetaxel,2023-01-05 10:30:00,,metastatic\n")
    con = run_extract(run_context, folder)
    assert [(k, r) for t, k, r, _ in quarantine(con) if t == "treatments"] == [
        ("treatments.csv:2", "invalid_date"), ("treatments.csv:4", "invalid_date")]
    assert con.execute("select start_date::varchar from staging.treatments order by 1"
                       ).fetchall() == [("2023-01-05",), ("2023-01-05",)]


def test_in_the_future_means_after_the_run_date(run_context, registry_factory):
    folder = registry_factory()
    started = run_context.con.execute("select started_at::date from build.run_info").fetchone()[0]
    later = started + dt.timedelta(days=1)
    (folder / "treatments.csv").write_text(
        TREATMENTS_HEADER + f"P1,docetaxel,{started},,metastatic\n"
        f"P1,docetaxel,{later},,metastatic\n")
    con = run_extract(run_context, folder)
    assert [(k, r, d) for t, k, r, d in quarantine(con) if t == "treatments"] == [
        ("treatments.csv:3", "impossible_date",
         f"start_date {later} is in the future (after the run date {started})")]


def test_in_the_future_means_after_the_data_cutoff_when_one_is_given(
    run_context, registry_factory
):
    run_context.params = dataclasses.replace(run_context.params,
                                             data_cutoff=dt.date(2021, 6, 30))
    folder = registry_factory()
    write_table(folder, "patients", [{**MINIMAL_REGISTRY["patients"][0],
                                      "last_contact_date": "2021-06-30"}])
    (folder / "treatments.csv").write_text(
        TREATMENTS_HEADER + "P1,docetaxel,2021-06-30,,metastatic\n"
        "P1,docetaxel,2021-07-01,,metastatic\n")
    con = run_extract(run_context, folder)
    assert [(k, r, d) for t, k, r, d in quarantine(con) if t == "treatments"] == [
        ("treatments.csv:3", "impossible_date",
         "start_date 2021-07-01 is in the future (after the data cut-off 2021-06-30)")]


def test_metastatic_date_is_the_earliest_evidence_of_metastatic_disease(
    run_context, registry_factory
):
    """The registry's own metastatic_date, stage IV at diagnosis (de novo) or a metastases
    row: the earliest wins, a site found before the diagnosis counts from the diagnosis,
    and staging.diagnoses names the evidence."""
    patients = [{**MINIMAL_REGISTRY["patients"][0], "patient_id": p} for p in
                ("P1", "P2", "P3", "P4", "P5")]
    diagnoses = [
        {"patient_id": "P1", "diagnosis_date": "2020-01-01", "stage_at_diagnosis": "IV",
         "metastatic_date": ""},
        {"patient_id": "P2", "diagnosis_date": "2020-01-01", "stage_at_diagnosis": "II",
         "metastatic_date": ""},
        {"patient_id": "P3", "diagnosis_date": "2020-01-01", "stage_at_diagnosis": "II",
         "metastatic_date": "2022-06-01"},
        {"patient_id": "P4", "diagnosis_date": "2020-01-01", "stage_at_diagnosis": "II",
         "metastatic_date": "2021-03-01"},
        {"patient_id": "P5", "diagnosis_date": "2020-01-01", "stage_at_diagnosis": "III",
         "metastatic_date": ""},
    ]
    metastases = [
        {"patient_id": "P2", "diagnosis_date": "2021-05-01", "site": "bone"},
        {"patient_id": "P2", "diagnosis_date": "2021-02-01", "site": "liver"},
        {"patient_id": "P3", "diagnosis_date": "2022-01-15", "site": "lung"},
        {"patient_id": "P4", "diagnosis_date": "2021-09-01", "site": "brain"},
        {"patient_id": "P5", "diagnosis_date": "2019-12-01", "site": "bone"},
    ]
    folder = registry_factory({**MINIMAL_REGISTRY, "patients": patients,
                               "diagnoses": diagnoses, "metastases": metastases})
    con = run_extract(run_context, folder)
    assert con.execute(
        "select patient_id, metastatic_date::varchar, metastatic_date_source "
        "from staging.diagnoses order by 1"
    ).fetchall() == [
        ("P1", "2020-01-01", "stage_iv_at_diagnosis"),
        ("P2", "2021-02-01", "metastasis_site"),
        ("P3", "2022-01-15", "metastasis_site"),
        ("P4", "2021-03-01", "registry_metastatic_date"),
        ("P5", "2020-01-01", "metastasis_site"),
    ]


def test_a_patient_without_evidence_of_metastatic_disease_stays_non_metastatic(
    run_context, registry_factory
):
    diagnoses = [{**MINIMAL_REGISTRY["diagnoses"][0], "stage_at_diagnosis": "II",
                  "metastatic_date": ""}]
    con = run_extract(run_context, registry_factory({**MINIMAL_REGISTRY,
                                                     "diagnoses": diagnoses}))
    assert con.execute("select metastatic_date, metastatic_date_source from staging.diagnoses"
                       ).fetchall() == [(None, None)]
