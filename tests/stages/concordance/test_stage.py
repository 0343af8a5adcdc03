"""The concordance stage end to end on hand-written lines: era boundaries, early relapse,
CNS involvement, trial drugs, unknown regimens, pinning, reasons, patient sequences,
quality indicators and the record of guideline versions."""

from __future__ import annotations

import pytest

from her2audit import warehouse
from her2audit.stages import concordance

from .conftest import Patient, fetch


@pytest.mark.parametrize(
    ("start", "guideline", "category"),
    [
        ("2013-02-21", None, "not_evaluable"),
        ("2013-02-22", "her2-mbc-2013", "preferred"),
        ("2020-04-16", "her2-mbc-2013", "preferred"),
        ("2020-04-17", "her2-mbc-2020", "preferred"),
        ("2022-05-03", "her2-mbc-2020", "preferred"),
        ("2022-05-04", "her2-mbc-2023", "alternative"),
    ],
)
def test_each_line_is_judged_by_the_rulebook_in_force_at_its_start(judge, start, guideline,
                                                                   category):
    """T-DM1 second line: preferred until 2022-05-03, an alternative from 2022-05-04 on."""
    verdict = judge([Patient("P", [("2012-06-01", "THP"), (start, "TDM1")])])[("P", 2)]
    assert (verdict["guideline_id"], verdict["category"]) == (guideline, category)
    if guideline is None:
        assert verdict["rule_id"] == "no_guideline_in_force"
        assert verdict["guideline_version"] is None
        assert "no guideline version was in force" in verdict["reason"]
        assert "2013-02-22" in verdict["reason"]
    else:
        assert verdict["guideline_version"] == guideline[-4:] + ".1"


def test_reason_reads_as_a_sentence(judge):
    verdicts = judge([
        Patient("A", [("2022-09-01", "THP"), ("2023-03-10", "TDM1")]),
        Patient("B", [("2023-01-05", "THP"), ("2023-08-01", "TDXD"), ("2024-02-01", "TUC")]),
        Patient("C", [("2023-01-05", "CHEMO")]),
        Patient("D", [("2023-01-05", "THP"), ("2023-08-01", "TDXD"), ("2024-02-01", "TUC"),
                      ("2024-09-01", "HER2ENDO")]),
    ])
    assert verdicts[("A", 2)]["reason"] == (
        "Line 2 (2023-03-10): T-DM1 is an alternative; her2-mbc-2023 prefers T-DXd in line 2 "
        "without CNS involvement (DESTINY-Breast03)."
    )
    assert verdicts[("B", 3)]["reason"] == (
        "Line 3 (2024-02-01): Tucatinib + trastuzumab + capecitabine is preferred: "
        "her2-mbc-2023 recommends tucatinib + trastuzumab + capecitabine in line 3 after T-DXd "
        "(HER2CLIMB)."
    )
    assert verdicts[("C", 1)]["reason"] == (
        "Line 1 (2023-01-05): Chemotherapy, no anti-HER2 is not recommended (no HER2-directed "
        "drug); her2-mbc-2023 prefers THP in line 1 (CLEOPATRA; PERUSE)."
    )
    assert verdicts[("D", 4)]["reason"].startswith(
        "Line 4 (2024-09-01): Anti-HER2 + endocrine is not recommended; her2-mbc-2023 names no "
        "preferred regimen in line 4 after T-DXd and tucatinib + trastuzumab + capecitabine and "
        "its alternatives are margetuximab + chemotherapy, neratinib + capecitabine, "
    )


def test_early_relapse_first_line_is_evaluated_as_line_2(judge):
    verdicts = judge([
        Patient("ER1", [("2023-02-01", "TDXD"), ("2023-10-01", "TUC")], early_relapse=True),
        Patient("ER2", [("2023-02-01", "THP")], early_relapse=True,
                early_drugs=[("2022-01-10", "pertuzumab"), ("2022-01-10", "trastuzumab")]),
        Patient("ER3", [("2023-02-01", "THP")], early_relapse=True,
                early_drugs=[("2022-01-10", "trastuzumab")]),
        Patient("NER", [("2023-02-01", "TDXD")]),
    ])
    first = verdicts[("ER1", 1)]
    assert (first["evaluated_as_line"], first["category"], first["rule_id"]) == (
        2, "preferred", "2023-L2")
    assert first["early_relapse"] is True
    assert first["reason"].startswith(
        "Line 1 (2023-02-01), evaluated as line 2 after early relapse: T-DXd is preferred")
    second = verdicts[("ER1", 2)]
    assert (second["evaluated_as_line"], second["category"]) == (2, "preferred")
    assert "after T-DXd" in second["reason"]
    # THP again after (neo)adjuvant pertuzumab; an alternative when pertuzumab was never given
    assert verdicts[("ER2", 1)]["category"] == "not_recommended"
    assert verdicts[("ER3", 1)]["category"] == "alternative"
    assert (verdicts[("NER", 1)]["evaluated_as_line"], verdicts[("NER", 1)]["category"]) == (
        1, "not_recommended")


