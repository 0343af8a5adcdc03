"""Property tests: the set-based inference equals a plain per-patient reading of the
rules on random histories, for random parameters; parameters move boundaries as the
rules say."""

from __future__ import annotations

import datetime as dt

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from her2audit.parameters import RunParameters
from her2audit.stages.lines import core
from tests.stages.lines.helpers import build, lines_of
from tests.stages.lines.reference import reference_lines

EPOCH = dt.date(1970, 1, 1)
BASE = (dt.date(2020, 1, 1) - EPOCH).days
DRUGS = {  # spelling -> canonical ingredient
    "Herceptin": "trastuzumab", "Perjeta": "pertuzumab", "docetaxel": "docetaxel",
    "paclitaxel": "paclitaxel", "letrozole": "letrozole", "anastrozole": "anastrozole",
    "exemestane": "exemestane", "palbociclib": "palbociclib", "Xeloda": "capecitabine",
    "Enhertu": "trastuzumab deruxtecan", "Tukysa": "tucatinib", "zoledronic acid": None,
}

administration = st.tuples(
    st.sampled_from(sorted(DRUGS)),
    st.integers(min_value=0, max_value=900),  # start, days after 2020-01-01
    st.one_of(st.none(), st.integers(min_value=0, max_value=200)),  # course length
)
patient_history = st.lists(administration, min_size=1, max_size=25)


def _rows(patient: str, history) -> list[dict]:
    out = []
    for drug, start, length in history:
        s = EPOCH + dt.timedelta(days=BASE + start)
        e = None if length is None else s + dt.timedelta(days=length)
        out.append({"patient": patient, "drug": drug, "start": s.isoformat(),
                    "end": e.isoformat() if e else None})
    return out


def _expected(history, window, max_gap):
    adms = [(BASE + s, BASE + s + (n or 0), DRUGS[d]) for d, s, n in history if DRUGS[d]]
    return [(EPOCH + dt.timedelta(days=s), r) for s, r in reference_lines(adms, window, max_gap)]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    histories=st.lists(patient_history, min_size=1, max_size=30),
    window=st.integers(min_value=0, max_value=60),
    max_gap=st.integers(min_value=20, max_value=200),
)
def test_set_based_inference_matches_the_plain_reading(histories, window, max_gap):
    """Many patients in one run (the set-based steps handle all at once), each compared
    with the one-patient reference."""
    rows = [r for n, h in enumerate(histories) for r in _rows(f"p{n:03d}", h)]
    patients = [{"patient": f"p{n:03d}", "metastatic": "2020-01-01"} for n in range(len(histories))]
    con = build(rows, patients=patients,
                params=RunParameters(regimen_window_days=window, max_gap_days=max_gap))
    for n, history in enumerate(histories):
        got = [(x["start_date"], frozenset(x["ingredients"].split(" + ")))
               for x in lines_of(con, f"p{n:03d}")]
        assert got == _expected(history, window, max_gap), f"patient p{n:03d}: {history}"


@settings(max_examples=20, deadline=None)
@given(
    starts=st.lists(st.integers(min_value=0, max_value=1500), min_size=1, max_size=30),
    gap_a=st.integers(min_value=1, max_value=300),
    gap_b=st.integers(min_value=1, max_value=300),
)
def test_one_regimen_has_one_line_per_gap_and_fewer_with_a_longer_max_gap(starts, gap_a, gap_b):
    """Same drugs throughout: lines = 1 + gaps longer than max_gap_days, so a longer
    max_gap_days never gives more lines."""
    rows = _rows("p1", [("Herceptin", s, None) for s in starts])
    days = sorted(set(starts))
    counts = {}
    for gap in sorted({gap_a, gap_b}):
        con = build(rows, params=RunParameters(max_gap_days=gap))
        got = lines_of(con)
        assert len(got) == 1 + sum(b - a > gap for a, b in zip(days, days[1:], strict=False))
        assert all(x["regimen"] == "Anything else" for x in got)  # trastuzumab alone
        counts[gap] = len(got)
    assert counts[min(counts)] >= counts[max(counts)]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2**31 - 1), st.integers(-50_000, 200_000),
                          st.integers(0, 127)), unique=True, max_size=60))
def test_runs_are_ordered_by_patient_day_and_ingredient_as_a_lexsort_would(rows):
    # one sort of a packed 64-bit key, or a lexsort when the days spread too wide to pack
    pid, day, ingredient = (np.array([r[i] for r in rows], dtype=np.int32) for i in range(3))
    order = core._order_by_patient_day_ingredient(pid, day, ingredient)
    assert order.tolist() == np.lexsort((ingredient, day, pid)).tolist()
