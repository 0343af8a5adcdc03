"""The ground truth is internally consistent and is what SPEC §4's line rules give on the
rows actually written (checked with an independent per-patient reading of the rules)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from her2audit.synth import model, write_registry

from .reference_lines import infer_lines, load_administrations

CUTOFFS = [(e, dt.date.fromisoformat("1970-01-01") + dt.timedelta(days=d))
           for e, d in model.ERAS]


def _compare(registry: Path) -> tuple[pd.Series, pd.DataFrame, pd.DataFrame]:
    adm, tp = load_administrations(registry)
    ref = infer_lines(adm)
    truth = pd.read_csv(registry / "truth" / "lines.csv", dtype=str, keep_default_na=False)
    ref = ref.assign(line_number=ref["line_number"].astype(str),
                     start_date=ref["start_date"].astype(str),
                     end_date=ref["end_date"].astype(str),
                     has_maintenance_addition=ref["has_maintenance_addition"].map(
                         {True: "true", False: "false"}))
    cols = ["line_number", "start_date", "ingredients"]
    cohort = tp.loc[tp["in_cohort"] == "true", "patient_id"]

    def signature(df: pd.DataFrame) -> pd.Series:
        return df.groupby("patient_id")[cols].apply(
            lambda d: tuple(map(tuple, d.values.tolist()))).reindex(cohort)

    a, b = signature(truth), signature(ref)
    same = (a == b) | (a.isna() & b.isna())
    return same, truth, ref


def test_truth_lines_are_what_the_rules_give(registry: Path) -> None:
    same, truth, ref = _compare(registry)
    assert same.mean() >= 0.99, same[~same].index[:10].tolist()
    both = truth.merge(ref, on=["patient_id", "line_number"], suffixes=("", "_ref"))
    assert (both["end_date"] == both["end_date_ref"]).mean() >= 0.99
    assert (both["has_maintenance_addition"] == both["has_maintenance_addition_ref"]).mean() \
        >= 0.99


@pytest.mark.slow
def test_truth_lines_match_on_10000_patients(tmp_path: Path) -> None:
    write_registry(tmp_path, patients=10_000, seed=2024, fmt="csv")
    same, _, _ = _compare(tmp_path)
    assert same.mean() >= 0.99


def test_lines_are_contiguous_and_ordered(tables) -> None:
    lines = tables["truth_lines"].copy()
    lines["n"] = lines["line_number"].astype(int)
    for col in ("start_date", "end_date"):
        lines[col] = pd.to_datetime(lines[col])
    assert (lines["end_date"] >= lines["start_date"]).all()
    g = lines.sort_values(["patient_id", "n"]).groupby("patient_id")
    assert (g["n"].transform(lambda s: (s.values == range(1, len(s) + 1)).all())).all()
    nxt = g["start_date"].shift(-1)
    has_next = nxt.notna()
    assert (lines.loc[has_next, "end_date"] < nxt[has_next]).all()
    assert (lines.loc[has_next, "start_date"] < nxt[has_next]).all()
    tp = tables["truth_patients"].set_index("patient_id")
    counts = lines.groupby("patient_id").size()
    assert (tp.loc[counts.index, "n_lines"].astype(int) == counts).all()
    assert set(counts.index) <= set(tp.index[tp["in_cohort"] == "true"])
    assert (tp.loc[tp["in_cohort"] == "false", "n_lines"] == "0").all()


def test_line_context_columns(tables) -> None:
    lines = tables["truth_lines"]
    tp = tables["truth_patients"].set_index("patient_id")
    first_er = (lines["line_number"] == "1") & (lines["early_relapse"] == "true")
    expected = lines["line_number"].where(~first_er, "2")
    assert (lines["evaluated_as_line"] == expected).all()
    assert first_er.sum() > 0
    for col in ("hr_positive", "early_relapse"):
        assert (lines[col].values == tp.loc[lines["patient_id"], col].values).all()
    era = lines["start_date"].map(
        lambda d: [e for e, start in CUTOFFS if dt.date.fromisoformat(d) >= start][-1])
    assert (era == lines["guideline_id"]).all()
    mets = tables["metastases"]
    cns = mets[mets["site"].isin(["brain", "leptomeningeal"])].groupby("patient_id")[
        "diagnosis_date"].min()
    first_cns = lines["patient_id"].map(cns)
    limit = (pd.to_datetime(lines["start_date"]) + pd.Timedelta(days=14)).dt.strftime("%Y-%m-%d")
    expected_cns = first_cns.notna() & (first_cns.fillna("9999") <= limit)
    assert ((lines["cns"] == "true") == expected_cns).all()


def test_early_relapse_follows_the_adjuvant_rows(tables) -> None:
    """SPEC §2: metastasis within 183 days of the last HER2-directed dose before it."""
    t = tables["treatments"]
    names = tables["truth_drug_names"]
    her2 = set(names.loc[names["drug_class"].str.contains("anti_her2"), "drug"].str.lower())
    tp = tables["truth_patients"]
    met = pd.to_datetime(t["patient_id"].map(tp.set_index("patient_id")["metastatic_date"]),
                         errors="coerce")
    start = pd.to_datetime(t["start_date"], format="%Y-%m-%d", errors="coerce")
    prior = (t["drug"].str.strip().str.lower().isin(her2) & start.notna()
             & ((start < met - pd.Timedelta(days=30))
                | t["setting"].isin(["neoadjuvant", "adjuvant"])))
    last = start[prior].groupby(t.loc[prior, "patient_id"]).max()
    metastatic = tp[tp["metastatic_date"] != ""].set_index("patient_id")
    gap = (pd.to_datetime(metastatic["metastatic_date"]) - last.reindex(metastatic.index)).dt.days
    expected = gap.between(0, 183)
    assert ((metastatic["early_relapse"] == "true") == expected).all()
    assert expected.sum() > 0 and (metastatic.loc[expected, "de_novo"] == "false").all()


def test_deaths_follow_the_last_treatment(tables) -> None:
    t = tables["treatments"]
    valid = t[pd.to_datetime(t["start_date"], format="%Y-%m-%d", errors="coerce").notna()]
    last = valid.groupby("patient_id")[["start_date", "end_date"]].max().max(axis=1)
    tp = tables["truth_patients"]
    dead = tp[tp["death_date"] != ""].set_index("patient_id")
    assert (last.reindex(dead.index).fillna("") <= dead["death_date"]).all()
