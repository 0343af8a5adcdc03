"""Hand-built `build.*` tables for outcome tests (the upstream stages' contracts)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from her2audit import warehouse
from her2audit.context import RunContext
from her2audit.parameters import RunParameters

D = dt.date.fromisoformat

PATIENT_COLUMNS = {
    "patient_id": "varchar",
    "site_id": "varchar",
    "birth_date": "date",
    "sex": "varchar",
    "age_at_metastatic": "integer",
    "diagnosis_date": "date",
    "stage_at_diagnosis": "varchar",
    "metastatic_date": "date",
    "metastatic_year": "integer",
    "de_novo": "boolean",
    "her2_status": "varchar",
    "her2_test_date": "date",
    "hr_status": "varchar",
    "hr_positive": "boolean",
    "early_relapse": "boolean",
    "last_prior_her2_date": "date",
    "death_date": "date",
    "last_known_alive_date": "date",
}
LINE_COLUMNS = {
    "patient_id": "varchar",
    "line_number": "integer",
    "start_date": "date",
    "end_date": "date",
    "end_reason": "varchar",
    "ingredients": "varchar",
    "regimen": "varchar",
    "regimen_group": "varchar",
    "her2_directed": "boolean",
    "has_maintenance_addition": "boolean",
    "n_administrations": "integer",
}
CONCORDANCE_COLUMNS = {
    "patient_id": "varchar",
    "line_number": "integer",
    "guideline_id": "varchar",
    "guideline_version": "varchar",
    "category": "varchar",
    "concordant": "boolean",
    "rule_id": "varchar",
    "reason": "varchar",
    "evaluated_as_line": "integer",
    "cns": "boolean",
    "hr_positive": "boolean",
    "early_relapse": "boolean",
}


def _create(
    con: duckdb.DuckDBPyConnection,
    name: str,
    columns: Mapping[str, str],
    rows: Iterable[Mapping[str, Any]] | pd.DataFrame,
) -> None:
    frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    for column in columns:
        if column not in frame.columns:
            frame[column] = None
    con.register("_rows", frame[list(columns)])
    select = ", ".join(f"cast({c} as {t}) as {c}" for c, t in columns.items())
    con.execute(f"create or replace table {name} as select {select} from _rows")
    con.unregister("_rows")


def patient(patient_id: str, metastatic_date: str, **values: Any) -> dict[str, Any]:
    """A cohort patient with sensible defaults; dates as ISO text."""
    row: dict[str, Any] = {
        "patient_id": patient_id,
        "site_id": "site_a",
        "birth_date": "1960-01-01",
        "sex": "F",
        "age_at_metastatic": 55,
        "diagnosis_date": metastatic_date,
        "stage_at_diagnosis": "IV",
        "metastatic_date": metastatic_date,
        "metastatic_year": int(metastatic_date[:4]),
        "de_novo": True,
        "her2_status": "positive",
        "hr_status": "positive",
        "hr_positive": True,
        "early_relapse": False,
        "death_date": None,
        "last_known_alive_date": None,
    }
    row.update(values)
    return row


def line(
    patient_id: str, line_number: int, start: str, end: str, end_reason: str,
    regimen_group: str = "taxane_trastuzumab_pertuzumab", **values: Any,
) -> dict[str, Any]:
    row = {
        "patient_id": patient_id,
        "line_number": line_number,
        "start_date": start,
        "end_date": end,
        "end_reason": end_reason,
        "regimen_group": regimen_group,
        "her2_directed": True,
        "has_maintenance_addition": False,
        "n_administrations": 3,
    }
    row.update(values)
    return row


def concordance(
    patient_id: str, line_number: int, category: str = "preferred", **values: Any
) -> dict[str, Any]:
    row = {
        "patient_id": patient_id,
        "line_number": line_number,
        "guideline_id": "her2-mbc-2023",
        "category": category,
        "concordant": category in ("preferred", "alternative"),
        "evaluated_as_line": line_number,
        "cns": False,
        "hr_positive": True,
        "early_relapse": False,
    }
    row.update(values)
    return row


def build_warehouse(
    con: duckdb.DuckDBPyConnection,
    patients: Iterable[Mapping[str, Any]] | pd.DataFrame,
    lines: Iterable[Mapping[str, Any]] | pd.DataFrame,
    concordance_rows: Iterable[Mapping[str, Any]] | pd.DataFrame,
    data_cutoff: str,
) -> None:
    """Write the upstream tables the outcomes stage reads."""
    for schema in warehouse.SCHEMAS:
        con.execute(f"create schema if not exists {schema}")
    _create(con, "build.patients", PATIENT_COLUMNS, patients)
    con.execute(
        "update build.patients set last_known_alive_date = "
        "coalesce(last_known_alive_date, ?::date)", [data_cutoff]
    )
    _create(con, "build.lines_of_therapy", LINE_COLUMNS, lines)
    _create(con, "build.line_concordance", CONCORDANCE_COLUMNS, concordance_rows)
    con.execute("create or replace table staging.data_cutoff as select ?::date as data_cutoff",
                [data_cutoff])


def context(con: duckdb.DuckDBPyConnection) -> RunContext:
    messages: list[str] = []
    return RunContext(con, "test-run", "fixture", RunParameters(), None, messages.append)


def exponential_registry(
    n_patients: int, medians: Mapping[str, float], seed: int, concordant_share: float = 0.6
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """A simulated cohort with exponential first-line times to next treatment of known
    median per regimen group, exponential survival after it, and administrative
    censoring: for statistical checks of the estimation path."""
    rng = np.random.default_rng(seed)
    groups = np.array(list(medians))
    group = groups[rng.integers(0, len(groups), n_patients)]
    median = np.array([medians[g] for g in group])
    cutoff = pd.Timestamp("2023-12-31")
    # follow-up from 30 days to about 8 years: heavy administrative censoring
    start = cutoff - pd.to_timedelta(rng.integers(30, 3000, n_patients), "D")
    ttnt = np.ceil(rng.exponential(median / np.log(2)))
    after = np.ceil(rng.exponential(700 / np.log(2), n_patients))
    next_start = start + pd.to_timedelta(ttnt, "D")
    death = next_start + pd.to_timedelta(after, "D")
    ids = [f"P{i:06d}" for i in range(n_patients)]
    has_next = next_start <= cutoff
    dies = death <= cutoff
    patients = pd.DataFrame({
        "patient_id": ids, "site_id": [f"site_{i % 7}" for i in range(n_patients)],
        "birth_date": (start - pd.to_timedelta(rng.integers(40 * 365, 80 * 365, n_patients),
                                               "D")).date,
        "metastatic_date": start.date, "metastatic_year": start.year,
        "age_at_metastatic": 60, "de_novo": rng.random(n_patients) < 0.3,
        "hr_positive": rng.random(n_patients) < 0.5, "her2_status": "positive",
        "death_date": np.where(dies, death.date, None),
        "last_known_alive_date": cutoff.date(),
    })
    last_admin = np.minimum(next_start - pd.Timedelta(days=1), cutoff)
    line1 = pd.DataFrame({
        "patient_id": ids, "line_number": 1, "start_date": start.date,
        "end_date": pd.DatetimeIndex(last_admin).date,
        "end_reason": np.where(has_next, "next_line", "ongoing"),
        "regimen_group": group, "her2_directed": True,
    })
    line2 = pd.DataFrame({
        "patient_id": ids, "line_number": 2, "start_date": next_start.date,
        "end_date": np.where(dies, death.date, cutoff.date()),
        "end_reason": np.where(dies, "death", "ongoing"),
        "regimen_group": "trastuzumab_deruxtecan", "her2_directed": True,
    })[has_next]
    lines = pd.concat([line1, line2], ignore_index=True)
    concordant = rng.random(len(lines)) < concordant_share
    conc = pd.DataFrame({
        "patient_id": lines["patient_id"], "line_number": lines["line_number"],
        "category": np.where(concordant, "preferred", "not_recommended"),
        "concordant": concordant, "cns": rng.random(len(lines)) < 0.15,
        "hr_positive": False,
    })
    return patients, lines, conc
