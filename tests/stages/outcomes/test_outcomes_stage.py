"""The outcomes stage on a hand-built warehouse: groupings, small groups, comparisons."""

from __future__ import annotations

import datetime as dt
import os

import duckdb
import pytest
from lifelines.exceptions import ConvergenceError

from her2audit.stages.outcomes import compare, run
from her2audit.stages.outcomes.stage import load_settings
from tests.stages.outcomes.fixtures import build_warehouse, concordance, context, line, patient

CUTOFF = "2024-12-31"


def iso(d: dt.date) -> str:
    return d.isoformat()


def make_cohort():
    """30 patients with a first line (15 concordant THP, 15 not concordant: other),
    4 not concordant patients without events; 8 go on to a concordant T-DXd second line
    (too small a group); site_b holds 5 patients. Plus 12 alive patients at site_c on an
    ongoing concordant her2_endocrine first line (no events at all)."""
    patients, lines, conc = [], [], []
    base = dt.date(2019, 1, 1)
    for i in range(30):
        pid = f"P{i:02d}"
        concordant = i % 2 == 0
        start = base + dt.timedelta(days=10 * i)
        ttnt = 100 + 37 * i
        eventless = not concordant and i % 3 == 0
        next_start = start + dt.timedelta(days=ttnt)
        has_next = i < 8
        death = None if eventless or has_next else next_start + dt.timedelta(days=50)
        patients.append(patient(
            pid, iso(start), site_id="site_b" if i >= 25 else "site_a",
            death_date=iso(death) if death else None,
            last_known_alive_date=iso(death) if death else None,
            birth_date=iso(dt.date(1950 + i % 20, 1, 1)), de_novo=i % 4 == 0,
        ))
        end_reason = "next_line" if has_next else ("ongoing" if eventless else "death")
        end = (next_start - dt.timedelta(days=1)) if has_next else (
            death if death else dt.date(2024, 12, 1))
        lines.append(line(pid, 1, iso(start), iso(end), end_reason,
                          "taxane_trastuzumab_pertuzumab" if concordant else "other"))
        conc.append(concordance(pid, 1, "preferred" if concordant else "not_recommended",
                                cns=i % 5 == 0))
        if has_next:
            lines.append(line(pid, 2, iso(next_start), iso(next_start + dt.timedelta(days=90)),
                              "ongoing", "trastuzumab_deruxtecan"))
            conc.append(concordance(pid, 2, "preferred"))
    for i in range(12):  # 12 alive patients on an ongoing first line: a group without events
        pid = f"Q{i:02d}"
        start = dt.date(2023, 1, 1) + dt.timedelta(days=7 * i)
        patients.append(patient(pid, iso(start), site_id="site_c"))
        lines.append(line(pid, 1, iso(start), "2024-12-01", "ongoing", "her2_endocrine"))
        conc.append(concordance(pid, 1, "alternative", cns=i % 5 == 0))
    return patients, lines, conc


@pytest.fixture(scope="module")
def con():
    con = duckdb.connect()
    build_warehouse(con, *make_cohort(), CUTOFF)
    run(context(con))
    yield con
    con.close()


def summary(con, **where):
    clause = " and ".join(f"{k} = ?" for k in where) or "true"
    rel = con.execute(
        f"select * from build.survival_summary where {clause} order by all", list(where.values())
    )
    cols = [d[0] for d in rel.description]
    return [dict(zip(cols, r, strict=True)) for r in rel.fetchall()]


def test_every_grouping_is_present(con):
    rows = con.sql(
        "select endpoint, grouping, count(*) from build.survival_summary group by all order by all"
    ).fetchall()
    got = {(e, g) for e, g, _ in rows}
    for endpoint in ("os", "ttnt", "ttd"):
        for grouping in ("line", "line_regimen_group", "line_concordance", "line_category",
                         "site"):
            assert (endpoint, grouping) in got
    assert ("os_from_metastatic", "overall") in got
    assert ("os_from_metastatic", "site") in got
    assert ("os_from_metastatic", "first_line_regimen_group") in got


def test_groups_count_patients_and_events(con):
    (line1,) = summary(con, endpoint="os", grouping="line", line_number=1)
    # deaths: patients 8..29 without a second line, except the 4 eventless ones (9, 15, 21, 27)
    assert (line1["n"], line1["events"], line1["group_label"]) == (42, 18, "line 1")
    conc = {r["group_value"]: r for r in summary(con, endpoint="os", grouping="line_concordance",
                                                 line_number=1)}
    assert conc["concordant"]["n"] == 27 and conc["not_concordant"]["n"] == 15
    assert conc["concordant"]["group_label"] == "line 1 · concordant"
    (overall,) = summary(con, endpoint="os_from_metastatic", grouping="overall")
    assert (overall["n"], overall["group_label"], overall["line_number"]) == (42, "all patients",
                                                                             None)


