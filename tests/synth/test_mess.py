"""The registry mess is injected at the documented rates and truth/mess.csv counts it."""

from __future__ import annotations

import math

import pandas as pd

from her2audit.synth import model

R = model.RATES


def _close(observed: int, trials: int, rate: float, sigmas: float = 4.0) -> bool:
    expected = trials * rate
    return abs(observed - expected) <= sigmas * math.sqrt(max(expected * (1 - rate), 1.0)) + 1


def test_mess_counts_match_the_files(tables, mess) -> None:
    t = tables["treatments"]
    names = tables["truth_drug_names"]
    junk = set(names.loc[names["drug_class"] == "unmapped", "drug"])
    assert int(t["drug"].isin(junk).sum()) == mess["unmapped_name"][1] > 0
    patients = set(tables["patients"]["patient_id"])
    assert int((~t["patient_id"].isin(patients)).sum()) == mess["orphan_row"][1] > 0
    valid_start = pd.to_datetime(t["start_date"], format="%Y-%m-%d", errors="coerce").notna()
    ends = t[(t["end_date"] != "") & valid_start]
    assert int((ends["end_date"] < ends["start_date"]).sum()) == mess["end_before_start"][1]
    dup = t.duplicated(keep="first")
    assert int(dup.sum()) >= mess["duplicate_row"][1] > 0
    assert (t.loc[dup, "record_id"] == "").all()  # record ids stay unique


def test_rates_are_as_configured(tables, mess) -> None:
    t = tables["treatments"]
    n = len(t)
    # duplicates are drawn from rows without a record_id (ids stay unique)
    pool = int((t["record_id"] == "").sum()) - mess["duplicate_row"][1]
    assert _close(mess["duplicate_row"][1], pool, R.duplicate_row)
    assert _close(mess["unmapped_name"][1], n, R.unmapped_name)
    assert _close(mess["case_variant"][1], n, R.case_variant)
    assert _close(mess["missing_end_date"][1],
                  mess["missing_end_date"][1] + int((t["end_date"] != "").sum()),
                  R.missing_end_date, sigmas=5)
    tp = tables["truth_patients"]
    assert mess["quarantined_patient"][1] == int((tp["exclusion_reason"] == "quarantined").sum())
    for kind, (rate, _) in mess.items():
        assert 0 <= rate <= 1, kind


def test_spellings_brands_biosimilars_and_codes(tables) -> None:
    drugs = set(tables["treatments"]["drug"].str.strip())
    for name in ("Herceptin", "Perjeta", "Kadcyla", "Enhertu", "Taxotere", "Xeloda",
                 "ado-trastuzumab emtansine", "fam-trastuzumab deruxtecan-nxki", "Ogivri",
                 "Phesgo", "trastuzumab-dkst", "Tukysa", "Tykerb"):
        assert name in drugs, name
    lower = {d.lower() for d in drugs}
    assert {"denosumab", "zoledronic acid", "ondansetron", "pegfilgrastim"} <= lower
    assert any(d.isupper() and d.lower() in lower for d in drugs)
    assert any(d != d.strip() for d in tables["treatments"]["drug"])
    t = tables["treatments"]
    coded = t[t["drug_code"] != ""]
    assert len(coded) > 0
    assert set(coded["drug_code"]) <= set(model.ATC_CODES.values())
    assert not coded["drug"].str.lower().str.contains("phesgo").any()


def test_missing_end_dates_are_on_course_rows_only(tables) -> None:
    t = tables["treatments"]
    keys = t["drug"].str.strip().str.lower()
    cape = t[keys.isin(["capecitabine", "xeloda"])]
    assert (cape["end_date"] == "").mean() < 0.2
    assert (cape["end_date"] != "").mean() > 0.8
    iv = t[keys.isin(["enhertu", "kadcyla"])]
    with_end = iv[iv["end_date"] != ""]  # only the injected end-before-start rows
    assert (with_end["end_date"] < with_end["start_date"]).all()
    assert len(with_end) < 0.01 * len(iv)