@pytest.mark.parametrize(("documented", "cns"), [("2023-03-15", True), ("2023-03-16", False)])
def test_cns_involvement_is_a_brain_metastasis_by_line_start_plus_14_days(judge, documented,
                                                                           cns):
    verdicts = judge([Patient("P", [("2022-09-01", "THP"), ("2023-03-01", "TUC")],
                              brain_met=documented)])
    verdict = verdicts[("P", 2)]
    assert verdict["cns"] is cns
    assert verdict["category"] == ("preferred" if cns else "alternative")
    assert verdict["rule_id"] == ("2023-L2-CNS" if cns else "2023-L2")


def test_leptomeningeal_counts_and_other_sites_do_not(judge):
    con = judge.con
    verdicts = judge([Patient("L", [("2022-09-01", "THP"), ("2023-03-01", "TUC")]),
                      Patient("B", [("2022-09-01", "THP"), ("2023-03-01", "TUC")])])
    assert not verdicts[("L", 2)]["cns"]
    con.execute("insert into staging.metastases values ('L', date '2023-01-01', 'leptomeningeal'),"
                " ('B', date '2023-01-01', 'bone')")
    concordance.judge(con, None, None)
    got = {(r["patient_id"]): r["cns"] for r in fetch(con, "select * from build.line_concordance "
                                                          "where line_number = 2")}
    assert got == {"L": True, "B": False}


def test_trial_and_unknown_regimens(judge):
    verdicts = judge([
        Patient("T", [("2023-01-05", "THP"), ("2023-07-01", "TRIAL")]),
        Patient("O", [("2023-01-05", "THP"), ("2023-07-01", "OTHER")]),
        Patient("N", [("2023-01-05", "THP"), ("2023-07-01", None)]),
        Patient("X", [("2023-01-05", "THP"), ("2023-07-01", "some_new_group")]),
        Patient("E", [("2010-01-05", "TRIAL")]),
    ])
    trial = verdicts[("T", 2)]
    assert (trial["category"], trial["concordant"], trial["rule_id"]) == (
        "trial", False, "investigational_agent")
    assert "trial participation with an investigational agent or combination" in trial["reason"]
    for pid in ("O", "N", "X"):
        v = verdicts[(pid, 2)]
        assert (v["category"], v["concordant"], v["rule_id"]) == (
            "not_evaluable", False, "unknown_regimen"), pid
        assert "is not one the regimen catalog names" in v["reason"]
    # before any rulebook, even a trial line is not evaluable
    assert verdicts[("E", 1)]["category"] == "not_evaluable"


def test_history_includes_trial_and_unknown_lines_without_breaking_sequence(judge):
    verdicts = judge([Patient("S", [("2023-01-05", "THP"), ("2023-05-01", "TRIAL"),
                                    ("2023-09-01", "TDXD"), ("2024-01-01", "TUC")])])
    assert verdicts[("S", 3)]["category"] == "preferred"  # T-DXd not yet given
    assert verdicts[("S", 4)]["category"] == "preferred"  # tucatinib after T-DXd


def test_pinning_judges_every_line_by_one_rulebook(judge):
    patients = [Patient("P", [("2011-01-01", "THP"), ("2016-01-01", "TDM1"),
                              ("2023-01-01", "TDXD")])]
    verdicts = judge(patients, pinned="her2-mbc-2013")
    assert {v["guideline_id"] for v in verdicts.values()} == {"her2-mbc-2013"}
    # a pinned rulebook reads each line's rules as of its date: T-DXd counts from line 3 in
    # her2-mbc-2013 since 2019-12-20, and a line before the rulebook's first day is judged
    # by the rules of that first day
    assert [verdicts[("P", n)]["category"] for n in (1, 2, 3)] == [
        "preferred", "preferred", "alternative"]
    context = fetch(judge.con, "select line_number, rules_as_of from build.line_context "
                               "order by line_number")
    assert [str(c["rules_as_of"]) for c in context] == ["2013-02-22", "2013-02-22", "2020-02-25"]
    versions = fetch(judge.con, "select guideline_id, pinned, n_lines from build.guideline_versions"
                                " order by guideline_id")
    assert versions == [
        {"guideline_id": "her2-mbc-2013", "pinned": True, "n_lines": 3},
        {"guideline_id": "her2-mbc-2020", "pinned": False, "n_lines": 0},
        {"guideline_id": "her2-mbc-2023", "pinned": False, "n_lines": 0},
        {"guideline_id": "her2-mbc-2025", "pinned": False, "n_lines": 0},
    ]
    verdicts = judge(patients, pinned="her2-mbc-2023")
    assert [verdicts[("P", n)]["category"] for n in (1, 2, 3)] == [
        "preferred", "alternative", "preferred"]  # T-DXd not yet given: preferred in line 3