def test_small_groups_are_marked_not_dropped(con):
    (line2,) = summary(con, endpoint="ttnt", grouping="line", line_number=2)
    assert (line2["n"], line2["status"], line2["median_days"]) == (8, "too_small", None)
    assert "fewer than 11" in line2["note"]
    site_b = [r for r in summary(con, endpoint="os_from_metastatic", grouping="site")
              if r["group_value"] == "site_b"]
    assert site_b[0]["status"] == "too_small"
    # no curve for a too-small group, a curve for every other group
    curves = con.sql(
        "select distinct endpoint, grouping, group_label from build.survival_curves"
    ).fetchall()
    marked = con.sql(
        "select endpoint, grouping, group_label from build.survival_summary "
        "where status <> 'too_small'"
    ).fetchall()
    assert sorted(curves) == sorted(marked)


def test_group_without_events(con):
    for endpoint in ("os", "ttnt", "ttd"):
        (row,) = [r for r in summary(con, endpoint=endpoint, grouping="line_regimen_group",
                                     line_number=1) if r["group_value"] == "her2_endocrine"]
        assert (row["n"], row["events"], row["status"]) == (12, 0, "no_events")
        assert row["median_days"] is None and row["median_ci_lower_days"] is None
    (site_c,) = [r for r in summary(con, endpoint="os_from_metastatic", grouping="site")
                 if r["group_value"] == "site_c"]
    assert site_c["status"] == "no_events"
    curve = con.sql(
        "select list(distinct survival), sum(n_censored) from build.survival_curves "
        "where endpoint = 'os_from_metastatic' and grouping = 'site' and group_value = 'site_c'"
    ).fetchall()
    assert curve == [([1.0], 12)]


def test_curves_start_at_one_and_never_increase(con):
    rows = con.sql(
        "select endpoint, grouping, group_label, list(survival order by time_days), "
        "list(n_at_risk order by time_days), min(time_days) "
        "from build.survival_curves group by all"
    ).fetchall()
    assert rows
    for *_, surv, at_risk, first in rows:
        assert first == 0 and surv[0] == 1.0
        assert all(a >= b for a, b in zip(surv, surv[1:], strict=False))
        assert all(a >= b for a, b in zip(at_risk, at_risk[1:], strict=False))


def comparisons(con):
    rel = con.sql("select * from build.survival_comparisons order by all")
    return [dict(zip(rel.columns, r, strict=True)) for r in rel.fetchall()]


def test_comparisons_at_lines_one_to_three_for_each_endpoint(con):
    rows = comparisons(con)
    # a log-rank test for os, ttnt and ttd; Cox models for os and ttnt; lines 1-3
    assert len(rows) == 3 * (3 + 2 + 2)
    assert {r["model"] for r in rows if r["endpoint"] == "ttd"} == {"log_rank"}
    caveat = load_settings().caveat
    assert all(r["caveat"] == caveat and "not a causal effect" in r["caveat"] for r in rows)
    line1 = {(r["endpoint"], r["model"]): r for r in rows if r["line_number"] == 1}
    lr = line1[("os", "log_rank")]
    assert lr["status"] == "estimated" and 0 <= lr["p_value"] <= 1
    assert (lr["n"], lr["n_concordant"], lr["n_not_concordant"]) == (42, 27, 15)
    for model in ("cox_unadjusted", "cox_adjusted"):
        r = line1[("os", model)]
        assert r["hr_ci_lower"] < r["hazard_ratio"] < r["hr_ci_upper"]
    assert line1[("os", "cox_unadjusted")]["status"] == "estimated"
    adjusted = line1[("os", "cox_adjusted")]
    # the eventless site_c patients all started in 2023: lifelines warns of separation on
    # start_year; the row is kept, marked, and the warning is in the note
    assert adjusted["status"] == "convergence_warning"
    assert "start_year" in adjusted["note"]
    # hr_positive is True for everyone in the fixture: left out and said so
    assert adjusted["covariates"] == "concordant, age_at_line_start, cns, de_novo, start_year"
    assert "hr_positive constant" in adjusted["note"]


