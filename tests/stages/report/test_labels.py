"""Words and colours come from data: every regimen group of the catalog (new ones
included) and every indicator has its words, verdicts keep their colours everywhere, and a
name nobody described still reads as words."""

from __future__ import annotations

from her2audit.stages import lines
from her2audit.stages.report import labels


def test_every_catalog_regimen_group_has_words_from_the_rules():
    groups = {r.regimen_group for r in lines.default_line_rules().regimens}
    assert {"trastuzumab_deruxtecan_pertuzumab", "tucatinib_trastuzumab_emtansine",
            "investigational"} <= groups
    for group in groups:
        words = labels.regimen_group(group)
        assert "_" not in words and words[:1].isupper(), (group, words)
    assert labels.regimen_group("trastuzumab_deruxtecan") == "T-DXd"


def test_indicators_have_titles_and_targets_from_data():
    assert labels.indicator("first_line_thp") == "First line: THP"
    assert labels.indicator("first_line_preferred") == "First line: preferred regimen"
    target, source = labels.indicator_target("first_line_preferred")
    assert 0 < target < 1 and source
    assert labels.indicator("x", "Title from the definitions table") == (
        "Title from the definitions table")


def test_unknown_names_read_as_words_and_take_a_neutral_colour():
    assert labels.regimen_group("a_new_group") == "A new group"
    assert labels.indicator("a_new_indicator") == "A new indicator"
    assert labels.category_colour("a_new_verdict") == "#777777"


def test_verdict_and_line_colours_are_two_separate_schemes():
    verdicts = {labels.category_colour(c) for c in labels.categories()}
    line_groups = {labels.line_colour(line) for line in ("1", "2", "3", "4+")}
    assert len(verdicts) == len(labels.categories())
    assert not verdicts & line_groups


def test_numbers_read_as_a_quality_lead_expects():
    assert labels.p_value(3.25e-43) == "< 0.001"
    assert labels.p_value(0.0042) == "0.004" and labels.p_value(0.2) == "0.20"
    assert labels.number("0.000856287") == "0.000856" and labels.number(1234567) == "1,234,567"
    assert labels.model("cox_unadjusted") == "Cox, unadjusted"
