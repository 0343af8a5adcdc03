"""Estimated medians against known true parameters.

1. A simulated cohort (tests/outcomes/fixtures.py: exponential first-line time to next
   treatment with a known median per regimen group, administrative censoring only):
   the Kaplan–Meier median must land within 4 standard errors of the true median. For an
   exponential time the large-sample standard error of the median is about
   median / (ln 2 · √events) (delta method, Var ≈ 1 / (4 d f(m)²) with f(m) = ln 2 / (2m));
   4 SE makes a false alarm practically impossible (p < 1e-4) while a systematic error of
   a censoring rule (e.g. censored times counted as events, or the next line's start
   ignored) moves the median by far more.
2. The synthetic registry of `her2audit synth` through the whole pipeline (slow; needs
   the synth, lines and concordance stages): see test_synthetic_registry_medians.
"""

from __future__ import annotations

import csv
import datetime as dt
import importlib.util
import math
from pathlib import Path

import duckdb
import pytest

from her2audit import pipeline
from her2audit.parameters import RunParameters
from her2audit.stages.outcomes import km, run
from tests.stages.outcomes.fixtures import build_warehouse, context, exponential_registry

TRUE_MEDIANS = {"taxane_trastuzumab_pertuzumab": 560.0, "trastuzumab_emtansine": 290.0,
                "trastuzumab_chemotherapy": 380.0}


def within(estimate: float, truth: float, events: int, n_se: float) -> bool:
    se = truth / (math.log(2) * math.sqrt(events))
    return abs(estimate - truth) <= n_se * se


def test_simulated_ttnt_medians_match_the_true_medians():
    con = duckdb.connect()
    build_warehouse(con, *exponential_registry(4000, TRUE_MEDIANS, seed=11), "2023-12-31")
    run(context(con))
    rows = con.sql(
        "select group_value, n, events, median_days, median_ci_lower_days, "
        "median_ci_upper_days from build.survival_summary "
        "where endpoint = 'ttnt' and grouping = 'line_regimen_group' and line_number = 1"
    ).fetchall()
    assert {r[0] for r in rows} == set(TRUE_MEDIANS)
    for group, n, events, median, lower, upper in rows:
        truth = TRUE_MEDIANS[group]
        assert n > 1200 and events > 900
        assert within(median, truth, events, 4), (group, median, truth)
        assert lower <= median <= upper
    con.close()


def _synthetic_pipeline_ready() -> bool:
    names = {s.name for s in pipeline.STAGES}
    return (importlib.util.find_spec("her2audit.synth") is not None
            and {"cohort", "lines", "concordance", "outcomes"} <= names)


SYNTH_PATIENTS = 20_000
SYNTH_SEED = 20260101
# the generator's extract date (her2audit.synth.model.DATA_CUTOFF); pinned because the
# default cut-off, the latest date anywhere in the registry, is pushed past it by a few
# stray later dates in the synthetic data (see the final report of the outcomes branch)
SYNTH_CUTOFF = dt.date(2026, 6, 30)
MIN_EVENTS = 150
MAIN_OS = ["taxane_trastuzumab_pertuzumab", "trastuzumab_emtansine", "chemotherapy_only",
           "lapatinib_capecitabine"]
MAIN_TTD = [(1, "taxane_trastuzumab_pertuzumab"), (1, "trastuzumab_emtansine"),
            (2, "trastuzumab_deruxtecan"), (2, "trastuzumab_emtansine"),
            (2, "tucatinib_trastuzumab_capecitabine"), (3, "trastuzumab_deruxtecan"),
            (3, "tucatinib_trastuzumab_capecitabine"), (2, "lapatinib_capecitabine")]


def _truth(folder: Path) -> dict[tuple[str, int, str], float]:
    with open(folder / "truth" / "outcome_parameters.csv", newline="", encoding="utf-8") as f:
        return {(r["endpoint"], int(r["line_number"]), r["regimen_group"]): float(r["median_days"])
                for r in csv.DictReader(f)}


