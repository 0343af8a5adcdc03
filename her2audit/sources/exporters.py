"""Write a canonical registry folder as OMOP CDM v5.4 tables (CSV) or as a FHIR R4 bulk
export (NDJSON), so the same patients can go through every adapter
(`her2audit synth --format omop|fhir`).

The canonical folder is read with the canonical reader (so the exporter sees exactly
the rows the pipeline would), mapped with `sql/sources/export_omop` or `sql/sources/export_fhir`
using the codes of `rules/omop_mapping.yaml`, and written with DuckDB's COPY.

Only the rows the canonical reader stages are written (what it would quarantine is left
out, see `_keep_staged_rows`). What the target format cannot hold is not written: OMOP
has no treatment setting, and neither format gets `progressions`.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import duckdb

from her2audit import warehouse
from her2audit.errors import UsageError
from her2audit.sources import canonical, mapping, raw
from her2audit.sources.schema import load_allowed_values

FORMATS = ("omop", "fhir")
OMOP_TABLES = (
    "person",
    "care_site",
    "death",
    "observation_period",
    "condition_occurrence",
    "measurement",
    "drug_exposure",
)
FHIR_RESOURCES = (
    "Patient",
    "Condition",
    "Observation",
    "MedicationAdministration",
    "MedicationStatement",
)
PATIENT_ID_SYSTEM = "https://her2audit.org/fhir/NamingSystem/patient-id"


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _load_export_codes(con: duckdb.DuckDBPyConnection) -> None:
    m = mapping.mapping()
    codes = m["export_condition_codes"]
    breast, metastasis = codes["breast_cancer"], codes["metastasis"]
    meanings = {
        (e.get("vocabulary"), code): e.get("meaning")
        for e in m["conditions"]
        for code in [*e.get("codes", []), e.get("code") or e.get("prefix")]
    }
    con.execute(
        "create or replace temp table export_codes_breast as select "
        "?::bigint as omop_concept_id, ?::varchar as snomed, ?::varchar as icd10cm, "
        "?::varchar as display",
        [breast["omop_concept_id"], breast["snomed"], breast["icd10cm"],
         meanings.get(("SNOMED", breast["snomed"]))],
    )
    con.execute(
        "create or replace temp table export_codes_metastasis as select "
        "?::varchar as snomed, ?::varchar as icd10cm, ?::varchar as display",
        [metastasis["snomed"], metastasis["icd10cm"],
         meanings.get(("SNOMED", metastasis["snomed"]))],
    )
    con.execute(
        "create or replace temp table export_codes_sites (site varchar, snomed varchar, "
        "icd10cm varchar, display varchar)"
    )
    con.executemany(
        "insert into export_codes_sites values (?, ?, ?, ?)",
        [
            (site, c.get("snomed"), c.get("icd10cm"), f"Secondary malignant neoplasm ({site})")
            for site, c in codes["sites"].items()
        ],
    )
    # One LOINC code per (marker, method): HER2 by method, ER/PR for any method ('*').
    rows = []
    for b in m["biomarkers"]:
        if not b.get("export", True):
            continue
        method = b["method"].upper() if b["marker"] == "HER2" else "*"
        rows.append((b["marker"], method, b["loinc"]))
    con.execute(
        "create or replace temp table export_codes_biomarkers (marker varchar, method varchar, "
        "loinc varchar)"
    )
    con.executemany("insert into export_codes_biomarkers values (?, ?, ?)", rows)
    con.execute(
        "create or replace temp table export_codes_stage as select ?::varchar as loinc",
        [m["stage"]["loinc"]],
    )
    local = m.get("fhir_local", {})
    con.execute(
        "create or replace temp table export_fhir as select ?::varchar as patient_id_system, "
        "?::varchar as last_contact_extension, ?::varchar as treatment_setting_system",
        [PATIENT_ID_SYSTEM, local["last_contact_extension"], local["treatment_setting_system"]],
    )
    con.execute(
        "create or replace temp table export_drug_systems (code_system varchar, url varchar)"
    )
    con.executemany(
        "insert into export_drug_systems values (?, ?)",
        list(m.get("drug_code_systems", {}).items()),
    )


def _keep_staged_rows(con: duckdb.DuckDBPyConnection) -> None:
    """Keep in `raw` only the rows the canonical reader stages: what it would quarantine
    (an invalid date, an end before the start, an unknown or duplicate patient …) often
    cannot be written in a typed format, and leaving it out keeps every adapter's view
    of the registry the same as the canonical reader's."""
    load_allowed_values(con)
    today = dt.date.today()
    warehouse.set_variables(con, {"latest_valid_date": today,
                                  "latest_valid_date_meaning": f"today {today}"})
    warehouse.run_sql_stage(con, "10_extract/10_staging")
    for name in ("patients", "diagnoses", "biomarkers", "metastases", "treatments"):
        con.execute(
            f"""
            create or replace temp table kept_{name} as
            select r.* from raw.{name} as r
            semi join staging.{name}_checked as c
                on c.source_file = r._source_file and c.row_number = r._row_number
                and c.rule is null
            order by r._row_number
            """
        )
        raw.drop_relation(con, "raw", name)
        con.execute(f"create table raw.{name} as select * from kept_{name}")
        con.execute(f"drop table kept_{name}")


def export(canonical_dir: Path, out: Path, fmt: str) -> dict[str, int]:
    """Convert the canonical registry in `canonical_dir` to `fmt` (`omop` or `fhir`) in
    `out` (created; files of the same names are replaced). Returns rows written per file."""
    if fmt not in FORMATS:
        raise UsageError(f"export format {fmt!r} is not one of {', '.join(FORMATS)}")
    canonical_dir, out = Path(canonical_dir), Path(out)
    if canonical_dir.resolve() == out.resolve():
        raise UsageError("the export folder must differ from the canonical registry folder")
    con = duckdb.connect()
    try:
        for schema in ("raw", "staging", "build", "export"):
            con.execute(f"create schema {schema}")
        canonical.read_folder(con, canonical_dir)
        _keep_staged_rows(con)
        _load_export_codes(con)
        out.mkdir(parents=True, exist_ok=True)
        written: dict[str, int] = {}
        if fmt == "omop":
            warehouse.run_sql_stage(con, "sources/export_omop")
            for table in OMOP_TABLES:
                path = out / f"{table}.csv"
                con.execute(
                    f"copy export.{table} to {_lit(str(path))} "
                    "(format csv, header true, dateformat '%Y-%m-%d')"
                )
                written[path.name] = warehouse.row_count(con, f"export.{table}")
        else:
            warehouse.run_sql_stage(con, "sources/export_fhir")
            for resource in FHIR_RESOURCES:
                table = f"export.fhir_{resource.lower()}"
                path = out / f"{resource}.ndjson"
                # One compact JSON object per line, written as is (no CSV quoting).
                con.execute(
                    f"copy (select resource from {table}) to {_lit(str(path))} "
                    "(format csv, header false, quote '', escape '', delimiter '\x1f')"
                )
                written[path.name] = warehouse.row_count(con, table)
        truth = canonical_dir / "truth"
        if truth.is_dir() and not (out / "truth").exists():
            shutil.copytree(truth, out / "truth")
        return written
    finally:
        con.close()
