"""Small-cell suppression and pseudonymisation rules of the shareable report."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from her2audit import disclosure
from her2audit.stages.report import privacy
from her2audit.stages.report.suppression import (
    fraction,
    merge_small_steps,
    suppress_categories,
    suppress_category_rows,
)


def test_counts_from_1_to_10_are_shown_as_less_than_11():
    assert [privacy.fmt_count(n) for n in (0, 1, 10, 11, 1234)] == ["0", "<11", "<11", "11",
                                                                     "1,234"]
    assert privacy.fmt_count(None) == "–"
    assert privacy.fmt_count(40, hidden=True) == "*"  # hidden only as a complement
    assert privacy.fmt_count(4, hidden=True) == "<11"


def test_one_hidden_part_pulls_the_smallest_other_part_with_it():
    # 5 is small; with the total shown it could be recovered from 40 and 100, so 40 goes too
    assert privacy.suppress_parts([100, 5, 40]) == [False, True, True]
    # two small parts already protect each other
    assert privacy.suppress_parts([100, 5, 7]) == [False, True, True]
    assert privacy.suppress_parts([100, 5, 7, 50]) == [False, True, True, False]
    # zeros are not suppressed and are not used as the complement
    assert privacy.suppress_parts([100, 0, 3]) == [True, False, True]
    # without a total beside the parts nothing more is hidden
    assert privacy.suppress_parts([100, 5, 40], total_shown=False) == [False, True, False]


def test_rates_from_suppressed_counts_are_hidden():
    assert fraction(50, 200) == ("50", "200", 0.25)
    assert fraction(5, 200) == ("<11", "200", None)
    assert fraction(195, 200) == ("<11", "200", None)  # 5 recoverable by subtraction
    assert fraction(3, 8) == ("<11", "<11", None)
    assert fraction(0, 200) == ("0", "200", 0.0)


def test_category_row_suppression_is_complementary_and_hides_the_rate():
    row = {"n_lines": 120, "n_preferred": 80, "n_alternative": 20, "n_not_recommended": 15,
           "n_trial": 5, "n_not_evaluable": 0, "n_evaluable": 120, "n_concordant": 100}
    out = suppress_categories(row)
    assert out["n_trial_text"] == "<11"
    assert out["n_not_recommended_text"] == "*"  # the complement (smallest other)
    assert out["n_preferred_text"] == "80" and out["n_not_evaluable_text"] == "0"
    assert out["rate"] is None
    clean = suppress_categories({**row, "n_trial": 15, "n_not_recommended": 5 + 0 + 0})
    assert clean["rate"] is None  # 5 not recommended is small
    full = suppress_categories({**row, "n_not_recommended": 11, "n_trial": 12, "n_lines": 123,
                                "n_evaluable": 123})
    assert full["rate"] == pytest.approx(100 / 123)


def test_small_attrition_steps_are_merged_so_differences_reveal_nothing():
    steps = [
        {"step": "registry", "n_patients": 500, "n_excluded": 0, "reason": None},
        {"step": "diagnosis", "n_patients": 496, "n_excluded": 4, "reason": "no diagnosis"},
        {"step": "her2", "n_patients": 300, "n_excluded": 196, "reason": "her2 negative"},
        {"step": "metastatic", "n_patients": 297, "n_excluded": 3, "reason": "never"},
    ]
    merged = merge_small_steps(steps)
    assert [m["step"] for m in merged] == ["registry", "diagnosis; her2; metastatic"]
    assert merged[-1]["n_patients"] == 297 and merged[-1]["n_excluded"] == 203
    shown = [m["n_patients"] for m in merged]
    assert all(not privacy.is_small(a - b) for a, b in zip(shown, shown[1:], strict=False))


def test_pseudonyms_are_keyed_hmac_sha256(monkeypatch):
    monkeypatch.setenv(privacy.KEY_ENV, "k1")
    p = privacy.Pseudonymiser.from_env()
    expected = hmac.new(b"k1", b"PT000001", hashlib.sha256).hexdigest()[:12]
    assert p("PT000001") == f"PX-{expected}"
    assert p.from_environment and "HER2AUDIT_PSEUDONYM_KEY" in p.note()
    monkeypatch.setenv(privacy.KEY_ENV, "k2")
    assert privacy.Pseudonymiser.from_env()("PT000001") != p("PT000001")
    assert p.scrub("row of PT000001 is bad", "PT000001") == f"row of PX-{expected} is bad"


def test_without_a_key_each_report_draws_its_own_and_says_so(monkeypatch):
    monkeypatch.delenv(privacy.KEY_ENV, raising=False)
    a, b = privacy.Pseudonymiser.from_env(), privacy.Pseudonymiser.from_env()
    assert not a.from_environment
    assert a("PT1") != b("PT1")
    assert "random key" in a.note()


def test_a_small_cell_in_a_two_way_table_is_protected_along_its_row_and_column():
    # sites x line groups with an 'all' column; each column's total is shown elsewhere
    cells = {
        ("A", "1"): (60, 80), ("A", "2"): (30, 40), ("A", "all"): (90, 120),
        ("B", "1"): (70, 90), ("B", "2"): (3, 5), ("B", "all"): (73, 95),
        ("C", "1"): (50, 70), ("C", "2"): (40, 60), ("C", "all"): (90, 130),
    }
    hidden = privacy.suppress_rate_grid(cells)
    assert ("B", "2") in hidden
    assert ("B", "1") in hidden or ("B", "all") in hidden  # its row
    assert ("A", "2") in hidden or ("C", "2") in hidden  # its column
    _assert_no_relation_gives_one_away(cells, hidden)


def _assert_no_relation_gives_one_away(cells, hidden):
    rows, cols = {}, {}
    for c in cells:
        rows.setdefault(c[0], []).append(c)
        cols.setdefault(c[1], []).append(c)
    for rel in [*rows.values(), *cols.values()]:
        assert sum(1 for c in rel if c in hidden) != 1, rel


def _given_away(cells, hidden):
    """The hidden small numerators, denominators and remainders a reader can work out:
    each of the three is a table of its own (rows add up to their 'all' cell, columns to the
    sums the all-rows table shows under the same rule), with the same cells hidden."""
    column_sums = {(None, col): tuple(sum(cells[c][k] for c in cells if c[1] == col)
                                      for k in (0, 1))
                   for col in {c[1] for c in cells}}
    hidden_there = privacy.suppress_rate_grid(column_sums, columns_add_up=False)
    out = set()
    for name, value in (("numerator", lambda n, d: n), ("denominator", lambda n, d: d),
                        ("remainder", lambda n, d: d - n)):
        values = {c: value(*nd) for c, nd in cells.items()}
        relations = [[(row, "all"), *(c for c in cells if c[0] == row and c[1] != "all")]
                     for row in {c[0] for c in cells}]
        relations += [["shown in the all-rows table", *(c for c in cells if c[1] == col)]
                      for (_, col) in column_sums if (None, col) not in hidden_there]
        small = {c for c in hidden if privacy.is_small(values[c])}
        out |= {(name, c) for c in disclosure.determined(values, relations, hidden) & small}
    return out


def test_a_column_with_one_non_zero_cell_gives_that_cell_away():
    # 2021 has one non-zero site, S3: its 30 evaluable lines are the 2021 total shown in
    # the all-sites table, so S3's 2022 (2 lines, 1 concordant) = S3's total − 30 unless
    # S3's total is hidden too; hiding S3's 2021 alone (its partner in the column is zero)
    # protects nothing.
    cells = {
        ("S1", "2021"): (0, 0), ("S1", "2022"): (10, 12), ("S1", "all"): (10, 12),
        ("S2", "2021"): (0, 0), ("S2", "2022"): (20, 30), ("S2", "all"): (20, 30),
        ("S3", "2021"): (15, 30), ("S3", "2022"): (1, 2), ("S3", "all"): (16, 32),
    }
    hidden = privacy.suppress_rate_grid(cells)
    assert {("S3", "2022"), ("S3", "all")} <= hidden
    assert not _given_away(cells, hidden)


def test_a_complement_alone_in_its_column_protects_nothing():
    # S2's 2021 denominator of 5 needs a complement in S2's row; its 2023 (12 lines) is the
    # only non-zero cell of 2023, whose total the all-sites table shows: hiding it gives
    # nothing, so S2's total is hidden instead (or as well)
    cells = {
        ("S1", "2021"): (15, 30), ("S1", "2022"): (1, 2), ("S1", "2023"): (0, 0),
        ("S1", "all"): (16, 32),
        ("S2", "2021"): (0, 5), ("S2", "2022"): (0, 0), ("S2", "2023"): (0, 12),
        ("S2", "all"): (0, 17),
    }
    hidden = privacy.suppress_rate_grid(cells)
    assert {("S2", "2021"), ("S2", "all")} <= hidden
    assert not _given_away(cells, hidden)


def _grids():
    def grid(rows):
        width = min(len(r) for r in rows)
        cells = {}
        for i, row in enumerate(rows):
            for j, (num, extra) in enumerate(row[:width]):
                cells[(i, j)] = (num, num + extra)
            cells[(i, "all")] = tuple(sum(cells[(i, j)][k] for j in range(width))
                                      for k in (0, 1))
        return cells

    count = st.integers(0, 40) | st.integers(0, 12)
    return st.lists(st.lists(st.tuples(count, count), min_size=2, max_size=4),
                    min_size=2, max_size=6).map(grid)


@given(_grids())
@settings(max_examples=300, deadline=None)
def test_no_small_count_of_a_rate_grid_can_be_worked_out(cells):
    hidden = privacy.suppress_rate_grid(cells)
    for c, (num, den) in cells.items():
        if privacy.is_small(den) or privacy.is_small(num) or privacy.is_small(den - num):
            assert c in hidden
    assert not _given_away(cells, hidden)


def _category_row(line, pref, alt, notrec, trial, ne):
    n = pref + alt + notrec + trial + ne
    return {"line": line, "n_preferred": pref, "n_alternative": alt,
            "n_not_recommended": notrec, "n_trial": trial, "n_not_evaluable": ne,
            "n_lines": n, "n_evaluable": pref + alt + notrec, "n_concordant": pref + alt}


CATEGORY_COUNTS = ("n_preferred", "n_alternative", "n_not_recommended", "n_trial",
                   "n_not_evaluable")


def test_category_tables_are_protected_down_the_columns_too():
    row = _category_row
    lines = [row("1", 300, 50, 60, 0, 20), row("2", 200, 40, 50, 5, 30),
             row("3", 100, 30, 40, 25, 15)]
    total = row("all", *(sum(r[k] for r in lines) for k in (
        "n_preferred", "n_alternative", "n_not_recommended", "n_trial", "n_not_evaluable")))
    out = suppress_category_rows([total, *lines], total_key="line")
    trial = [r["n_trial_text"] for r in out]
    assert trial[2] == "<11"
    # the trial column adds up to the 'all' row: a second trial cell (or the total) is hidden
    assert sum(t in ("<11", "*") for t in trial) >= 2
    assert out[2]["rate"] is None


@given(st.lists(st.tuples(*[st.integers(0, 30) | st.integers(0, 12)] * 5), min_size=2,
                max_size=5))
@settings(max_examples=200, deadline=None)
def test_no_small_count_of_a_table_by_line_can_be_worked_out(counts):
    # line groups and their 'all' row: the categories of a row add up to its lines, the
    # line groups to 'all'
    lines = [_category_row(str(i + 1), *c) for i, c in enumerate(counts)]
    total = _category_row("all", *(sum(r[k] for r in lines) for k in CATEGORY_COUNTS))
    rows = [total, *lines]
    out = suppress_category_rows(rows, total_key="line")
    columns = [*CATEGORY_COUNTS, "n_lines"]
    values = {(i, c): r[c] for i, r in enumerate(rows) for c in columns}
    hidden = {(i, c) for i, r in enumerate(out) for c in columns if r[c] is None}
    relations = [[(i, "n_lines"), *((i, c) for c in CATEGORY_COUNTS)] for i in range(len(rows))]
    relations += [[(0, c), *((i, c) for i in range(1, len(rows)))] for c in columns]
    small = {c for c in hidden if privacy.is_small(values[c])}
    assert {c for c, v in values.items() if privacy.is_small(v)} <= hidden
    assert not disclosure.determined(values, relations, hidden) & small


def _summary(lines):
    """Survival summary rows as the outcomes stage writes them: per endpoint 'os' a row per
    line (grouping 'line') and that line's groups by verdict (grouping 'line_category');
    per endpoint 'os_from_metastatic' an 'overall' row and groups by site."""
    rows = []
    for line, groups in enumerate(lines, start=1):
        rows.append({"endpoint": "os", "grouping": "line", "line_number": line,
                     "n": sum(n for n, _ in groups), "events": sum(e for _, e in groups)})
        rows += [{"endpoint": "os", "grouping": "line_category", "line_number": line,
                  "n": n, "events": e} for n, e in groups]
    sites = [g for groups in lines for g in groups]
    rows.append({"endpoint": "os_from_metastatic", "grouping": "overall", "line_number": None,
                 "n": sum(n for n, _ in sites), "events": sum(e for _, e in sites)})
    rows += [{"endpoint": "os_from_metastatic", "grouping": "site", "line_number": None,
              "n": n, "events": e} for n, e in sites]
    return rows


_group = st.tuples(st.integers(0, 40), st.integers(0, 40)).map(lambda t: (t[0], min(t)))


@given(st.lists(st.lists(_group, min_size=1, max_size=4), min_size=1, max_size=4))
@settings(max_examples=300, deadline=None)
def test_no_small_count_of_the_survival_summary_can_be_worked_out(lines):
    from her2audit.stages.report.suppression import suppress_summary

    summary = _summary(lines)
    hidden_n, hidden_events = suppress_summary(summary)
    assert hidden_n <= hidden_events  # a row's events go with its patients
    idx = {(r["endpoint"], r["grouping"], r["line_number"]): i for i, r in enumerate(summary)
           if r["grouping"] in ("line", "overall")}
    by_line = [[idx["os", "line", line], *(i for i, r in enumerate(summary)
                                            if r["grouping"] == "line_category"
                                            and r["line_number"] == line)]
               for line in range(1, len(lines) + 1)]
    by_site = [[idx["os_from_metastatic", "overall", None],
                *(i for i, r in enumerate(summary) if r["grouping"] == "site")]]
    all_lines = [i for i, r in enumerate(summary) if r["grouping"] == "line"]
    for name, value, hidden in (
            ("n", lambda r: r["n"], hidden_n),
            ("events", lambda r: r["events"], hidden_events),
            ("censored", lambda r: r["n"] - r["events"], hidden_events)):
        values = {i: value(r) for i, r in enumerate(summary)}
        assert {i for i, v in values.items() if privacy.is_small(v)} <= hidden, name
        relations = by_line + by_site
        if name == "n" and not privacy.is_small(sum(values[i] for i in all_lines)):
            relations.append(["lines shown in the concordance tables", *all_lines])
        small = {i for i in hidden if privacy.is_small(values[i])}
        assert not disclosure.determined(values, relations, hidden) & small, name
