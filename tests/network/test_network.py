"""A registry split by site into 5 centres, each audited and shared on its own, merged by
`her2audit network`: the network tells what the single warehouse of the whole registry
tells, within what the centres' suppression of counts 1-10 allows."""

from __future__ import annotations

import duckdb
import pytest

from tests.network.conftest import NetworkCase

# Pooled survival is an actuarial estimate per month; the centres' life tables merge months
# until no interval holds 1-10 events or censorings, and the network spreads a merged
# interval evenly over its months. On this registry (centres of 200-400 patients) it stays
# within 0.02 (absolute survival probability) of the whole registry's Kaplan-Meier at every
# month's end up to 5 years; what the centres show adds up exactly (tested below).
SURVIVAL_TOLERANCE = 0.02
FIVE_YEARS = 5 * 365.25


def rows(db, query: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(query, params or []).fetchall()
    finally:
        con.close()


def single_measures(case: NetworkCase) -> dict[str, tuple[int, int]]:
    measures = {m: (num, den) for m, num, den in rows(
        case.single, "select indicator, numerator, denominator from audit.quality_indicators "
                     "where period = 'all' and site_id = 'all'")}
    measures.update({f"concordance_line_{line}": (num, den) for line, num, den in rows(
        case.single, "select line, n_concordant, n_evaluable from audit.concordance_by_line")})
    return measures


def test_every_patient_is_in_exactly_one_centre(network_case: NetworkCase) -> None:
    whole = rows(network_case.single, "select count(*) from audit.patients")[0][0]
    parts = sum(rows(db, "select count(*) from audit.patients")[0][0]
                for db in network_case.centres.values())
    assert parts == whole
    assert rows(network_case.network, "select count(*) from network.centres")[0][0] == 5


def test_network_totals_add_up_the_centres_shown_counts(network_case: NetworkCase) -> None:
    network = rows(network_case.network, """
        select measure, numerator, denominator, n_centres, n_centres_suppressed
        from network.indicators_by_centre where centre = 'network'""")
    centres = rows(network_case.network, """
        select measure, sum(numerator), sum(denominator), count(*)
        from network.indicators_by_centre
        where centre <> 'network' and numerator is not null and denominator is not null
        group by measure""")
    shown = {m: (num, den, k) for m, num, den, k in centres}
    for measure, num, den, k, suppressed in network:
        assert (num, den, k) == shown.get(measure, (None, None, 0)), measure
        assert k + suppressed == 5


def test_network_counts_equal_the_single_warehouse(network_case: NetworkCase) -> None:
    single = single_measures(network_case)
    network = rows(network_case.network, """
        select measure, numerator, denominator, rate, n_centres_suppressed
        from network.indicators_by_centre where centre = 'network'""")
    compared = set()
    for measure, num, den, rate, suppressed in network:
        if suppressed == 0:  # every centre shows its counts: the network adds up to all
            assert (num, den) == single[measure], measure
            assert rate == pytest.approx(single[measure][0] / single[measure][1])
            compared.add(measure)
    # the headline measures are shown by every centre, so they are compared
    assert {"line_concordance", "first_line_thp", "her2_blockade", "concordance_line_1",
            "second_line_preferred"} <= compared
    assert set(single) == {m for m, *_ in network}


def test_each_centre_is_placed_against_limits_around_the_network_rate(
        network_case: NetworkCase) -> None:
    for measure, centre, rate, network_rate, low, high, position in rows(
            network_case.network, """
            select measure, centre, rate, network_rate, lower_998, upper_998, funnel_position
            from network.indicators_by_centre
            where centre <> 'network' and rate is not null"""):
        # limits around the network rate (within one case of it: the limits of a rate
        # near 0 or 1 are interpolated between whole counts)
        assert low - 1 / 11 <= network_rate <= high + 1 / 11, (measure, centre)
        if rate > high:
            assert position == "above 99.8%"
        elif rate < low:
            assert position == "below 99.8%"
        else:
            assert position is not None and "99.8" not in position


@pytest.mark.parametrize(("endpoint", "grouping", "line_number", "group_value"),
                         [("os_from_metastatic", "overall", None, ""), ("os", "line", 1, ""),
                          ("os", "line_concordance", 1, "concordant")])
def test_pooled_survival_is_close_to_the_single_kaplan_meier(
        network_case: NetworkCase, endpoint: str, grouping: str, line_number,
        group_value: str) -> None:
    pooled = rows(network_case.network, """
        select coalesce(group_value, ''), time_days, survival from network.pooled_survival
        where endpoint = ? and grouping = ? and line_number is not distinct from ?
            and coalesce(group_value, '') = ?
        order by 1, 2""", [endpoint, grouping, line_number, group_value])
    curves = rows(network_case.single, """
        select coalesce(group_value, ''), time_days, survival from audit.survival_curves
        where endpoint = ? and grouping = ? and line_number is not distinct from ?
        order by 1, 2""", [endpoint, grouping, line_number])
    assert pooled, "no pooled curve"
    compared = 0
    for group, time, survival in pooled:
        if time > FIVE_YEARS:
            continue
        before = [s for g, t, s in curves if g == group and t <= time]
        assert survival == pytest.approx(before[-1], abs=SURVIVAL_TOLERANCE), (group, time)
        compared += 1
    assert compared >= 10


def test_pooled_life_tables_add_up_to_the_single_warehouse(network_case: NetworkCase) -> None:
    """Spreading the centres' intervals over months loses and adds nothing: the pooled
    months and the centres' open-ended last intervals hold exactly the whole registry's
    patients, events and censored times."""
    for endpoint, grouping, line_number in [("os_from_metastatic", "overall", None),
                                            ("os", "line", 1)]:
        key = [endpoint, grouping, line_number]
        (n, events), = rows(network_case.single, """
            select n, events from audit.survival_summary
            where endpoint = ? and grouping = ? and line_number is not distinct from ?""", key)
        (at_start, pooled_events, pooled_censored), = rows(network_case.network, """
            select max(n_at_risk) filter (where month = 0), sum(n_events), sum(n_censored)
            from network.pooled_life_tables
            where endpoint = ? and grouping = ? and line_number is not distinct from ?""", key)
        (open_events, open_censored), = rows(network_case.network, """
            select sum(n_events), sum(n_censored) from network.centre_survival_curves
            where endpoint = ? and grouping = ? and line_number is not distinct from ?
                and month_to is null""", key)
        assert at_start == n
        assert pooled_events + open_events == pytest.approx(events)
        assert pooled_events + open_events + pooled_censored + open_censored == pytest.approx(n)


def test_meta_analysed_first_line_hr_is_within_the_pooled_cox_interval(
        network_case: NetworkCase) -> None:
    for model in ("cox_unadjusted", "cox_adjusted"):
        (hr, k, i2, tau2), = rows(network_case.network, """
            select hazard_ratio, k_centres, i2, tau2 from network.meta_analysis
            where endpoint = 'os' and line_number = 1 and model = ?""", [model])
        (pooled_hr, lower, upper), = rows(network_case.single, """
            select hazard_ratio, hr_ci_lower, hr_ci_upper from audit.survival_comparisons
            where endpoint = 'os' and line_number = 1 and model = ?""", [model])
        shown = rows(network_case.network, """
            select count(*) from network.centre_survival_comparisons
            where endpoint = 'os' and line_number = 1 and model = ?
                and hazard_ratio is not null""", [model])[0][0]
        assert k == shown >= 3  # a centre's share hides a hazard ratio beside a hidden count
        assert lower <= hr <= upper, (model, hr, pooled_hr)
        assert 0 <= i2 <= 1 and tau2 >= 0


def test_every_network_table_and_column_is_described(network_case: NetworkCase) -> None:
    tables = rows(network_case.network, """
        select table_name, comment from duckdb_tables() where schema_name = 'network'""")
    assert len(tables) >= 10
    assert all(comment for _, comment in tables), tables
    missing = rows(network_case.network, """
        select table_name, column_name from duckdb_columns()
        where schema_name = 'network' and (comment is null or comment = '')""")
    assert missing == []


def test_the_report_is_one_offline_file(network_case: NetworkCase) -> None:
    html = (network_case.reports / "network.html").read_text()
    assert "centre_1" in html and "centre_5" in html
    assert "I²" in html and "τ²" in html
    assert "<script src=" not in html and '<link rel="stylesheet" href="http' not in html
    assert "Time grid: months of follow-up" in html
    forests = rows(network_case.network,
                   "select count(*) from network.meta_analysis where k_centres > 0")[0][0]
    assert forests >= 4
    assert html.count('data-figure="') == 1 + 3 + forests