def test_degenerate_comparisons_are_marked(con):
    rows = {(r["endpoint"], r["line_number"], r["model"]): r for r in comparisons(con)}
    # line 2: every line concordant
    assert rows[("os", 2, "log_rank")]["status"] == "one_group_empty"
    assert rows[("os", 2, "cox_adjusted")]["hazard_ratio"] is None
    # line 3: no lines at all
    assert rows[("ttnt", 3, "cox_unadjusted")]["status"] == "too_small"
    assert rows[("ttnt", 3, "cox_unadjusted")]["note"] == "no lines"


def test_no_events_in_one_group_and_lifelines_failures_do_not_crash(monkeypatch):
    import pandas as pd

    n = 24
    lines = pd.DataFrame({
        "line_number": 1,
        "concordance": ["concordant"] * 12 + ["not_concordant"] * 12,
        "os_days": list(range(10, 10 + n)),
        "os_event": [False] * 12 + [True] * 12,
        "age_at_line_start": [50.0 + i for i in range(n)],
    })
    table = compare.compare_concordance(lines, ["os"], [1], ["age_at_line_start"], "c", 11)
    rows = {r["model"]: r for r in table.to_pylist()}
    assert rows["log_rank"]["status"] == "estimated"
    assert rows["cox_unadjusted"]["status"] == "no_events"
    assert "one group" in rows["cox_unadjusted"]["note"]

    lines["os_event"] = [i % 2 == 0 for i in range(n)]

    def boom(self, *args, **kwargs):
        raise ConvergenceError("Convergence halted due to matrix inversion problems.")

    monkeypatch.setattr(compare.CoxPHFitter, "fit", boom)
    table = compare.compare_concordance(lines, ["os"], [1], ["age_at_line_start"], "c", 11)
    rows = {r["model"]: r for r in table.to_pylist()}
    assert rows["log_rank"]["status"] == "estimated"
    assert rows["cox_adjusted"]["status"] == "failed"
    assert "ConvergenceError" in rows["cox_adjusted"]["note"]
    assert rows["cox_adjusted"]["hazard_ratio"] is None


def test_stage_skips_when_upstream_tables_are_missing():
    con = duckdb.connect()
    for schema in ("staging", "build"):
        con.execute(f"create schema {schema}")
    messages: list[str] = []
    ctx = context(con)
    ctx.progress = messages.append
    run(ctx)
    assert "outcomes skipped" in messages[0] and "build.lines_of_therapy" in messages[0]
    assert con.sql("select count(*) from information_schema.tables "
                   "where table_schema = 'build'").fetchall() == [(0,)]


def _first_lines(n: int = 40, ages_missing: int = 0):
    """`n` first lines alternately concordant, with overall survival and an age (the first
    `ages_missing` ages unknown), as compare.compare_concordance takes them."""
    import pandas as pd

    return pd.DataFrame({
        "line_number": 1,
        "concordance": ["concordant" if i % 2 else "not_concordant" for i in range(n)],
        "os_days": [30 + 7 * i for i in range(n)],
        "os_event": [i % 3 != 0 for i in range(n)],
        "age_at_line_start": [None if i < ages_missing else 40.0 + (i * 7) % 30
                              for i in range(n)],
    })


def test_adjusted_model_uses_complete_cases_and_says_so():
    lines = _first_lines(ages_missing=5)
    table = compare.compare_concordance(lines, ["os"], [1], ["age_at_line_start"], "c", 11)
    rows = {r["model"]: r for r in table.to_pylist()}
    assert rows["cox_unadjusted"]["n"] == 40
    adjusted = rows["cox_adjusted"]
    assert adjusted["n"] == 35 and adjusted["status"] == "estimated"
    assert "5 lines with a missing covariate left out" in adjusted["note"]
    assert adjusted["covariates"] == "concordant, age_at_line_start"


