"""One hand-written case per line-of-therapy rule and exception (SPEC §4)."""

from __future__ import annotations

import pytest

from her2audit.parameters import RunParameters
from tests.stages.lines.helpers import boundaries_of, build, cycles, day, lines_of, summary

M = "2020-01-01"  # metastatic date of patient p1 in every case


def thp(first: str = "2020-01-10", n: int = 6, every: int = 21) -> list[dict]:
    return (cycles("docetaxel", first, n, every) + cycles("Herceptin", first, n, every)
            + cycles("Perjeta", first, n, every))


def hp(first: str, n: int, every: int = 21) -> list[dict]:
    return cycles("trastuzumab", first, n, every) + cycles("pertuzumab", first, n, every)


def test_first_administration_starts_line_one():
    con = build(thp())
    [line] = lines_of(con)
    assert line["line_number"] == 1
    assert str(line["start_date"]) == "2020-01-10"
    assert boundaries_of(con)[0]["start_rule"] == "first_administration"


def test_drugs_started_within_the_window_form_the_regimen():
    # pertuzumab joins 28 days after the start (inclusive): still THP, one line
    tr = cycles("docetaxel", "2020-01-10", 6) + cycles("trastuzumab", "2020-01-10", 6) \
        + cycles("pertuzumab", day("2020-01-10", 28), 6)
    con = build(tr)
    [line] = lines_of(con)
    assert line["regimen"] == "THP"
    assert line["ingredients"] == "docetaxel + pertuzumab + trastuzumab"


def test_new_drug_after_the_window_starts_a_new_line():
    # pertuzumab first given 29 days after the start of TH: a new line
    tr = cycles("docetaxel", "2020-01-10", 6) + cycles("trastuzumab", "2020-01-10", 10) \
        + cycles("pertuzumab", day("2020-01-10", 29), 6)
    con = build(tr)
    assert [x[1] for x in summary(con)] == ["TH", "THP"]
    b = boundaries_of(con)[1]
    assert b["start_rule"] == "new_ingredient_after_window"
    assert b["trigger_ingredients"] == "pertuzumab"
    assert str(b["start_date"]) == day("2020-01-10", 29)


def test_second_line_regimen_includes_continued_drugs():
    # THP, then tucatinib + capecitabine added to continuing trastuzumab: line 2 is the
    # tucatinib regimen (trastuzumab given within its window belongs to it)
    tr = thp(n=6) + cycles("Herceptin", "2020-06-01", 10) + cycles("Tukysa", "2020-06-01", 8) \
        + cycles("Xeloda", "2020-06-01", 8)
    con = build(tr)
    assert [x[1] for x in summary(con)] == ["THP", "Tucatinib + trastuzumab + capecitabine"]
    assert lines_of(con)[0]["end_reason"] == "next_line"


@pytest.mark.parametrize("second", ["paclitaxel", "Abraxane", "paclitaxel protein-bound"])
def test_taxane_substitution_does_not_start_a_line(second):
    tr = cycles("docetaxel", "2020-01-10", 3) + cycles(second, day("2020-01-10", 63), 3) \
        + hp("2020-01-10", 10)
    con = build(tr)
    [line] = lines_of(con)
    assert line["regimen"] == "THP"
    roles = con.execute(
        "select distinct role from staging.line_administrations where ingredient <> 'docetaxel' "
        "and drug_class = 'taxane'").fetchall()
    assert roles == [("substitution",)]


def test_letrozole_anastrozole_substitution_does_not_start_a_line():
    tr = cycles("letrozole", "2020-01-10", 4, every=30) \
        + cycles("Arimidex", "2020-06-01", 6, every=30)
    con = build(tr)
    assert [x[1] for x in summary(con)] == ["Endocrine (± CDK4/6 inhibitor), no anti-HER2"]


def test_exemestane_is_not_in_the_aromatase_substitution_group():
    tr = cycles("letrozole", "2020-01-10", 4, every=30) \
        + cycles("exemestane", "2020-06-01", 6, every=30)
    con = build(tr)
    assert len(lines_of(con)) == 2


