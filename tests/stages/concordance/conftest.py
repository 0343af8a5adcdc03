"""A tiny warehouse for concordance tests: build.patients, build.lines_of_therapy,
staging.metastases and staging.administrations (each line's ingredients on its first day,
plus any (neo)adjuvant drugs given) written by hand, then the concordance stage run on
them."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from her2audit import warehouse
from her2audit.stages import concordance

D = dt.date.fromisoformat

# The catalog's name for each regimen group (rules/regimens.yaml), as the lines stage writes it, and
# typical ingredients of such a line (what the lines stage writes as `ingredients`).
REGIMEN_NAMES = {
    "taxane_trastuzumab_pertuzumab": "THP",
    "trastuzumab_pertuzumab": "HP",
    "trastuzumab_chemotherapy": "Trastuzumab + other chemotherapy",
    "trastuzumab_deruxtecan": "T-DXd",
    "trastuzumab_deruxtecan_pertuzumab": "T-DXd + pertuzumab",
    "trastuzumab_emtansine": "T-DM1",
    "tucatinib_trastuzumab_capecitabine": "Tucatinib + trastuzumab + capecitabine",
    "tucatinib_trastuzumab_emtansine": "Tucatinib + T-DM1",
    "neratinib_capecitabine": "Neratinib + capecitabine",
    "lapatinib_capecitabine": "Lapatinib + capecitabine",
    "lapatinib_trastuzumab": "Lapatinib + trastuzumab",
    "margetuximab_chemotherapy": "Margetuximab + chemotherapy",
    "her2_endocrine": "Anti-HER2 + endocrine",
    "endocrine_only": "Endocrine, no anti-HER2",
    "chemotherapy_only": "Chemotherapy, no anti-HER2",
    "investigational": "Investigational",
    "other": "Other",
}
INGREDIENTS = {
    "taxane_trastuzumab_pertuzumab": "docetaxel + pertuzumab + trastuzumab",
    "trastuzumab_pertuzumab": "pertuzumab + trastuzumab",
    "trastuzumab_chemotherapy": "trastuzumab + vinorelbine",
    "trastuzumab_deruxtecan": "trastuzumab deruxtecan",
    "trastuzumab_deruxtecan_pertuzumab": "pertuzumab + trastuzumab deruxtecan",
    "trastuzumab_emtansine": "trastuzumab emtansine",
    "tucatinib_trastuzumab_capecitabine": "capecitabine + trastuzumab + tucatinib",
    "tucatinib_trastuzumab_emtansine": "trastuzumab emtansine + tucatinib",
    "neratinib_capecitabine": "capecitabine + neratinib",
    "lapatinib_capecitabine": "capecitabine + lapatinib",
    "lapatinib_trastuzumab": "lapatinib + trastuzumab",
    "margetuximab_chemotherapy": "eribulin + margetuximab",
    "her2_endocrine": "letrozole + trastuzumab",
    "endocrine_only": "letrozole",
    "chemotherapy_only": "capecitabine",
    "investigational": "zanidatamab",
    "other": "everolimus + exemestane",
}
NOT_HER2 = {"endocrine_only", "chemotherapy_only", "other"}

# Short names for writing cases
G = {
    "THP": "taxane_trastuzumab_pertuzumab",
    "HP": "trastuzumab_pertuzumab",
    "TCHEMO": "trastuzumab_chemotherapy",
    "TDXD": "trastuzumab_deruxtecan",
    "TDXDP": "trastuzumab_deruxtecan_pertuzumab",
    "TUCTDM1": "tucatinib_trastuzumab_emtansine",
    "TDM1": "trastuzumab_emtansine",
    "TUC": "tucatinib_trastuzumab_capecitabine",
    "NER": "neratinib_capecitabine",
    "LAPCAP": "lapatinib_capecitabine",
    "LAPTRAS": "lapatinib_trastuzumab",
    "MARG": "margetuximab_chemotherapy",
    "HER2ENDO": "her2_endocrine",
    "ENDO": "endocrine_only",
    "CHEMO": "chemotherapy_only",
    "TRIAL": "investigational",
    "OTHER": "other",
}


@dataclasses.dataclass
class Patient:
    patient_id: str
    # (start date, regimen group short name or full[, ingredients when not the usual ones])
    lines: list[tuple[str, ...]]
    site_id: str = "S1"
    hr_positive: bool = False
    early_relapse: bool = False
    de_novo: bool = False
    metastatic_date: str | None = None  # default: 20 days before line 1
    death_date: str | None = None
    brain_met: str | None = None  # date a brain metastasis was documented
    # drugs given before the metastatic setting: (date, ingredient), e.g. adjuvant pertuzumab
    early_drugs: list[tuple[str, str]] = dataclasses.field(default_factory=list)


def _group(name: str | None) -> str | None:
    if name is None:
        return None
    return G.get(name, name)


def build_world(con, patients: Iterable[Patient]) -> None:
    con.execute(
        """
        create or replace table build.patients (
            patient_id varchar, site_id varchar, metastatic_date date, metastatic_year integer,
            de_novo boolean, hr_status varchar, hr_positive boolean, early_relapse boolean,
            death_date date, last_known_alive_date date
        )
        """
    )
    con.execute(
        """
        create or replace table build.lines_of_therapy (
            patient_id varchar, line_number integer, start_date date, end_date date,
            end_reason varchar, ingredients varchar, regimen varchar, regimen_group varchar,
            her2_directed boolean, has_maintenance_addition boolean, n_administrations integer
        )
        """
    )
    con.execute(
        "create or replace table staging.metastases "
        "(patient_id varchar, diagnosis_date date, site varchar)"
    )
    con.execute(
        "create or replace table staging.administrations "
        "(patient_id varchar, ingredient varchar, start_date date, setting varchar)"
    )
    p_rows, l_rows, m_rows, a_rows = [], [], [], []
    for p in patients:
        first = D(p.lines[0][0]) if p.lines else D("2023-01-01")
        met = D(p.metastatic_date) if p.metastatic_date else first - dt.timedelta(days=20)
        death = D(p.death_date) if p.death_date else None
        p_rows.append((
            p.patient_id, p.site_id, met, met.year, p.de_novo,
            "positive" if p.hr_positive else "negative", p.hr_positive, p.early_relapse,
            death, None,
        ))
        for n, (start, name, *given) in enumerate(p.lines, start=1):
            group = _group(name)
            regimen = REGIMEN_NAMES.get(group) if group else None
            ingredients = given[0] if given else INGREDIENTS.get(group, "an unknown drug")
            l_rows.append((
                p.patient_id, n, D(start), D(start) + dt.timedelta(days=100), "next_line",
                ingredients, regimen, group,
                group not in NOT_HER2 if group else False, False, 6,
            ))
            a_rows += [(p.patient_id, i, D(start), "metastatic") for i in ingredients.split(" + ")]
        a_rows += [(p.patient_id, i, D(day), "adjuvant") for day, i in p.early_drugs]
        if p.brain_met:
            m_rows.append((p.patient_id, D(p.brain_met), "brain"))
    _insert(con, "build.patients", p_rows)
    _insert(con, "build.lines_of_therapy", l_rows)
    _insert(con, "staging.metastases", m_rows)
    _insert(con, "staging.administrations", a_rows)


def _insert(con, table: str, rows: list[tuple]) -> None:
    """Bulk insert (executemany is slow in DuckDB): rows as an Arrow table, cast by DuckDB."""
    if not rows:
        return
    cols = [d[0] for d in con.execute(f"select * from {table} limit 0").description]
    data = pa.table({c: [r[i] for r in rows] for i, c in enumerate(cols)})
    con.register("rows_to_insert", data)
    try:
        con.execute(f"insert into {table} select * from rows_to_insert")
    finally:
        con.unregister("rows_to_insert")


def fetch(con, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    rows = con.execute(sql, params or []).fetchall()
    cols = [d[0] for d in con.description]
    return [dict(zip(cols, r, strict=True)) for r in rows]


@pytest.fixture
def judge(run_context):
    """judge(patients, pinned=None, rulebooks=None, cutoff=None) -> {(patient, line): verdict}"""

    def run(patients, pinned: str | None = None, rulebooks: Path | None = None,
            cutoff: str | None = None):
        con = run_context.con
        build_world(con, patients)
        if cutoff is not None:
            con.execute(
                "create or replace table staging.data_cutoff as "
                "select ?::date as data_cutoff, true as given", [cutoff]
            )
        warehouse.set_variables(con, {"pinned_guideline": pinned})
        concordance.judge(con, rulebooks, pinned)
        verdicts = fetch(con, "select * from build.line_concordance")
        return {(v["patient_id"], v["line_number"]): v for v in verdicts}

    run.con = run_context.con
    return run