def test_guideline_versions_record_lines_judged_by_date(judge):
    judge([Patient("P", [("2012-01-01", "THP"), ("2016-01-01", "TDM1"), ("2021-01-01", "TUC"),
                         ("2023-01-01", "TDXD")])])
    rows = fetch(judge.con, "select * from build.guideline_versions order by effective_from")
    assert [(r["guideline_id"], r["n_lines"], str(r["effective_from"]), str(r["effective_to"]))
            for r in rows] == [
        ("her2-mbc-2013", 1, "2013-02-22", "2020-04-16"),
        ("her2-mbc-2020", 1, "2020-04-17", "2022-05-03"),
        ("her2-mbc-2023", 1, "2022-05-04", "2025-12-14"),
        ("her2-mbc-2025", 0, "2025-12-15", "None"),
    ]
    assert all(r["sha256"] and r["file"].endswith(f"{r['guideline_id']}.yaml") for r in rows)
    rules = fetch(judge.con, "select guideline_id, rule_id, line from build.guideline_rules")
    assert {"guideline_id": "her2-mbc-2023", "rule_id": "2023-L4plus", "line": "4+"} in rules
    # groups with their own dates or conditions are spelled out for readers
    late = fetch(judge.con, "select alternative_if_not_received, conditional_groups "
                            "from build.guideline_rules where rule_id = '2013-L3plus'")[0]
    assert late["alternative_if_not_received"] == ["trastuzumab_deruxtecan"]
    assert "T-DXd from 2019-12-20 (alternative if not received)" in late["conditional_groups"]
    assert "THP if pertuzumab was never given (alternative)" in late["conditional_groups"]


def test_patient_sequences(judge):
    judge([
        Patient("A", [("2022-03-01", "THP"), ("2023-01-01", "TDXD"), ("2023-09-01", "TUC")]),
        Patient("B", [("2022-06-01", "CHEMO"), ("2023-01-01", "TDXD"), ("2023-09-01", "TRIAL")]),
        Patient("C", []),
    ])
    rows = {r["patient_id"]: r for r in fetch(judge.con, "select * from build.patient_sequences")}
    a, b, c = rows["A"], rows["B"], rows["C"]
    assert a["sequence"] == "THP > T-DXd > Tucatinib + trastuzumab + capecitabine"
    assert a["regimen_group_sequence"] == (
        "taxane_trastuzumab_pertuzumab > trastuzumab_deruxtecan > "
        "tucatinib_trastuzumab_capecitabine")
    assert (a["n_lines"], a["all_concordant"], a["first_discordant_line"]) == (3, True, None)
    assert a["category_sequence"] == "preferred > preferred > preferred"
    assert (b["all_concordant"], b["all_evaluable_concordant"], b["first_discordant_line"],
            b["n_trial"], b["n_not_recommended"]) == (False, False, 1, 1, 1)
    assert (c["n_lines"], c["sequence"], c["all_concordant"]) == (0, None, None)
    assert a["guideline_ids"] == "her2-mbc-2020, her2-mbc-2023"


