"""The synthetic population looks like the documented model (README.md), on 3,000 patients.
Ranges are the documented targets, wide enough for sampling noise at this size."""

from __future__ import annotations

import pandas as pd


def _cohort(tables) -> pd.DataFrame:
    tp = tables["truth_patients"]
    return tp[tp["in_cohort"] == "true"]


def test_population_mix(tables) -> None:
    tp = tables["truth_patients"]
    reasons = tp["exclusion_reason"].value_counts(normalize=True)
    assert 0.75 <= reasons[""] <= 0.90
    assert 0.05 <= reasons["never_metastatic"] <= 0.11
    assert 0.03 <= reasons["her2_negative"] <= 0.09
    assert reasons["her2_equivocal"] > 0 and reasons["no_her2_test"] > 0
    assert set(tp.loc[tp["exclusion_reason"] == "never_metastatic", "metastatic_date"]) == {""}


def test_de_novo_share_is_35_to_40_percent(tables) -> None:
    tp = tables["truth_patients"]
    metastatic = tp[tp["metastatic_date"] != ""]
    share = (metastatic["de_novo"] == "true").mean()
    assert 0.33 <= share <= 0.42
    d = tables["diagnoses"].set_index("patient_id")
    de_novo = metastatic.loc[metastatic["de_novo"] == "true", "patient_id"]
    assert (d.loc[de_novo, "metastatic_date"] == d.loc[de_novo, "diagnosis_date"]).all()
    assert (d.loc[de_novo, "stage_at_diagnosis"] == "IV").all()


def test_first_line_is_mostly_thp(tables) -> None:
    lines = tables["truth_lines"]
    first = lines[lines["line_number"] == "1"]
    share = first["regimen"].value_counts(normalize=True)
    assert 0.60 <= share["THP"] <= 0.78
    for regimen in ("TH", "T-DM1", "Anti-HER2 + endocrine (± CDK4/6 inhibitor)",
                    "Chemotherapy, no anti-HER2"):
        assert share.get(regimen, 0) > 0, regimen


def test_second_line_moves_from_tdm1_to_tdxd_after_2022(tables) -> None:
    lines = tables["truth_lines"]
    second = lines[(lines["evaluated_as_line"] == "2")]
    before = second[second["start_date"] < "2022-05-04"]["regimen"].value_counts(normalize=True)
    after = second[second["start_date"] >= "2022-07-01"]["regimen"].value_counts(normalize=True)
    assert before.idxmax() == "T-DM1"
    assert after.idxmax() == "T-DXd" and after["T-DXd"] > 0.4
    assert before.get("T-DXd", 0) < 0.1


def test_tucatinib_is_chosen_more_often_with_cns(tables) -> None:
    lines = tables["truth_lines"]
    later = lines[(lines["line_number"] != "1") & (lines["start_date"] >= "2020-04-17")]
    tuc = later["regimen_group"] == "tucatinib_trastuzumab_capecitabine"
    with_cns = tuc[later["cns"] == "true"].mean()
    without = tuc[later["cns"] == "false"].mean()
    assert with_cns > 1.5 * without


def test_cns_share_over_time(tables) -> None:
    cohort = _cohort(tables)
    share = (cohort["cns_ever"] == "true").mean()
    assert 0.15 <= share <= 0.30
    mets = tables["metastases"]
    cns_rows = mets[mets["site"].isin(["brain", "leptomeningeal"])]
    assert set(cns_rows["patient_id"]) == set(
        tables["truth_patients"].query("cns_ever == 'true'")["patient_id"])
    assert (cns_rows["site"] == "leptomeningeal").sum() > 0


def test_sites_and_their_practice_differ(tables) -> None:
    tp = tables["truth_patients"]
    sites = set(tp["site_id"])
    assert 10 <= len(sites) <= 50
    lines = tables["truth_lines"].merge(tp[["patient_id", "site_id"]], on="patient_id")
    concordant = lines["intended_category"].isin(["preferred", "alternative"])
    by_site = concordant.groupby(lines["site_id"]).mean()
    assert by_site.max() - by_site.min() > 0.2