def test_every_trastuzumab_form_is_one_ingredient():
    tr = hp("2020-01-10", 4) + cycles("Ogivri", "2020-04-01", 3) \
        + cycles("Herceptin Hylecta", "2020-06-01", 3) \
        + cycles("trastuzumab-anns", "2020-08-01", 3) \
        + cycles("Perjeta", "2020-04-01", 10)
    con = build(tr)
    [line] = lines_of(con)
    assert line["regimen"] == "HP"
    assert line["ingredients"] == "pertuzumab + trastuzumab"


@pytest.mark.parametrize("added", ["letrozole", "Ibrance"])
def test_maintenance_addition_to_hp_keeps_the_line_and_its_name(added):
    tr = thp(n=6) + hp(day("2020-01-10", 126), 10) + cycles(added, "2020-06-01", 8, every=28)
    con = build(tr)
    [line] = lines_of(con)
    assert line["regimen"] == "THP"
    assert line["has_maintenance_addition"] is True
    assert line["ingredients"] == "docetaxel + pertuzumab + trastuzumab"


def test_endocrine_added_to_a_line_without_trastuzumab_or_pertuzumab_starts_a_line():
    tr = cycles("Kadcyla", "2020-01-10", 5) + cycles("letrozole", "2020-05-01", 6, every=28)
    con = build(tr)
    assert [x[1] for x in summary(con)] == ["T-DM1", "Endocrine (± CDK4/6 inhibitor), no anti-HER2"]
    assert lines_of(con)[0]["has_maintenance_addition"] is False


def test_endocrine_started_with_hp_names_the_regimen():
    tr = hp("2020-01-10", 10) + cycles("anastrozole", "2020-01-15", 6, every=28)
    con = build(tr)
    [line] = lines_of(con)
    assert line["regimen_group"] == "her2_endocrine"
    assert line["has_maintenance_addition"] is False


def test_dropping_drugs_never_starts_a_line():
    # THP induction, taxane stops after 6 cycles, HP continues as maintenance
    tr = thp(n=6) + hp(day("2020-01-10", 126), 20)
    con = build(tr)
    [line] = lines_of(con)
    assert line["regimen"] == "THP"
    assert line["n_administrations"] == 18 + 40


def test_gap_longer_than_max_gap_days_ends_the_line():
    first = hp("2020-01-10", 6)
    last = max(x["start"] for x in first)
    tr = first + hp(day(last, 121), 6)
    con = build(tr)
    got = summary(con)
    assert [x[1] for x in got] == ["HP", "HP"]
    assert got[0][2] == "treatment_gap"
    b = boundaries_of(con)[1]
    assert b["start_rule"] == "gap_exceeded" and b["gap_days"] == 121


def test_gap_of_exactly_max_gap_days_does_not_end_the_line():
    first = hp("2020-01-10", 6)
    last = max(x["start"] for x in first)
    con = build(first + hp(day(last, 120), 6))
    assert len(lines_of(con)) == 1


def test_gap_is_measured_from_the_end_of_a_continuous_course():
    # a capecitabine course ending 2020-06-30; restarted 100 days later: no gap
    tr = [{"drug": "lapatinib", "start": "2020-01-10", "end": "2020-06-30"},
          {"drug": "capecitabine", "start": "2020-01-10", "end": "2020-06-30"},
          {"drug": "lapatinib", "start": day("2020-06-30", 100), "end": day("2020-06-30", 200)},
          {"drug": "capecitabine", "start": day("2020-06-30", 100)}]
    con = build(tr)
    [line] = lines_of(con)
    assert line["regimen"] == "Lapatinib + capecitabine"
    assert str(line["end_date"]) == day("2020-06-30", 200)


def test_overlapping_oral_courses_cover_each_other():
    # letrozole course to 2021-01-31 overlaps palbociclib 28-day courses with gaps between
    tr = [{"drug": "letrozole", "start": "2020-01-10", "end": "2021-01-31"},
          {"drug": "palbociclib", "start": "2020-01-10", "end": "2020-02-06"},
          {"drug": "palbociclib", "start": "2020-07-01", "end": "2020-07-28"},
          {"drug": "letrozole", "start": "2021-03-01", "end": "2021-12-31"}]
    con = build(tr, data_cutoff="2022-01-31")
    [line] = lines_of(con)
    assert line["regimen_group"] == "endocrine_only"
    assert str(line["end_date"]) == "2021-12-31"
    assert line["end_reason"] == "ongoing"


