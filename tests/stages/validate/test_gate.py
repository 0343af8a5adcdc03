"""The data-quality gate: table-level expectations on a registry, severity handling, results."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from her2audit import cli, context, pipeline, warehouse
from her2audit.errors import DataQualityError
from her2audit.parameters import RunParameters
from her2audit.stages import publish
from her2audit.stages.validate.suites import load_suites


def validate(registry: Path, db: Path) -> str:
    run_id, _ = pipeline.run_pipeline(db, str(registry), RunParameters(), None, "test",
                                      ["extract", "validate"], progress=lambda m: None)
    return run_id


def results(db: Path, table: str = "build.data_quality_results") -> dict[str, tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute(f"select expectation, severity, status, success, observed_value "
                           f"from {table}").fetchall()
    finally:
        con.close()
    return {r[0]: r[1:] for r in rows}


def test_a_clean_registry_passes_and_records_every_expectation(small_registry, tmp_path):
    db = tmp_path / "w.duckdb"
    validate(small_registry, db)
    got = results(db)
    expected_names = {e.name for s in load_suites(stage="validate") for e in s.expectations}
    assert set(got) == expected_names
    assert not [n for n, (sev, status, *_) in got.items()
                if sev == "critical" and status == "failed"]
    # 60 patients: below the 100-patient warning, recorded with what was observed
    assert got["patients_at_least_100"] == ("warning", "failed", False, "60")
    # 2 of 1,209 treatment rows are quarantined by the reader: the rate, not the rows
    sev, status, success, observed = got["treatments_quarantine_rate_at_most_2pct"]
    assert (status, float(observed)) == ("passed", pytest.approx(2 / 1209, rel=1e-4))


def test_too_many_quarantined_treatments_stop_the_run(small_registry, rewrite, tmp_path):
    # a third of the treatment rows get an impossible date: the reader quarantines them,
    # the gate sees a quarantine rate of about 33% > 20%
    rewrite(small_registry / "treatments.csv",
            lambda i, r: {**r, "start_date": "2021-02-30"} if i % 3 == 0 else r)
    db = tmp_path / "w.duckdb"
    with pytest.raises(DataQualityError) as err:
        validate(small_registry, db)
    assert [f.split(" ")[0] for f in err.value.failed] == [
        "treatments.treatments_quarantine_rate_at_most_20pct"]
    assert "treatments_quarantine_rate_at_most_20pct" in str(err.value)
    # the failing run keeps its results: in build and in the append-only history
    assert results(db)["treatments_quarantine_rate_at_most_20pct"][:3] == ("critical", "failed",
                                                                          False)
    history = results(db, "audit.data_quality_results_history")
    assert history["treatments_quarantine_rate_at_most_20pct"][1] == "failed"


def test_missing_her2_results_fail_two_critical_expectations(small_registry, rewrite, tmp_path):
    rewrite(small_registry / "biomarkers.csv", lambda i, r: None if r["marker"] == "HER2" else r)
    with pytest.raises(DataQualityError) as err:
        validate(small_registry, tmp_path / "w.duckdb")
    assert sorted(f.split(" ")[0] for f in err.value.failed) == [
        "biomarkers.biomarkers_has_her2_results",
        "patients.patients_with_her2_test_at_least_50pct",
    ]


def test_patients_without_diagnosis_are_measured_as_a_share(small_registry, rewrite, tmp_path):
    rewrite(small_registry / "diagnoses.csv", lambda i, r: None if i % 4 == 0 else r)  # 15 of 60
    with pytest.raises(DataQualityError, match="patients_with_diagnosis_at_least_80pct"):
        validate(small_registry, tmp_path / "w.duckdb")
    got = results(tmp_path / "w.duckdb")
    assert float(got["patients_with_diagnosis_at_least_80pct"][3]) == pytest.approx(0.75)


def test_warnings_are_recorded_but_do_not_stop_the_run(small_registry, rewrite, tmp_path):
    rewrite(small_registry / "treatments.csv", lambda i, r: {**r, "setting": ""})
    db = tmp_path / "w.duckdb"
    validate(small_registry, db)
    got = results(db)
    assert got["treatments_setting_unknown_at_most_50pct"] == ("warning", "failed", False, "1")


def test_failed_expectations_are_logged_at_their_severity_with_failing_values(
        small_registry, rewrite, tmp_path, caplog):
    rewrite(small_registry / "biomarkers.csv",
            lambda i, r: {**r, "test_date": "1985-05-05"} if i < 3 else r)
    with caplog.at_level("INFO", logger="her2audit"):
        validate(small_registry, tmp_path / "w.duckdb")
    failed = {r.getMessage().split(":")[0].strip(): r for r in caplog.records
              if r.name == "her2audit.stages.validate"}
    old_test = failed["[warning] biomarkers.biomarkers_test_date_from_1990"]
    assert old_test.levelname == "WARNING"
    assert "failing values e.g. 1985" in old_test.getMessage()  # the year checked
    assert failed["[warning] patients.patients_at_least_100"].levelname == "WARNING"

    rewrite(small_registry / "biomarkers.csv", lambda i, r: None if r["marker"] == "HER2" else r)
    with caplog.at_level("INFO", logger="her2audit"), pytest.raises(DataQualityError):
        validate(small_registry, tmp_path / "w2.duckdb")
    errors = [r.getMessage() for r in caplog.records
              if r.name == "her2audit.stages.validate" and r.levelname == "ERROR"]
    assert any("biomarkers.biomarkers_has_her2_results: observed missing: HER2" in m
               for m in errors), errors


def test_validate_command_prints_the_results_and_exits_3(small_registry, rewrite, tmp_path, capsys):
    rewrite(small_registry / "treatments.csv",
            lambda i, r: {**r, "patient_id": "nobody"} if i % 2 == 0 else r)
    status = cli.main(["validate", "--registry", str(small_registry)])
    out, err = capsys.readouterr()
    assert status == 3
    assert "[critical] treatments: treatments_quarantine_rate_at_most_20pct" in out
    message = err.strip().splitlines()[-1]
    assert message.startswith("her2audit: error: data-quality gate failed")
    assert "treatments.treatments_quarantine_rate_at_most_20pct" in message


# ---- output invariants, checked inside publish -------------------------------------

LINES = """
create table build.lines_of_therapy as select * from (values
    ('P1', 1, date '2020-01-01', date '2020-06-01', 'next_line',
        'taxane_trastuzumab_pertuzumab', 8),
    ('P1', 2, date '2020-06-02', date '2021-01-01', 'ongoing', 'trastuzumab_deruxtecan', 10),
    ('P2', 1, date '2021-01-01', date '2021-03-01', 'death', 'trastuzumab_emtansine', 3)
) t(patient_id, line_number, start_date, end_date, end_reason, regimen_group, n_administrations);
create table build.line_concordance as select * from (values
    ('P1', 1, 'preferred', true), ('P1', 2, 'preferred', true), ('P2', 1, 'alternative', true)
) t(patient_id, line_number, category, concordant);
"""


@pytest.fixture
def built(tmp_path):
    """A started run whose build holds small line tables, over a previously published audit."""
    con = warehouse.connect(tmp_path / "w.duckdb")
    con.execute("create table audit.lines_of_therapy as select 'previous' as patient_id")
    context.start_run(con, "run-1", "registry", RunParameters(), "test")
    con.execute(LINES)
    ctx = context.RunContext(con, "run-1", "registry", RunParameters(), None, lambda m: None)
    yield ctx
    con.close()


def test_valid_line_tables_are_published_with_their_checks(built):
    publish.run(built)
    rows = built.con.execute("select expectation, status from audit.data_quality_results "
                             "where suite like 'audit_%'").fetchall()
    assert len(rows) == 10 and {s for _, s in rows} == {"passed"}
    assert built.con.execute("select count(*) from audit.lines_of_therapy").fetchone()[0] == 3


def test_lines_are_checked_before_the_concordance_stage_exists(built):
    built.con.execute("drop table build.line_concordance")
    built.con.execute("update build.lines_of_therapy set line_number = 2 "
                      "where patient_id = 'P2'")  # P2 starts at line 2
    with pytest.raises(DataQualityError, match="lines_numbered_consecutively_from_1"):
        publish.run(built)
    statuses = built.con.execute("select suite, status, count(*) from build.data_quality_results "
                                 "group by all order by all").fetchall()
    assert statuses == [("audit_line_concordance", "not_evaluated", 4),
                        ("audit_lines_of_therapy", "failed", 1),
                        ("audit_lines_of_therapy", "passed", 5)]


def test_broken_line_tables_are_not_published(built):
    built.con.execute("update build.lines_of_therapy set line_number = 3 "
                      "where patient_id = 'P1' and line_number = 2")  # 1, 3: a gap
    built.con.execute("update build.lines_of_therapy set end_date = date '2020-12-31' "
                      "where patient_id = 'P2'")  # ends before it starts
    built.con.execute("update build.line_concordance set category = 'maybe' "
                      "where patient_id = 'P2'")
    with pytest.raises(DataQualityError) as err:
        publish.run(built)
    assert sorted(f.split(" ")[0] for f in err.value.failed) == [
        "audit_line_concordance.concordance_category_allowed",
        "audit_line_concordance.concordance_flag_matches_category",  # 'maybe' is concordant
        "audit_line_concordance.concordance_one_row_per_line",  # P1 line 3: no concordance
        "audit_line_concordance.concordance_rows_have_a_line",  # P1 line 2 is gone
        "audit_lines_of_therapy.lines_numbered_consecutively_from_1",
        "audit_lines_of_therapy.lines_start_on_or_before_end",
    ]
    assert built.con.execute("select patient_id from audit.lines_of_therapy").fetchall() == [
        ("previous",)]
    assert "runs" not in warehouse.table_names(built.con, "audit")


def test_absent_optional_tables_are_not_evaluated_not_failed(small_registry, tmp_path):
    (small_registry / "metastases.csv").unlink()
    (small_registry / "progressions.csv").unlink()
    db = tmp_path / "w.duckdb"
    validate(small_registry, db)  # no critical failure
    got = results(db)
    for name in ("metastases_quarantine_rate_at_most_20pct",
                 "progressions_quarantine_rate_at_most_20pct"):
        assert got[name] == ("critical", "not_evaluated", None,
                             "0 rows, fewer than the 50 a rate needs")
    assert got["metastases_some_documented"] == ("warning", "failed", False, "0")


def test_an_expectation_whose_input_is_not_built_is_not_evaluated(small_registry, tmp_path):
    from her2audit.stages.validate import evaluate

    db = tmp_path / "w.duckdb"
    validate(small_registry, db)
    con = duckdb.connect(str(db))
    try:
        con.execute("drop table build.unmapped_drugs")
        outcomes = {o.expectation.name: o for o in evaluate(con, "validate")}
    finally:
        con.close()
    mapped = outcomes["treatments_drug_mapped_at_least_50pct"]
    assert (mapped.status, mapped.observed_value) == ("not_evaluated",
                                                      "not built: build.unmapped_drugs")
    assert outcomes["treatments_staged_at_least_one"].status == "passed"


def test_unmapped_drug_share_matches_audit_unmapped_drugs(small_registry, rewrite, tmp_path):
    spellings = ["Mystery drug X", "  mystery  DRUG x", "zzq-999"]
    rewrite(small_registry / "treatments.csv",
            lambda i, r: {**r, "drug": spellings[i % 3]} if i % 10 == 0 else r)
    db = tmp_path / "w.duckdb"
    validate(small_registry, db)  # about 10% unmapped: a warning, not critical
    con = duckdb.connect(str(db), read_only=True)
    unmapped, staged = con.execute(
        "select (select sum(n_records) from build.unmapped_drugs), "
        "(select rows_staged from build.row_accounting where source_table = 'treatments')"
    ).fetchone()
    con.close()
    got = results(db)
    assert got["treatments_drug_mapped_at_least_95pct"][:3] == ("warning", "failed", False)
    assert got["treatments_drug_mapped_at_least_50pct"][:3] == ("critical", "passed", True)
    # the mean over staged rows equals 1 - (rows listed in unmapped_drugs / staged rows)
    observed = float(got["treatments_drug_mapped_at_least_95pct"][3])
    assert unmapped > 100
    assert observed == pytest.approx(1 - unmapped / staged, abs=1e-6)


def test_rates_over_a_handful_of_rows_are_not_judged(small_registry, rewrite, tmp_path):
    keep = {f"P{i:03d}" for i in range(1, 11)}  # a 10-patient registry
    for path in small_registry.glob("*.csv"):
        rewrite(path, lambda i, r: r if r["patient_id"] in keep else None)
    rewrite(small_registry / "biomarkers.csv",  # 6 of about 20 rows get an impossible date
            lambda i, r: {**r, "test_date": "2020-02-31"} if i < 6 else r)
    db = tmp_path / "w.duckdb"
    validate(small_registry, db)  # about 30% quarantined, but of 20 rows: not a critical failure
    got = results(db)
    sev, status, success, why = got["biomarkers_quarantine_rate_at_most_20pct"]
    assert (status, success) == ("not_evaluated", None)
    assert why.endswith("fewer than the 50 a rate needs")
    assert got["biomarkers_staged_at_least_one"][1] == "passed"


def test_results_join_an_existing_table_by_column_name(built):
    # a build table made elsewhere (e.g. a hand-made fixture) with fewer columns
    built.con.execute("create table build.data_quality_results as select 'r0' as run_id, "
                      "'x' as suite, 'x_rule' as expectation, 'warning' as severity, "
                      "true as success")
    publish.run(built)
    rows = built.con.execute("select suite, count(*) from audit.data_quality_results "
                             "group by all order by all").fetchall()
    assert rows == [("audit_line_concordance", 4), ("audit_lines_of_therapy", 6), ("x", 1)]