def test_quality_indicators(judge):
    patients = [
        # S1, 2021: THP first line, T-DM1 second (preferred in 2021)
        Patient("A", [("2021-02-01", "THP"), ("2021-09-01", "TDM1")], site_id="S1",
                metastatic_date="2021-01-20"),
        # S1, 2023: TH first line (alternative), chemo only second (not recommended)
        Patient("B", [("2023-02-01", "TCHEMO"), ("2023-09-01", "CHEMO")], site_id="S1",
                metastatic_date="2023-01-20"),
        # S2, 2023: early relapse: T-DXd first line = second line, preferred; trial third
        Patient("C", [("2023-03-01", "TDXD"), ("2023-10-01", "TUC"), ("2024-03-01", "TRIAL")],
                site_id="S2", early_relapse=True, metastatic_date="2023-02-20"),
        # S2, 2023: first line 120 days after metastatic diagnosis
        Patient("D", [("2023-06-20", "THP")], site_id="S2", metastatic_date="2023-02-20"),
        # S2: died 30 days after metastatic diagnosis, never treated
        Patient("E", [], site_id="S2", metastatic_date="2023-03-01", death_date="2023-03-31"),
        # S2: diagnosed too late to be followed 90 days before the cut-off
        Patient("F", [], site_id="S2", metastatic_date="2024-05-01"),
    ]
    judge(patients, cutoff="2024-06-01")
    qi = {(r["indicator"], r["period"], r["site_id"]): (r["numerator"], r["denominator"],
                                                        r["rate"])
          for r in fetch(judge.con, "select * from build.quality_indicators")}
    assert qi[("first_line_thp", "all", "all")] == (2, 3, pytest.approx(2 / 3))
    assert qi[("first_line_thp", "2023", "S1")] == (0, 1, 0.0)
    assert qi[("first_line_thp", "all", "S2")] == (1, 1, 1.0)
    # A (THP 2021) and D (THP 2023) preferred, B (TH) an alternative
    assert qi[("first_line_preferred", "all", "all")] == (2, 3, pytest.approx(2 / 3))
    # second lines: A2 (preferred), B2 (not recommended), C1 (evaluated as 2, preferred),
    # C2 (line 2, tucatinib after T-DXd: preferred)
    assert qi[("second_line_preferred", "all", "all")] == (3, 4, 0.75)
    assert qi[("second_line_preferred", "2021", "all")] == (1, 1, 1.0)
    assert ("third_line_preferred", "all", "all") in qi  # trial only: denominator 0
    assert qi[("third_line_preferred", "all", "all")] == (0, 0, None)
    assert qi[("her2_blockade", "all", "all")] == (7, 8, 0.875)
    assert qi[("line_concordance", "all", "all")] == (6, 7, pytest.approx(6 / 7))
    # treated within 90 days: A, B, C yes; D no; E died before day 90; F not followed 90 days
    assert qi[("treated_within_90_days", "all", "all")] == (3, 4, 0.75)
    assert qi[("treated_within_90_days", "2023", "S2")] == (1, 2, 0.5)
    totals = fetch(judge.con, "select indicator from build.quality_indicators "
                              "where period = 'all' and site_id = 'all'")
    definitions = fetch(judge.con, "select * from build.quality_indicator_definitions")
    assert [t["indicator"] for t in totals] == [d["indicator"] for d in definitions] == [
        "first_line_thp", "first_line_preferred", "second_line_preferred",
        "third_line_preferred", "her2_blockade", "treated_within_90_days", "line_concordance"]
    assert all(d["definition"] and d["numerator"] and d["denominator"] for d in definitions)


def test_first_line_preferred_follows_the_rulebook_in_force(judge):
    """T-DXd + pertuzumab is a preferred first line from 2025-12-15 (her2-mbc-2025), not the
    day before (her2-mbc-2023); first_line_thp counts THP only, as it always did."""
    patients = [
        Patient("A", [("2025-12-14", "TDXDP")]),
        Patient("B", [("2025-12-15", "TDXDP")]),
        Patient("C", [("2025-12-16", "THP")]),
        Patient("D", [("2025-12-20", "TCHEMO")]),
    ]
    judge(patients, cutoff="2026-06-30")
    qi = {(r["indicator"], r["period"]): (r["numerator"], r["denominator"])
          for r in fetch(judge.con, "select * from build.quality_indicators "
                                    "where site_id = 'all'")}
    assert qi[("first_line_preferred", "all")] == (2, 4)  # B and C
    assert qi[("first_line_preferred", "2025")] == (2, 4)
    assert qi[("first_line_thp", "all")] == (1, 4)  # C


def test_same_input_gives_identical_tables(judge):
    patients = [Patient(f"P{i}", [("2021-01-01", "THP"), ("2022-06-01", "TDXD"),
                                  ("2023-01-01", "TUC")], site_id=f"S{i % 3}",
                        hr_positive=bool(i % 2), brain_met="2022-01-01" if i % 4 == 0 else None)
                for i in range(40)]
    tables = ["line_concordance", "line_context", "patient_sequences", "quality_indicators",
              "guideline_versions"]
    def snapshot():  # tables are sets of rows: compare them in a fixed order
        return {t: judge.con.execute(f"select * from build.{t} order by all").fetchall()
                for t in tables}

    judge(patients)
    first = snapshot()
    judge(patients)
    second = snapshot()
    assert first == second
    assert warehouse.row_count(judge.con, "build.line_concordance") == 120


def test_a_cohort_without_lines_still_gets_every_table(judge):
    verdicts = judge([Patient("A", []), Patient("B", [])])
    assert verdicts == {}
    con = judge.con
    assert [r["n_lines"] for r in fetch(con, "select n_lines from build.patient_sequences")] == [
        0, 0]
    totals = fetch(con, "select denominator, rate from build.quality_indicators")
    assert len(totals) == 7 and all(t["denominator"] == 0 and t["rate"] is None for t in totals)
