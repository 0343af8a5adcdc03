"""FHIR R4 bulk-export adapter (`her2audit run --registry fhir:DIR`).

Reads every `*.ndjson` (or `*.ndjson.gz`) file in DIR with DuckDB's readers, set-based:
all lines into `fhir_src.lines`, then `sql/sources/fhir/*.sql` parses the JSON and maps
Patient, Condition, Observation, MedicationAdministration, MedicationRequest and
MedicationStatement resources to canonical rows with the codes of
`rules/omop_mapping.yaml`. Resources of those types the audit cannot use (an unknown
code, an entered-in-error status, a drug given only by reference, a line that is not
JSON) go to `raw.source_rejects` and so to the quarantine with their reason. Resources
of other types are counted and ignored. A row's `_source_file` is its NDJSON file and
`_row_number` its line.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import duckdb

from her2audit import warehouse
from her2audit.errors import RegistryError
from her2audit.sources import mapping, raw
from her2audit.sources.exporters import PATIENT_ID_SYSTEM
from her2audit.sources.omop import bounded_memory
from her2audit.sources.schema import registry_tables

SRC = "fhir_src"
OUTPUTS = ("patients", "diagnoses", "biomarkers", "metastases", "treatments")
PATTERNS = ("*.ndjson", "*.ndjson.gz")


def _describe(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0][:300]


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def ndjson_files(folder: Path) -> list[Path]:
    return sorted({p for pattern in PATTERNS for p in folder.glob(pattern) if p.is_file()})


def read_folder(
    con: duckdb.DuckDBPyConnection, folder: Path, progress: Callable[[str], None] | None = None
) -> str:
    """Land a FHIR bulk export folder into `raw`; returns the source fingerprint."""
    # DuckDB memory capped as for OMOP; file order is kept (line numbers come from it)
    with bounded_memory(con, keep_order=True):
        return _read_folder(con, folder, progress)


def _read_folder(
    con: duckdb.DuckDBPyConnection, folder: Path, progress: Callable[[str], None] | None
) -> str:
    source = f"fhir:{folder}"
    if not folder.is_dir():
        raise RegistryError(source, "is not a folder; give fhir:FOLDER holding the NDJSON files")
    files = ndjson_files(folder)
    if not files:
        raise RegistryError(source, "holds no .ndjson files; give the bulk export folder")
    fingerprint = hashlib.sha256()
    for path in files:
        try:
            fingerprint.update(f"{path.name}:{raw.file_sha256(path)}\n".encode())
        except OSError as exc:
            raise RegistryError(str(path), f"cannot be opened ({exc.strerror})") from None
    digest = fingerprint.hexdigest()

    con.execute(f"create schema if not exists {SRC}")
    file_list = "[" + ", ".join(_lit(str(p)) for p in files) + "]"
    # One row per line, text as is; insertion order keeps file order, so rowid gives the
    # line number. The separator and quote characters never occur in JSON text.
    try:
        con.execute(
            f"""
            create or replace table {SRC}.raw_lines as
            select parse_filename(filename) as file, text
            from read_csv({file_list}, columns = {{'text': 'VARCHAR'}}, header = false,
                delim = '\x1e', quote = '', escape = '', filename = true,
                max_line_size = 100000000, strict_mode = false)
            """
        )
    except duckdb.Error as exc:
        raise RegistryError(source, f"cannot be read as NDJSON ({_describe(exc)})") from None
    con.execute(
        f"""
        create or replace table {SRC}.lines as
        select file, (rowid - min(rowid) over (partition by file) + 1)::bigint as line_number, text
        from {SRC}.raw_lines
        """
    )
    con.execute(f"drop table {SRC}.raw_lines")
    mapping.load(con)
    local = mapping.mapping().get("fhir_local", {})
    warehouse.set_variables(
        con,
        {
            "fhir_patient_id_system": PATIENT_ID_SYSTEM,
            "fhir_last_contact_url": local.get("last_contact_extension", ""),
            "fhir_setting_system": local.get("treatment_setting_system", ""),
        },
    )
    warehouse.run_sql_stage(con, "sources/fhir")
    n_patients = con.execute(f"select count(*) from {SRC}.out_patients").fetchall()[0][0]
    if n_patients == 0:
        raise RegistryError(source, "has no Patient resources; a registry needs at least one")
    if progress:
        for rtype, n in con.execute(
            f"select resource_type, count(*) from {SRC}.resources group by all order by 1"
        ).fetchall():
            progress(f"  fhir {rtype}: {n:,} resources")
        for rtype, n in con.execute(
            f"select coalesce(resource_type, '(none)'), n from {SRC}.ignored_types order by 1"
        ).fetchall():
            progress(f"  fhir {rtype}: {n:,} resources ignored (not used by the audit)")

    tables = registry_tables()
    raw.reset_raw(con, list(tables))
    con.execute(f"insert into raw.source_rejects select * from {SRC}.rejects")
    raw.land_adapter_outputs(con, SRC, OUTPUTS, digest, order_by="_src, _src_row")
    return digest
