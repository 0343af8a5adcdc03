"""Endpoint derivation per line (SPEC §7) on hand-made lines: events and censoring."""

from __future__ import annotations

import duckdb
import pytest

from her2audit.stages.outcomes import run
from tests.stages.outcomes.fixtures import D, build_warehouse, concordance, context, line, patient

CUTOFF = "2024-12-31"


def days(a: str, b: str) -> int:
    return (D(b) - D(a)).days


@pytest.fixture
def con():
    con = duckdb.connect()
    patients = [
        # A: died 2023-06-30 on line 2
        patient("A", "2021-12-01", death_date="2023-06-30", last_known_alive_date="2023-06-30"),
        # B: alive; one line ended by a treatment gap, no next line
        patient("B", "2022-11-15"),
        # C: alive; an ongoing line
        patient("C", "2024-05-20"),
        # D: died after the data cut-off, last contact after it too
        patient("D", "2023-12-01", death_date="2025-03-01", last_known_alive_date="2025-02-01"),
        # E: alive, last known alive before the cut-off (as the cohort may record it)
        patient("E", "2023-01-01", last_known_alive_date="2024-06-30"),
        # F: died on the day line 2 would have started (next line and death the same day)
        patient("F", "2022-01-01", death_date="2022-09-01", last_known_alive_date="2022-09-01"),
    ]
    lines = [
        line("A", 1, "2022-01-01", "2022-06-30", "next_line"),
        line("A", 2, "2022-08-01", "2023-06-30", "death", "trastuzumab_deruxtecan"),
        line("B", 1, "2023-01-01", "2023-03-01", "treatment_gap"),
        line("C", 1, "2024-06-01", "2024-12-01", "ongoing"),
        line("D", 1, "2024-01-01", "2024-11-30", "ongoing"),
        line("E", 1, "2023-02-01", "2024-05-01", "ongoing"),
        line("F", 1, "2022-01-15", "2022-08-20", "next_line"),
        line("F", 2, "2022-09-01", "2022-09-01", "death"),
    ]
    conc = [concordance(r["patient_id"], r["line_number"]) for r in lines]
    build_warehouse(con, patients, lines, conc, CUTOFF)
    run(context(con))
    yield con
    con.close()


def outcomes(con) -> dict[tuple[str, int], dict]:
    rel = con.sql("select * from build.line_outcomes order by patient_id, line_number")
    cols = rel.columns
    return {(r[0], r[1]): dict(zip(cols, r, strict=True)) for r in rel.fetchall()}


def test_death_ends_os_and_ttnt_next_line_ends_ttnt(con):
    o = outcomes(con)
    a1, a2 = o[("A", 1)], o[("A", 2)]
    assert (a1["os_days"], a1["os_event"]) == (days("2022-01-01", "2023-06-30"), True)
    assert (a1["ttnt_days"], a1["ttnt_event"]) == (days("2022-01-01", "2022-08-01"), True)
    assert (a1["ttd_days"], a1["ttd_event"]) == (days("2022-01-01", "2022-06-30"), True)
    assert (a2["os_days"], a2["os_event"]) == (days("2022-08-01", "2023-06-30"), True)
    # no next line: death ends ttnt
    assert (a2["ttnt_days"], a2["ttnt_event"]) == (333, True)
    # ended by death: ttd at the line's last administration
    assert (a2["ttd_days"], a2["ttd_event"]) == (333, True)


def test_treatment_gap_is_a_ttd_event_and_alive_patients_are_censored_at_cutoff(con):
    b = outcomes(con)[("B", 1)]
    assert (b["ttd_days"], b["ttd_event"]) == (59, True)
    assert (b["ttnt_days"], b["ttnt_event"]) == (730, False)   # 2023-01-01 -> 2024-12-31
    assert (b["os_days"], b["os_event"]) == (730, False)


def test_ongoing_line_is_censored_for_ttd(con):
    c = outcomes(con)[("C", 1)]
    assert (c["ttd_days"], c["ttd_event"]) == (days("2024-06-01", CUTOFF), False)
    assert (c["ttnt_days"], c["ttnt_event"]) == (213, False)
    assert (c["os_days"], c["os_event"]) == (213, False)


def test_death_after_cutoff_is_censored_at_cutoff(con):
    d = outcomes(con)[("D", 1)]
    assert (d["os_days"], d["os_event"]) == (days("2024-01-01", CUTOFF), False)
    assert (d["ttnt_days"], d["ttnt_event"]) == (365, False)
    assert (d["ttd_days"], d["ttd_event"]) == (365, False)


def test_censored_at_last_known_alive_date_when_before_cutoff(con):
    e = outcomes(con)[("E", 1)]
    assert (e["os_days"], e["os_event"]) == (days("2023-02-01", "2024-06-30"), False)
    assert (e["ttd_days"], e["ttd_event"]) == (days("2023-02-01", "2024-06-30"), False)


def test_next_line_on_the_day_of_death_and_zero_length_line(con):
    o = outcomes(con)
    f1, f2 = o[("F", 1)], o[("F", 2)]
    assert (f1["ttnt_days"], f1["ttnt_event"]) == (days("2022-01-15", "2022-09-01"), True)
    assert (f2["os_days"], f2["os_event"]) == (0, True)
    assert (f2["ttd_days"], f2["ttd_event"]) == (0, True)


def test_patient_os_from_metastatic_diagnosis_keeps_every_column(con):
    cols = [r[0] for r in con.sql("describe build.patients").fetchall()]
    assert cols[-2:] == ["os_days", "os_event"]
    assert {"metastatic_date", "last_known_alive_date", "site_id", "de_novo"} <= set(cols)
    rows = dict(
        ((pid, (d, e)) for pid, d, e in
         con.sql("select patient_id, os_days, os_event from build.patients").fetchall())
    )
    assert rows["A"] == (days("2021-12-01", "2023-06-30"), True)
    assert rows["B"] == (days("2022-11-15", CUTOFF), False)
    assert rows["D"] == (days("2023-12-01", CUTOFF), False)
    assert rows["E"] == (days("2023-01-01", "2024-06-30"), False)


def test_rerun_gives_identical_tables(con):
    tables = ["build.line_outcomes", "build.patients", "build.survival_summary",
              "build.survival_curves", "build.survival_comparisons"]
    first = {t: con.sql(f"select * from {t} order by all").fetchall() for t in tables}
    run(context(con))
    assert {t: con.sql(f"select * from {t} order by all").fetchall() for t in tables} == first