def _se(truth: float, events: int) -> float:
    return truth / (math.log(2) * math.sqrt(events))


@pytest.mark.slow
@pytest.mark.skipif(not _synthetic_pipeline_ready(),
                    reason="needs her2audit.synth and the cohort, lines, concordance stages")
def test_synthetic_registry_medians(tmp_path: Path):
    """The generator draws overall survival from metastatic diagnosis by the first line's
    regimen group, and the length of each drug course by line and regimen (Weibull), with
    the trial medians in DIR/truth/outcome_parameters.csv. Checked for the main regimens,
    where a group has at least 150 events (the standard error of a median is then about
    median / (ln 2 · √events) ≤ 12%):

    - OS from metastatic diagnosis (`os_from_metastatic` × `first_line_regimen_group`):
      within 10% + 3 SE. The 10% is what the generator adds to the trial median: CNS
      disease at diagnosis (10% of patients) shortens it by a quarter, and unrecorded
      deaths (3%) are censored at the cut-off as SPEC §7 prescribes.
    - Time to discontinuation as published (`ttd` × `line_regimen_group`): a line ended
      by death is a discontinuation (SPEC §7), so the observed median is the course
      median shortened by the competing death: at most truth + 3 SE and at least half the
      truth.
    - The same lines with death-ended lines censored instead (the drug course itself, as
      the generator draws it), from `line_outcomes` and `lines_of_therapy`: within 10% +
      3 SE (loss to follow-up clipping a course and drug holidays lengthening a line).
    """
    from her2audit.synth import write_registry

    registry = tmp_path / "registry"
    write_registry(registry, SYNTH_PATIENTS, SYNTH_SEED, "csv", None)
    truth = _truth(registry)
    db = tmp_path / "wh.duckdb"
    stages = [s.name for s in pipeline.STAGES]
    stages = stages[: stages.index("outcomes") + 1]
    pipeline.run_pipeline(db, str(registry), RunParameters(data_cutoff=SYNTH_CUTOFF), None,
                          stages=stages, progress=lambda _: None)
    con = duckdb.connect(str(db), read_only=True)
    summary = {
        (endpoint, grouping, line, value): (events, median)
        for endpoint, grouping, line, value, events, median in con.sql(
            "select endpoint, grouping, line_number, group_value, events, median_days "
            "from build.survival_summary"
        ).fetchall()
    }
    checked = []
    for group in MAIN_OS:
        events, median = summary[("os_from_metastatic", "first_line_regimen_group", None, group)]
        if events < MIN_EVENTS:
            continue
        expected = truth[("os", 1, group)]
        assert abs(median - expected) <= 0.10 * expected + 3 * _se(expected, events), (
            group, median, expected, events)
        checked.append(("os", group))
    for line_number, group in MAIN_TTD:
        events, median = summary[("ttd", "line_regimen_group", line_number, group)]
        if events < MIN_EVENTS:
            continue
        expected = truth[("ttd", line_number, group)]
        assert 0.5 * expected <= median <= expected + 3 * _se(expected, events), (
            line_number, group, median, expected)
        durations = con.execute(
            "select o.ttd_days, o.ttd_event and l.end_reason <> 'death' "
            "from build.line_outcomes as o inner join build.lines_of_therapy as l "
            "using (patient_id, line_number) where l.line_number = ? and l.regimen_group = ?",
            [line_number, group],
        ).fetchnumpy()
        days, course_ended = durations.values()
        course = km.fit_durations(days, course_ended)
        course_events = int(course_ended.sum())
        assert abs(course.median_days - expected) <= (
            0.10 * expected + 3 * _se(expected, course_events)
        ), (line_number, group, course.median_days, expected, course_events)
        checked.append(("ttd", line_number, group))
    con.close()
    assert ("os", "taxane_trastuzumab_pertuzumab") in checked
    assert ("ttd", 1, "taxane_trastuzumab_pertuzumab") in checked
    assert len(checked) >= 8, checked