def test_line_starts_cover_2014_to_2026_and_all_eras(tables) -> None:
    lines = tables["truth_lines"]
    years = set(lines["start_date"].str[:4].astype(int))
    assert set(range(2014, 2027)) <= years
    eras = lines["guideline_id"].value_counts(normalize=True)
    assert set(eras.index) == {"her2-mbc-2013", "her2-mbc-2020", "her2-mbc-2023",
                               "her2-mbc-2025"}
    assert eras.drop("her2-mbc-2025").min() > 0.1
    assert eras["her2-mbc-2025"] > 0.02  # 2025-12-15 to the 2026-06-30 cut-off


def test_first_line_t_dxd_pertuzumab_only_from_its_approval(tables) -> None:
    lines = tables["truth_lines"]
    first = lines[lines["evaluated_as_line"] == "1"]
    tdxd_p = first["regimen_group"] == "trastuzumab_deruxtecan_pertuzumab"
    assert (first.loc[tdxd_p, "start_date"] >= "2025-12-15").all()
    after = first[first["start_date"] >= "2025-12-15"]
    assert 0.1 < (after["regimen_group"] == "trastuzumab_deruxtecan_pertuzumab").mean() < 0.6
    assert (after.loc[after["regimen_group"] == "trastuzumab_deruxtecan_pertuzumab",
                      "intended_category"] == "preferred").all()


def test_recurrent_patients_had_adjuvant_anti_her2_and_some_relapse_early(tables) -> None:
    cohort = _cohort(tables)
    recurrent = cohort[cohort["de_novo"] == "false"]
    early = (recurrent["early_relapse"] == "true").mean()
    assert 0.05 <= early <= 0.25
    t = tables["treatments"]
    prior = t[t["setting"].isin(["neoadjuvant", "adjuvant"])]
    assert recurrent["patient_id"].isin(prior["patient_id"]).mean() > 0.7
    assert not cohort.loc[cohort["de_novo"] == "true", "patient_id"].isin(
        prior["patient_id"]).any()


def test_categories_maintenance_and_trials_appear(tables) -> None:
    lines = tables["truth_lines"]
    cats = lines["intended_category"].value_counts(normalize=True)
    assert cats["preferred"] > 0.35
    assert 0.01 <= cats["trial"] <= 0.06
    assert (lines["has_maintenance_addition"] == "true").sum() > 20
    maint = lines[lines["has_maintenance_addition"] == "true"]
    assert set(maint["regimen_group"]) <= {"taxane_trastuzumab_pertuzumab",
                                           "trastuzumab_chemotherapy", "her2_endocrine"}


def test_deaths_and_censoring(tables) -> None:
    cohort = _cohort(tables)
    died = (cohort["death_date"] != "").mean()
    assert 0.3 <= died <= 0.8
    alive = cohort[cohort["death_date"] == ""]
    assert (alive["last_contact_date"] <= "2026-06-30").all()
    dead = cohort[cohort["death_date"] != ""]
    assert (dead["last_contact_date"] <= dead["death_date"]).all()
    assert (dead["death_date"] >= dead["metastatic_date"]).all()


def test_outcome_parameters_cover_every_group_used(tables) -> None:
    op = tables["truth_outcome_parameters"]
    lines = tables["truth_lines"]
    ttd = op[op["endpoint"] == "ttd"]
    assert set(lines["regimen_group"]) <= set(ttd["regimen_group"])
    os_ = op[op["endpoint"] == "os"].set_index("regimen_group")
    thp = float(os_.loc["taxane_trastuzumab_pertuzumab", "median_days"])
    assert abs(thp - 57.1 * 30.4375) < 1
    assert "CLEOPATRA" in os_.loc["taxane_trastuzumab_pertuzumab", "source"]
