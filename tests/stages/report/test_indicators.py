"""The report's quality indicators: a site's figures beside all sites'."""

from __future__ import annotations

from her2audit.stages.report import indicators

from .conftest import memory_source


def _source(rows: list[tuple]):
    return memory_source(
        "quality_indicators", "indicator varchar, site_id varchar, period varchar, "
        "numerator bigint, denominator bigint, rate double",
        [(*r, r[3] / r[4] if r[4] else None) for r in rows])


def test_with_two_sites_one_sites_figures_do_not_give_the_others_away():
    # all sites 23 of 40; S01 20 of 35; S02 3 of 5: S02's figures would be all sites' less
    # S01's, so S01's own report hides them too
    src = _source([("first_line_thp", "all", "all", 23, 40),
                   ("first_line_thp", "S01", "all", 20, 35),
                   ("first_line_thp", "S02", "all", 3, 5)])
    card, = indicators.prepare(src, site="S01")["cards"]
    assert card["num"] == "23" and card["den"] == "40"  # all sites, as in the main report
    assert card["site_rate"] == "–"
    assert card["site_num"] in ("*", "<11") and card["site_den"] in ("*", "<11")


def test_with_many_sites_a_site_keeps_its_figures():
    src = _source([("first_line_thp", "all", "all", 90, 140),
                   ("first_line_thp", "S01", "all", 20, 35),
                   ("first_line_thp", "S02", "all", 30, 45),
                   ("first_line_thp", "S03", "all", 40, 60)])
    card, = indicators.prepare(src, site="S01")["cards"]
    assert (card["site_num"], card["site_den"], card["site_rate"]) == ("20", "35", "57.1%")
