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
import importlib.util
import math
from pathlib import Path

import duckdb
import pytest

from her2audit import pipeline
from her2audit.outcomes import run
from her2audit.parameters import RunParameters
from tests.outcomes.fixtures import build_warehouse, context, exponential_registry

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
MIN_EVENTS = 150


def _truth(folder: Path) -> list[dict[str, str]]:
    with open(folder / "truth" / "outcome_parameters.csv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
@pytest.mark.skipif(not _synthetic_pipeline_ready(),
                    reason="needs her2audit.synth and the cohort, lines, concordance stages")
def test_synthetic_registry_medians(tmp_path: Path):
    """The generator draws, per regimen group, overall survival from metastatic diagnosis
    (Weibull, by the first line's group) and time on treatment per line (Weibull), with
    the trial medians in DIR/truth/outcome_parameters.csv.

    Tolerances, and why:
    - OS from metastatic diagnosis (`os_from_metastatic` by `first_line_regimen_group`):
      within 10% + 3 standard errors. The 10% covers what the generator adds on top of
      the trial median: CNS disease at diagnosis (10%) shortens the median by 25%,
      and unrecorded deaths (3%) are censored at the cut-off as SPEC §7 prescribes.
    - Time to treatment discontinuation (`ttd` by line and regimen group): within 25% +
      3 standard errors. Death ends a course (SPEC: a line ended by death is a ttd event),
      loss to follow-up clips courses and drug holidays lengthen lines, so the observed
      median is the trial median of the drug course shortened by the competing death
      (about 15% in line 1 where OS is three times longer, more in later lines).
    Only groups with at least 150 events are checked ("main regimens"): the standard
    error of a median is about median / (ln 2 · √events) for these shapes, 12% at 150.
    """
    from her2audit.synth import write_registry

    registry = tmp_path / "registry"
    write_registry(registry, SYNTH_PATIENTS, 20260101, "csv", None)
    db = tmp_path / "wh.duckdb"
    stages = [s.name for s in pipeline.STAGES]
    stages = stages[: stages.index("outcomes") + 1]
    pipeline.run_pipeline(db, str(registry), RunParameters(), None, stages=stages,
                          progress=lambda _: None)
    con = duckdb.connect(str(db), read_only=True)
    summary = {
        (endpoint, grouping, line, value): (events, median)
        for endpoint, grouping, line, value, events, median in con.sql(
            "select endpoint, grouping, line_number, group_value, events, median_days "
            "from build.survival_summary"
        ).fetchall()
    }
    con.close()
    checked = []
    for row in _truth(registry):
        truth = float(row["median_days"])
        if row["endpoint"] == "os":
            key = ("os_from_metastatic", "first_line_regimen_group", None, row["regimen_group"])
            allowance = 0.10
        elif row["endpoint"] == "ttd":
            key = ("ttd", "line_regimen_group", int(row["line_number"]), row["regimen_group"])
            allowance = 0.25
        else:
            continue
        events, median = summary.get(key, (0, None))
        if events < MIN_EVENTS or median is None:
            continue
        se = truth / (math.log(2) * math.sqrt(events))
        assert abs(median - truth) <= allowance * truth + 3 * se, (key, median, truth, events)
        checked.append(key)
    # the main regimens are there: THP first-line OS and ttd, T-DXd or T-DM1 later
    assert any(k[0] == "os_from_metastatic" for k in checked)
    assert ("ttd", "line_regimen_group", 1, "taxane_trastuzumab_pertuzumab") in checked
    assert len(checked) >= 5, checked
