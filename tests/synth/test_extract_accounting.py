"""The synthetic registry goes through the real extract stage, and what it quarantines is
exactly the mess the generator says it injected (no accidental bad rows)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd

from her2audit import pipeline
from her2audit.parameters import load_parameters
from her2audit.synth import write_registry


def test_quarantine_is_exactly_the_injected_mess(tmp_path: Path) -> None:
    registry = tmp_path / "registry"
    write_registry(registry, patients=1500, seed=21, fmt="csv")
    db = tmp_path / "w.duckdb"
    pipeline.run_pipeline(db, str(registry), load_parameters(), None, "test", ["extract"],
                          progress=lambda _m: None)
    with duckdb.connect(str(db), read_only=True) as con:
        got = {(t, r): n for t, r, n in con.execute(
            "select source_table, rule, count(*) from build.quarantine group by all").fetchall()}
    read = {"dtype": str, "keep_default_na": False}
    tp = pd.read_csv(registry / "truth" / "patients.csv", **read)
    mess = pd.read_csv(registry / "truth" / "mess.csv", **read).set_index("kind")["n_rows"]
    t = pd.read_csv(registry / "treatments.csv", **read)
    broken = set(tp.loc[tp["exclusion_reason"] == "quarantined", "patient_id"])
    of_broken = t["patient_id"].isin(broken)
    orphans = ~t["patient_id"].isin(tp["patient_id"])
    start = pd.to_datetime(t["start_date"], format="%Y-%m-%d", errors="coerce")
    end = pd.to_datetime(t["end_date"], format="%Y-%m-%d", errors="coerce")
    known = ~of_broken & ~orphans
    expected = {
        ("patients", "invalid_date"): len(broken),
        ("treatments", "unknown_patient"): int((of_broken | orphans).sum()),
        ("treatments", "invalid_date"): int((known & start.isna()).sum()),
        ("treatments", "end_before_start"): int((known & (end < start)).sum()),
    }
    assert int(orphans.sum()) == int(mess["orphan_row"])
    for table in ("diagnoses", "biomarkers", "metastases", "progressions"):
        rows = pd.read_csv(registry / f"{table}.csv", **read)
        expected[(table, "unknown_patient")] = int(rows["patient_id"].isin(broken).sum())
    expected = {k: v for k, v in expected.items() if v}
    assert got == expected
