"""The report's "where do we deviate" blocks under the disclosure rule."""

from __future__ import annotations

import datetime as dt

from her2audit import disclosure
from her2audit.stages.report.concordance import hidden_deviations

from .conftest import memory_source


def _block(preferred: int, alternative: int, pooled: dict[str, int] | None = None) -> list:
    items = [{"label": "Preferred", "category": "preferred", "n": preferred},
             {"label": "Alternative regimens", "category": "alternative", "n": alternative}]
    if pooled:
        items.append({"label": "Other regimens", "category": None, "n": sum(pooled.values()),
                      "pooled": pooled})
    return items


def test_a_small_count_in_one_rulebook_is_not_given_away_by_the_line_total():
    # line 1 has 45 lines on alternative regimens (shown in the table by line): 5 under
    # rulebook A, 40 under B. Hiding A's 5 and a complement inside A's block only would
    # leave 45 − 40 = 5 to read; a count of B's block goes too.
    blocks = [("1", "A", _block(50, 5)), ("1", "B", _block(60, 40)),
              ("2", "A", _block(30, 20)), ("2", "B", _block(30, 25))]
    hidden = hidden_deviations(blocks)
    assert (0, 1) in hidden
    values = {(b, k): item["n"] for b, (_, _, items) in enumerate(blocks)
              for k, item in enumerate(items)}
    known = "shown elsewhere"
    relations = [[known, (b, 0), (b, 1)] for b in range(4)]  # each block's lines
    relations += [[known, (0, k), (1, k)] for k in (0, 1)]  # line 1, per verdict
    relations += [[known, (2, k), (3, k)] for k in (0, 1)]  # line 2
    relations += [[known, (0, k), (2, k)] for k in (0, 1)]  # rulebook A
    relations += [[known, (1, k), (3, k)] for k in (0, 1)]  # rulebook B
    assert (0, 1) not in disclosure.determined(values, relations, hidden)


def test_the_pooled_rest_does_not_give_away_a_small_verdict_count():
    # line 1, one rulebook: 30 trial lines in the table by line, none in a regimen group of
    # 11 or more, so the pooled rest holds them all with 4 not-evaluable lines: the pooled
    # row (34) would give the 4 away beside the table's 30, so it is hidden (with another
    # count of its block, and the table's 30 would then still leave it unknown)
    blocks = [("1", "A", _block(200, 50, {"trial": 30, "not_evaluable": 4}))]
    hidden = hidden_deviations(blocks)
    assert (0, 2) in hidden
    assert len(hidden) >= 2


def test_a_site_count_beside_all_sites_does_not_give_the_other_sites_away():
    # the site report: S01 gave the preferred regimen in 50 first lines under rulebook A,
    # all sites together in 55, so the other sites' 5 would be the difference
    site = [("1", "A", _block(50, 20))]
    hidden = hidden_deviations(site, beside={(0, 0): 55, (0, 1): 20})
    assert (0, 0) in hidden  # S01's 50
    assert (0, 1) in hidden  # and a complement, as S01's block total is shown
    assert hidden_deviations(site, beside={(0, 0): 80, (0, 1): 40}) == set()


def _line_context(lines: list[tuple[str, int, str, str]]):
    """An in-memory warehouse whose `audit.line_context` holds `lines`: (site, line
    number, verdict, regimen group), all under rulebook A."""
    return memory_source(
        "line_context", "site_id varchar, line_number integer, guideline_id varchar, "
        "category varchar, regimen_group varchar, preferred_groups varchar[], start_date date",
        [(site, number, "A", verdict, regimen, ["thp"], dt.date(2024, 1, 1))
         for site, number, verdict, regimen in lines])


def test_a_sites_block_is_withheld_where_the_other_sites_lines_are_few():
    from her2audit.stages.report.concordance import prepare_deviations

    lines = ([("S01", 1, "preferred", "thp")] * 60 + [("S01", 1, "alternative", "th")] * 20
             + [("S02", 1, "preferred", "thp")] * 4)
    src = _line_context(lines)
    block, = prepare_deviations(src, site="S01")["blocks"]
    assert block["total_text"] == "*" and block["preferred_text"] == "*"  # 84 − 80 = 4
    assert all(r["n_text"] in ("*", "<11") for r in block["rows"])
    block, = prepare_deviations(src)["blocks"]  # all sites: nothing small to hide
    assert (block["total_text"], block["preferred_text"]) == ("84", "64")