def test_moving_censored_times_to_the_last_event_time_leaves_the_cox_fit_unchanged():
    import numpy as np
    import pandas as pd
    from lifelines import CoxPHFitter

    days = np.array([5, 7, 7, 9, 12, 12, 15, 20, 3, 30], dtype=float)
    event = np.array([0, 1, 0, 1, 1, 0, 0, 1, 0, 0], dtype=float)
    moved = compare.censored_at_last_event_time(days, event)
    # censored 5 -> 0 (before any event), 7 -> 7 (tied with an event), 12 -> 12,
    # 15 -> 12, 3 -> 0, 30 -> 20; events keep their times
    assert moved.tolist() == [0, 7, 7, 9, 12, 12, 12, 20, 0, 20]

    rng = np.random.default_rng(5)
    n = 400
    frame = pd.DataFrame({
        "days": rng.integers(1, 400, n).astype(float),
        "event": (rng.random(n) < 0.6).astype(float),
        "concordant": (rng.random(n) < 0.5).astype(float),
        "age": rng.normal(60, 10, n),
    })
    frame.loc[frame["concordant"] == 1, "days"] *= 1.3
    plain = CoxPHFitter().fit(frame, "days", "event").summary
    ours = compare.cox(frame, ["age"], 0.05)
    assert ours["hazard_ratio"] == pytest.approx(plain.loc["concordant", "exp(coef)"], rel=1e-9)
    assert ours["hr_ci_lower"] == pytest.approx(plain.loc["concordant", "exp(coef) lower 95%"],
                                                rel=1e-9)
    assert ours["p_value"] == pytest.approx(plain.loc["concordant", "p"], rel=1e-6)


def test_empty_cohort_gives_empty_tables_and_marked_comparisons():
    con = duckdb.connect()
    build_warehouse(con, [], [], [], CUTOFF)
    run(context(con))
    for table in ("line_outcomes", "survival_summary", "survival_curves"):
        assert con.sql(f"select count(*) from build.{table}").fetchall() == [(0,)]
    statuses = con.sql(
        "select distinct status, note from build.survival_comparisons"
    ).fetchall()
    assert statuses == [("too_small", "no lines")]
    assert "os_days" in [r[0] for r in con.sql("describe build.patients").fetchall()]


def test_fits_spread_over_worker_processes_give_the_same_tables(con):
    """The fitting process forks two workers that take the tasks longest first; the tables
    put back together are those of one process, to the bit, and the stage process's
    environment is left as it was (the one-BLAS-thread setting is for the workers)."""
    from her2audit.stages.outcomes import stage

    settings = load_settings()
    groups, observations = stage.survival_inputs(con)
    lines = stage.comparison_lines(con, settings)
    follow_up = stage.follow_up_input(con)
    alone = stage.estimate_and_compare(groups, observations, lines, follow_up, settings, 1)
    environment = dict(os.environ)
    with stage.fitting_process(2) as fitter:
        assert fitter is not None
        assert fitter.submit(os.getenv, "OPENBLAS_NUM_THREADS").result() == (
            environment.get("OPENBLAS_NUM_THREADS", "1"))
        spread = fitter.submit(stage.estimate_and_compare, groups, observations, lines,
                               follow_up, settings, 2).result()
    assert dict(os.environ) == environment
    assert [t.num_rows for t in alone] == [t.num_rows for t in spread]
    assert alone[2].num_rows == 21  # 3 endpoints x 3 lines; os and ttnt with 2 Cox models
    for one, many in zip(alone, spread, strict=True):
        assert one.equals(many)


def test_one_comparison_at_a_time_from_arrow_gives_the_rows_of_all_at_once():
    """The stage hands each model to a task of its own, as Arrow, the covariates only to
    the adjusted model: the rows are those of one call over pandas."""
    import pyarrow as pa

    lines = _first_lines()
    whole = compare.compare_concordance(lines, ["os"], [1], ["age_at_line_start"], "c", 11)
    parts = []
    for model in compare.models_of("os", ["os"]):
        covariates = ["age_at_line_start"] if model == compare.COX_ADJUSTED else []
        parts.append(compare.compare_concordance(
            pa.Table.from_pandas(lines, preserve_index=False), ["os"], [1], covariates, "c",
            11, models=(model,)))
    assert [p.num_rows for p in parts] == [1, 1, 1]
    assert pa.concat_tables(parts).equals(whole)
    assert compare.models_of("ttd", ["os", "ttnt"]) == (compare.LOG_RANK,)


def test_median_follow_up_for_the_cohort_and_each_site(con):
    """One row for the whole cohort ('all') and one per site, counting every patient; site_c
    (12 alive, none died) has a median, as does the cohort."""
    rows = {r[0]: r[1:] for r in con.sql(
        "select site_id, n, deaths, median_days from build.median_follow_up").fetchall()}
    patients = dict(con.sql(
        "select coalesce(site_id, 'all'), count(*) from build.patients "
        "group by grouping sets ((site_id), ()) ").fetchall())
    assert {site: n for site, (n, _, _) in rows.items()} == patients
    assert rows["site_c"][1] == 0 and rows["site_c"][2] is not None
    assert rows["all"][1] == con.sql(
        "select count(*) from build.patients where os_event").fetchall()[0][0]