def test_exact_duplicate_rows_count_once():
    tr = hp("2020-01-10", 4)
    con = build(tr + tr[:3])
    [line] = lines_of(con)
    assert line["n_administrations"] == 8
    n_rows, n_dup = con.execute(
        "select count(*), count(*) filter (where duplicate) from staging.line_administrations"
    ).fetchall()[0]
    assert (n_rows, n_dup) == (11, 3)


def test_supportive_drugs_never_form_or_change_a_line():
    tr = cycles("Zometa", "2020-01-02", 12, every=28) + cycles("Xgeva", "2020-01-05", 2) \
        + hp("2020-01-20", 10) + cycles("Neulasta", "2020-05-01", 3) \
        + cycles("dexamethasone", "2020-09-01", 2)
    con = build(tr)
    [line] = lines_of(con)
    assert str(line["start_date"]) == "2020-01-20"
    assert line["regimen"] == "HP"
    assert line["n_administrations"] == 20


def test_patient_with_supportive_drugs_only_has_no_lines():
    con = build(cycles("denosumab", "2020-01-10", 5, every=28))
    assert lines_of(con) == []


def test_phesgo_is_pertuzumab_plus_trastuzumab():
    tr = cycles("Phesgo", "2020-01-10", 10) + cycles("docetaxel", "2020-01-10", 6)
    con = build(tr)
    [line] = lines_of(con)
    assert line["regimen"] == "THP"
    assert line["ingredients"] == "docetaxel + pertuzumab + trastuzumab"


def test_switch_from_iv_hp_to_phesgo_is_the_same_line():
    tr = hp("2020-01-10", 6) + cycles("PHESGO", day("2020-01-10", 126), 6)
    con = build(tr)
    assert len(lines_of(con)) == 1


@pytest.mark.parametrize("spelling", [
    "trastuzumab deruxtecan", "Enhertu", "ENHERTU", "fam-trastuzumab deruxtecan-nxki",
    "DS-8201", "DS-8201a", "ds8201", "T-DXd", "Trastuzumab Deruxtecan",
])
def test_every_t_dxd_spelling_starts_a_new_line_after_trastuzumab(spelling):
    tr = thp(n=8) + cycles(spelling, "2020-09-01", 6)
    con = build(tr)
    got = lines_of(con)
    assert [x["regimen"] for x in got] == ["THP", "T-DXd"]
    assert got[1]["ingredients"] == "trastuzumab deruxtecan"


@pytest.mark.parametrize("spelling", [
    "trastuzumab emtansine", "Kadcyla", "KADCYLA", "ado-trastuzumab emtansine", "T-DM1", "TDM1",
])
def test_every_t_dm1_spelling_starts_a_new_line_after_trastuzumab(spelling):
    tr = thp(n=8) + cycles(spelling, "2020-09-01", 6)
    con = build(tr)
    got = lines_of(con)
    assert [x["regimen"] for x in got] == ["THP", "T-DM1"]
    assert got[1]["ingredients"] == "trastuzumab emtansine"


def test_adjuvant_records_before_metastatic_disease_are_not_lines():
    adjuvant = [dict(x, setting="adjuvant") for x in cycles("trastuzumab", "2018-01-10", 17)] \
        + [dict(x, setting="neoadjuvant") for x in cycles("docetaxel", "2017-10-01", 4)]
    unknown_early = [dict(x, setting="unknown") for x in cycles("Kadcyla", "2019-03-01", 4)]
    # within pre_index_days (30) before the metastatic date, unknown setting: counts
    pre_index = [dict(x, setting="unknown") for x in hp(day(M, -20), 2)]
    # labelled adjuvant even though after the metastatic date: does not count
    late_adjuvant = [dict(x, setting="adjuvant") for x in cycles("capecitabine", "2020-03-01", 2)]
    con = build(adjuvant + unknown_early + pre_index + late_adjuvant + hp(day(M, 22), 8))
    [line] = lines_of(con)
    assert str(line["start_date"]) == day(M, -20)
    assert line["regimen"] == "HP"


