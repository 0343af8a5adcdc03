"""The share layer: aggregates that may leave the registry. No count from 1 to 10, none
that subtraction along a table's margins would give away, no patient identifier."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from her2audit import context, disclosure, pipeline, share_package, synth, warehouse
from her2audit.parameters import load_parameters
from her2audit.stages import account, share

SPECS = {spec.name: spec for spec in share.load_spec().tables}
IDENTIFYING = {"patient_id", "record_key", "record_id", "birth_date", "death_date",
               "diagnosis_date", "metastatic_date", "last_contact_date", "start_date"}


def hidden_cells(rows, out, spec):
    return {(i, c) for i, (a, b) in enumerate(zip(rows, out, strict=True)) for c in spec.counts
            if a.get(c) is not None and b.get(c) is None}


def assert_protected(rows, spec):
    """Suppress `rows` by `spec`; no shown count is 1–10 and no hidden 1–10 count (or
    unpublished remainder) is determined by the shown counts through the relations."""
    out = share.suppress(rows, spec)
    for row in out:
        for c in spec.counts:
            assert not disclosure.is_small(row.get(c)), (c, row)
    values, unpublished, relations = share.relations_of(rows, spec)
    hidden = hidden_cells(rows, out, spec)
    sensitive = {c for c in hidden | unpublished if disclosure.is_small(values.get(c))}
    assert not disclosure.determined(values, relations, hidden | unpublished) & sensitive
    return out


# ---- the rule, on hand-made tables ---------------------------------------------------

def qi(site, period, num, den, indicator="first_line_thp"):
    return {"indicator": indicator, "period": period, "site_id": site, "numerator": num,
            "denominator": den, "rate": num / den if den else None}


def test_a_small_count_is_hidden_with_a_complement_along_its_margin():
    rows = [qi("all", "all", 60, 100), qi("S1", "all", 5, 30), qi("S2", "all", 55, 70)]
    out = assert_protected(rows, SPECS["quality_indicators"])
    assert out[1]["numerator"] is None and out[1]["rate"] is None
    # S2's numerator would give S1's away (60 - 55): hidden too, the totals stay
    assert out[2]["numerator"] is None
    assert (out[0]["numerator"], out[0]["denominator"]) == (60, 100)



def test_a_count_given_away_through_farther_margins_is_hidden_too():
    # Every cell next to S2's 2022 denominator (1) is hidden or zero, yet the shown totals
    # give it away through a chain of margins: (all, 2022) - (S3, 2022) = (all, 2021) +
    # (all, 2022) - (S3, 2021) - (S3, 2022) = (16 - 13) - (13 - 11) = 1. A shown cell tied
    # to it through hidden cells is hidden as well. (Found by the generated tables below.)
    denominators = {("S1", "2023"): 1, ("S2", "2022"): 1, ("S2", "2023"): 1,
                    ("S3", "2021"): 1, ("S3", "2022"): 1, ("S3", "2023"): 11}
    rows = []
    for site in ("S1", "S2", "S3", "all"):
        for period in ("2021", "2022", "2023", "all"):
            rows.append(qi(site, period, 0, sum(
                d for (s, p), d in denominators.items()
                if site in ("all", s) and period in ("all", p))))
    out = assert_protected(rows, SPECS["quality_indicators"])
    shown = {(r["site_id"], r["period"]) for r in out if r["denominator"] is not None}
    assert ("S3", "2023") not in shown
    assert ("all", "all") in shown

def test_a_rate_whose_remainder_is_small_is_hidden():
    rows = [qi("all", "all", 95, 100)]  # 5 patients did not meet it: recoverable from the rate
    out = assert_protected(rows, SPECS["quality_indicators"])
    assert out[0]["rate"] is None
    assert None in (out[0]["numerator"], out[0]["denominator"])


def test_counts_recoverable_only_by_combining_equations_are_hidden():
    """n_concordant = n_evaluable - n_not_recommended combines two of the row's equations."""
    spec = SPECS["concordance"]
    row = {"line": "1", "line_order": 1, "site_id": "all", "year": "all", "n_patients": 40,
           "n_lines": 47, "n_preferred": 20, "n_alternative": 15, "n_not_recommended": 12,
           "n_trial": 0, "n_not_evaluable": 0, "n_evaluable": 47, "n_concordant": 35}
    out = assert_protected([row], spec)
    assert out[0] == {**row, "concordance_rate": 35 / 47}  # nothing small: all shown
    row = {**row, "n_alternative": 4, "n_concordant": 24, "n_evaluable": 36, "n_lines": 36}
    out = assert_protected([row], spec)
    assert out[0]["n_alternative"] is None
    assert out[0]["n_concordant"] is None or out[0]["n_preferred"] is None


def test_attrition_steps_are_a_chain():
    spec = SPECS["cohort_attrition"]
    rows = [{"step_order": 1, "step": "a", "n_patients": 500, "n_excluded": 0, "reason": "x"},
            {"step_order": 2, "step": "b", "n_patients": 496, "n_excluded": 4, "reason": "y"},
            {"step_order": 3, "step": "c", "n_patients": 300, "n_excluded": 196, "reason": "z"}]
    out = assert_protected(rows, spec)
    assert out[1]["n_excluded"] is None
    assert out[0]["n_patients"] is None or out[1]["n_patients"] is None


