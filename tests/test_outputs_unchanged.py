"""A 10,000-patient synthetic run publishes exactly the tables the reference run published:
every `audit` table's rows are fingerprinted (tests/output_fingerprint.py) and compared with
tests/data/outputs_10k_seed7.json. The performance work was checked this way against the
code before it (f4d5828: identical, table by table); the reference now in the file was made
by main at 7f71946 (the rules, sources and vocabulary work merged since changed outputs on
purpose), so the test guards what is published from here on. It was regenerated when the
drug vocabulary became 2026.12-2 (RxNorm codes added): only drug_mapping_summary changed,
through its vocabulary_version column; with the old version string the run was identical.
When the outcomes stage began to publish `median_follow_up` (the report's median follow-up,
estimated once instead of by the report), that table's entry was added; every other table
was identical.

The run is pinned to the synthetic registry's own data cut-off (2026-06-30). Without a
cut-off a date is "in the future" after the day the test runs, so the quarantine's details
(which name that date) and, in time, which rows are quarantined changed with the calendar:
the reference made on 2026-11-30 no longer matched on 2026-12-01. It was regenerated with
the cut-off by the code of that day (dc71139), before the next change was checked against
it.

A change that is meant to alter the published outputs regenerates the reference:

    her2audit synth --patients 10000 --seed 7 --out /tmp/r
    her2audit run --registry /tmp/r --db /tmp/w.duckdb --reports /tmp/reports \
        --data-cutoff 2026-06-30
    python -m tests.output_fingerprint /tmp/w.duckdb > tests/data/outputs_10k_seed7.json
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import duckdb
import pytest

from her2audit import pipeline
from her2audit.parameters import load_parameters
from her2audit.synth import model, write_registry
from tests.output_fingerprint import fingerprint

REFERENCE = Path(__file__).parent / "data" / "outputs_10k_seed7.json"
# the synthetic registry's own data cut-off (2026-06-30), as an ISO date
DATA_CUTOFF = (model.EPOCH + dt.timedelta(days=model.DATA_CUTOFF)).isoformat()


@pytest.mark.slow
def test_published_tables_match_the_reference_run(tmp_path: Path) -> None:
    registry = tmp_path / "registry"
    write_registry(registry, patients=10_000, seed=7, fmt="csv")
    db = tmp_path / "warehouse.duckdb"
    params = load_parameters(overrides={"data_cutoff": DATA_CUTOFF})
    pipeline.run_pipeline(db, str(registry), params, tmp_path / "reports", "test",
                          progress=lambda _m: None)
    with duckdb.connect(str(db), read_only=True) as con:
        got = fingerprint(con)
    expected = json.loads(REFERENCE.read_text())
    assert sorted(got) == sorted(expected)
    changed = {t: (got[t], expected[t]) for t in expected if got[t] != expected[t]}
    assert not changed, f"published tables differ from the reference run: {changed}"