def test_pre_index_days_parameter_moves_the_metastatic_setting():
    tr = hp(day(M, -40), 1) + cycles("Kadcyla", day(M, 10), 6)
    assert [x[1] for x in summary(build(tr))] == ["T-DM1"]
    wide = build(tr, params=RunParameters(pre_index_days=45))
    assert [x[1] for x in summary(wide)] == ["HP", "T-DM1"]


def test_death_before_the_last_administration_ends_the_line():
    tr = hp("2020-01-10", 10)
    con = build(tr, patients=[{"patient": "p1", "metastatic": M, "death": "2020-03-15"}])
    [line] = lines_of(con)
    assert (str(line["end_date"]), line["end_reason"]) == ("2020-03-15", "death")


def test_death_soon_after_the_last_administration_is_the_end_reason():
    tr = hp("2020-01-10", 4)
    con = build(tr, patients=[{"patient": "p1", "metastatic": M, "death": "2020-06-01"}])
    [line] = lines_of(con)
    assert str(line["end_date"]) == day("2020-01-10", 63)
    assert line["end_reason"] == "death"


def test_last_line_is_ongoing_or_a_gap_relative_to_the_data_cutoff():
    tr = hp("2020-01-10", 4)  # last administration 2020-03-13
    assert summary(build(tr, data_cutoff="2020-06-01"))[0][2] == "ongoing"
    assert summary(build(tr, data_cutoff="2020-12-31"))[0][2] == "treatment_gap"


def test_line_end_stops_before_the_next_line_starts():
    # a letrozole course running past the start of line 2 is cut the day before
    tr = [{"drug": "letrozole", "start": "2020-01-10", "end": "2020-12-31"},
          *cycles("Kadcyla", "2020-06-01", 6)]
    con = build(tr)
    first = lines_of(con)[0]
    assert str(first["end_date"]) == "2020-05-31"
    assert first["end_reason"] == "next_line"


def test_regimen_window_days_parameter_moves_the_boundary():
    tr = cycles("trastuzumab", "2020-01-10", 10) + cycles("pertuzumab", day("2020-01-10", 35), 8)
    assert [x[1] for x in summary(build(tr))] == ["Anything else", "HP"]
    wide = build(tr, params=RunParameters(regimen_window_days=42))
    assert [x[1] for x in summary(wide)] == ["HP"]


def test_max_gap_days_parameter_moves_the_boundary():
    tr = hp("2020-01-10", 4) + hp(day("2020-01-10", 63 + 100), 4)
    assert len(lines_of(build(tr))) == 1
    assert len(lines_of(build(tr, params=RunParameters(max_gap_days=90)))) == 2


def test_patients_are_independent_and_unknown_patients_ignored():
    tr = [dict(x, patient="p1") for x in thp()] + [dict(x, patient="p2") for x in
                                                   cycles("Enhertu", "2021-01-01", 4)] \
        + [dict(x, patient="not_in_cohort") for x in hp("2020-01-01", 3)]
    con = build(tr, patients=[{"patient": "p1", "metastatic": M},
                              {"patient": "p2", "metastatic": "2020-12-01"}])
    assert [x[1] for x in summary(con, "p1")] == ["THP"]
    assert [x[1] for x in summary(con, "p2")] == ["T-DXd"]
    assert lines_of(con, "not_in_cohort") == []


def test_lines_table_has_exactly_the_spec_columns():
    con = build(thp())
    cols = [d[0] for d in con.execute("select * from build.lines_of_therapy").description]
    assert cols == ["patient_id", "line_number", "start_date", "end_date", "end_reason",
                    "ingredients", "regimen", "regimen_group", "her2_directed",
                    "has_maintenance_addition", "n_administrations"]


def test_same_input_gives_identical_tables():
    tr = thp(n=8) + cycles("Enhertu", "2020-09-01", 6) + cycles("letrozole", "2020-02-20", 3)
    a = build(tr).execute("select * from build.lines_of_therapy").fetchall()
    b = build(list(reversed(tr))).execute("select * from build.lines_of_therapy").fetchall()
    assert a == b