def test_life_tables_merge_months_until_no_small_count_is_left():
    months = [{"endpoint": "os", "grouping": "line", "group_label": "line 1",
               "line_number": 1, "group_value": None, "month": m, "n_events": e,
               "n_censored": c} for m, (e, c) in enumerate(
                   [(3, 0), (9, 1), (12, 0), (2, 11), (20, 0), (1, 30)])]
    n = sum(m["n_events"] + m["n_censored"] for m in months)
    rows = share.life_tables(months, {("os", "line", 1, None): n})
    # months 0-3 hold 26 events and 12 censorings; month 4 alone would leave 1 event after
    # it, so months 4-5 make the last, open-ended interval
    assert [(r["month_from"], r["month_to"], r["n_events"], r["n_censored"]) for r in rows] == [
        (0, 4, 26, 12), (4, None, 21, 30)]
    for r in rows:
        for c in ("n_at_risk", "n_events", "n_censored"):
            assert not disclosure.is_small(r[c])
    assert rows[0]["n_at_risk"] == n
    assert rows[-1]["n_at_risk"] == rows[-1]["n_events"] + rows[-1]["n_censored"]
    assert rows[-1]["survival"] == pytest.approx((1 - 26 / n) * (1 - 21 / (n - 38)))
    # a group whose total events are small has no curve at all
    assert share.life_tables(months[:1], {("os", "line", 1, None): 3}) == []


# ---- the rule, on generated tables ----------------------------------------------------

counts = st.integers(min_value=0, max_value=40)


@st.composite
def indicator_tables(draw):
    sites = draw(st.lists(st.sampled_from(["S1", "S2", "S3", "S4"]), min_size=1, max_size=4,
                          unique=True))
    periods = draw(st.lists(st.sampled_from(["2021", "2022", "2023"]), min_size=1,
                            max_size=3, unique=True))
    cells = {}
    for s in sites:
        for p in periods:
            den = draw(counts)
            cells[(s, p)] = (draw(st.integers(0, den)), den)
    rows = []
    for s in [*sites, "all"]:
        for p in [*periods, "all"]:
            parts = [v for (cs, cp), v in cells.items()
                     if s in ("all", cs) and p in ("all", cp)]
            rows.append(qi(s, p, sum(n for n, _ in parts), sum(d for _, d in parts)))
    return rows


@settings(max_examples=150, deadline=None)
@given(indicator_tables())
def test_generated_indicator_tables_are_protected(rows):
    assert_protected(rows, SPECS["quality_indicators"])


@st.composite
def summaries(draw):
    rows = []
    for endpoint in ("os", "ttnt"):
        for line in (1, 2):
            groups = {g: (draw(counts), 0) for g in ("concordant", "not_concordant")}
            groups = {g: (n, draw(st.integers(0, n))) for g, (n, _) in groups.items()}
            total = tuple(sum(v[i] for v in groups.values()) for i in (0, 1))
            rows.append({"endpoint": endpoint, "grouping": "line", "line_number": line,
                         "group_value": None, "n": total[0], "events": total[1],
                         "median_days": 300.0})
            rows += [{"endpoint": endpoint, "grouping": "line_concordance", "line_number": line,
                      "group_value": g, "n": n, "events": e, "median_days": 200.0}
                     for g, (n, e) in groups.items()]
    return rows


@settings(max_examples=150, deadline=None)
@given(summaries())
def test_generated_survival_summaries_are_protected(rows):
    out = assert_protected(rows, SPECS["survival_summary"])
    for row in out:
        if row["n"] is None or row["events"] is None:
            assert row["median_days"] is None


# ---- the share stage on generated registries -----------------------------------------

STAGES_BEFORE_SHARE = ["extract", "cohort", "lines", "concordance", "outcomes", "marts"]


@settings(max_examples=3, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(patients=st.integers(20, 120), seed=st.integers(0, 10_000))
def test_no_share_table_of_a_generated_registry_holds_a_patient_id_or_a_small_count(
        tmp_path_factory, patients, seed):
    folder = tmp_path_factory.mktemp("registry")
    synth.write_registry(folder, patients=patients, seed=seed, progress=lambda m: None)
    db = folder / "w.duckdb"
    pipeline.run_pipeline(db, str(folder), load_parameters(), None, stages=STAGES_BEFORE_SHARE,
                          progress=lambda m: None)
    con = warehouse.connect(db)
    try:
        ctx = context.context_from_warehouse(con, None, lambda m: None)
        ctx.set_sql_variables()
        account.record_row_dispositions(con)
        for spec in SPECS.values():  # each table's own cells, protected exactly
            if all(warehouse.has_table(con, r) for r in spec.requires):
                warehouse.run_sql_file(con, share.SQL_DIR / share.SQL_STAGE / spec.cells)
                cells = con.sql(f"select * from staging.share_{spec.name}_cells")
                assert_protected(cells.to_arrow_table().to_pylist(), spec)
        tables = share.build(ctx)
        assert {"run", "quality_indicators", "survival_summary"} <= set(tables)
        count_columns = share_package.count_columns()
        for table in tables:
            columns = warehouse.column_names(con, f"share.{table}")
            assert not IDENTIFYING & set(columns), table
            for column in count_columns.get(table, []):
                small = con.execute(f"select count(*) from share.{table} "
                                    f"where {column} between 1 and 10").fetchone()[0]
                assert small == 0, (table, column)
    finally:
        con.close()


def test_the_share_spec_names_real_sql_files_and_columns():
    folder = Path(share.SQL_DIR) / share.SQL_STAGE
    for spec in SPECS.values():
        assert (folder / spec.cells).is_file()
        assert spec.split is None or (folder / spec.split).is_file()
        named = {c for eq in spec.equations for c in eq if c != share.REST}
        named |= {c for on in spec.hide_with.values() for c in on}
        assert named <= set(spec.counts), spec.name
