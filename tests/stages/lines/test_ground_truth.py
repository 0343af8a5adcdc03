"""Against the synthetic ground truth (her2audit.synth): on a 10,000-patient registry with
the default mess, at least 99% of the cohort patients get exactly the true lines (same
count, same start dates, same regimen groups). Mismatches are printed for study."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from her2audit import pipeline, synth, warehouse
from her2audit.parameters import load_parameters

PATIENTS = 10_000
SEED = 20240517


def _run(tmp: Path, patients: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame, set[str]]:
    registry = tmp / "registry"
    synth.write_registry(registry, patients=patients, seed=seed, fmt="csv")
    db = tmp / "warehouse.duckdb"
    pipeline.run_pipeline(db, str(registry), load_parameters(), None,
                          stages=["extract", "cohort", "lines"], progress=lambda m: None)
    con = warehouse.connect(db, read_only=True)
    try:
        got = con.execute(
            "select patient_id, line_number, start_date::varchar as start_date, regimen_group, "
            "regimen, ingredients from build.lines_of_therapy"
        ).df()
        cohort = {r[0] for r in con.execute("select patient_id from build.patients").fetchall()}
    finally:
        con.close()
    truth = pd.read_csv(registry / "truth" / "lines.csv", dtype=str, keep_default_na=False)
    truth_patients = pd.read_csv(registry / "truth" / "patients.csv", dtype=str,
                                 keep_default_na=False)
    true_cohort = set(truth_patients.loc[truth_patients["in_cohort"] == "true", "patient_id"])
    truth = truth[truth["patient_id"].isin(true_cohort)]
    missing = true_cohort - cohort
    if missing:
        print(f"{len(missing)} patients of the true cohort are not in build.patients, e.g. "
              f"{sorted(missing)[:5]}")
    return got, truth, true_cohort


def _signature(df: pd.DataFrame) -> dict[str, tuple]:
    df = df.sort_values(["patient_id", "line_number"], key=lambda s: s.astype(str).str.zfill(4))
    return {
        p: tuple(zip(g["start_date"], g["regimen_group"], strict=True))
        for p, g in df.groupby("patient_id", sort=False)
    }


def _compare(tmp: Path, patients: int, seed: int) -> tuple[int, list[str]]:
    got, truth, cohort = _run(tmp, patients, seed)
    mine, true = _signature(got), _signature(truth)
    mismatches = []
    for p in sorted(cohort):
        if mine.get(p, ()) != true.get(p, ()):
            mismatches.append(
                f"{p}:\n  inferred {mine.get(p, ())}\n  truth    {true.get(p, ())}")
    return len(cohort), mismatches


@pytest.mark.slow
def test_ten_thousand_patients_get_their_true_lines(tmp_path: Path):
    n, mismatches = _compare(tmp_path, PATIENTS, SEED)
    print(f"{len(mismatches)} of {n} cohort patients differ from the truth")
    for m in mismatches[:40]:
        print(m)
    assert n > 0.8 * PATIENTS * 0.8
    assert len(mismatches) <= 0.01 * n


def test_small_registry_gets_its_true_lines(tmp_path: Path):
    """The same comparison on 500 patients, in the default (fast) test run."""
    n, mismatches = _compare(tmp_path, 500, 11)
    for m in mismatches[:20]:
        print(m)
    assert n > 300
    assert len(mismatches) <= max(2, 0.01 * n)
