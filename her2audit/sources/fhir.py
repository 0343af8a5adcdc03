"""FHIR R4 adapter (`her2audit run --registry fhir:DIR`).

DIR holds a FHIR export as EHRs and Synthea write it, in either shape (or both):
- bulk NDJSON: `*.ndjson` / `*.ndjson.gz`, one resource a line;
- Bundles: `*.json`, each a Bundle (transaction, collection, batch, searchset — Synthea
  writes one per patient) whose entries are read as resources, or a single resource.

Everything is read set-based with DuckDB's readers into `fhir_src.resources`, then
`sql/sources/fhir/*.sql` resolves references (`urn:uuid:` fullUrls in Bundles, `Type/id`
and absolute URLs, `#id` contained resources) and maps Patient, Condition, Observation,
Medication and MedicationAdministration / MedicationRequest / MedicationStatement to
canonical rows with the codes of `rules/omop_mapping.yaml`.

An export holds everybody: the audit's population is the patients with a breast cancer
Condition. Every other resource of the six types is counted out of scope
(`raw.source_dispositions`, e.g. no_breast_cancer_diagnosis, observation_not_used,
drug_not_oncology) or, for the population, combined into the diagnosis (further breast
cancer conditions, stage and M-category observations). What the audit would use but
cannot (an entered-in-error status, a Medication reference that is not in the export,
a line or file that is not JSON) goes to `raw.source_rejects` and so to the quarantine
with its reason. Other resource types are counted and not read. A row's `_source_file`
is its file and `_row_number` its line (NDJSON) or entry (Bundle).
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
NDJSON_PATTERNS = ("*.ndjson", "*.ndjson.gz")
BUNDLE_PATTERNS = ("*.json",)


def _describe(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0][:300]


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _files(folder: Path, patterns: tuple[str, ...]) -> list[Path]:
    return sorted({p for pattern in patterns for p in folder.glob(pattern) if p.is_file()})


def ndjson_files(folder: Path) -> list[Path]:
    return _files(folder, NDJSON_PATTERNS)


def bundle_files(folder: Path) -> list[Path]:
    return _files(folder, BUNDLE_PATTERNS)


def read_folder(
    con: duckdb.DuckDBPyConnection, folder: Path, progress: Callable[[str], None] | None = None
) -> str:
    """Land a FHIR export folder into `raw`; returns the source fingerprint."""
    # DuckDB memory capped as for OMOP; file order is kept (line numbers come from it)
    with bounded_memory(con, keep_order=True):
        return _read_folder(con, folder, progress)


def _read_folder(
    con: duckdb.DuckDBPyConnection, folder: Path, progress: Callable[[str], None] | None
) -> str:
    source = f"fhir:{folder}"
    if not folder.is_dir():
        raise RegistryError(source, "is not a folder; give fhir:FOLDER holding the export")
    ndjson, bundles = ndjson_files(folder), bundle_files(folder)
    if not ndjson and not bundles:
        raise RegistryError(
            source, "holds no .ndjson files or .json Bundles; give the FHIR export folder"
        )
    fingerprint = hashlib.sha256()
    for path in [*ndjson, *bundles]:
        try:
            fingerprint.update(f"{path.name}:{raw.file_sha256(path)}\n".encode())
        except OSError as exc:
            raise RegistryError(str(path), f"cannot be opened ({exc.strerror})") from None
    digest = fingerprint.hexdigest()

    con.execute(f"create schema if not exists {SRC}")
    _read_entries(con, source, ndjson, bundles)
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
    n_patients = con.execute(f"select count(*) from {SRC}.patient_rows").fetchall()[0][0]
    if n_patients == 0:
        raise RegistryError(source, "has no Patient resources; a registry needs at least one")
    if progress:
        _report(con, progress)

    tables = registry_tables()
    raw.reset_raw(con, list(tables))
    con.execute(f"insert into raw.source_rejects select * from {SRC}.rejects")
    con.execute(f"insert into raw.source_dispositions select * from {SRC}.dispositions")
    raw.land_adapter_outputs(con, SRC, OUTPUTS, digest, order_by="_src, _src_row")
    return digest


def _read_entries(
    con: duckdb.DuckDBPyConnection, source: str, ndjson: list[Path], bundles: list[Path]
) -> None:
    """`fhir_src.entries(file, line_number, full_url, text)`: one row per NDJSON line and
    per Bundle entry (a file that is one resource, or not JSON at all, is one row)."""
    con.execute(
        f"create or replace table {SRC}.entries "
        "(file varchar, line_number bigint, full_url varchar, text varchar)"
    )
    if ndjson:
        file_list = "[" + ", ".join(_lit(str(p)) for p in ndjson) + "]"
        # One row per line, text as is; insertion order keeps file order, so rowid gives
        # the line number. The separator and quote characters never occur in JSON text.
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
            insert into {SRC}.entries
            select file, (rowid - min(rowid) over (partition by file) + 1)::bigint, null, text
            from {SRC}.raw_lines
            """
        )
        con.execute(f"drop table {SRC}.raw_lines")
    if bundles:
        file_list = "[" + ", ".join(_lit(str(p)) for p in bundles) + "]"
        try:
            con.execute(
                f"""
                insert into {SRC}.entries
                with files as (
                    select parse_filename(filename) as file,
                        case when json_valid(content) then content::json end as doc, content
                    from read_text({file_list})
                ),

                bundle_entries as (
                    select file, unnest(json_extract(doc, '$.entry[*]')) as entry,
                        generate_subscripts(json_extract(doc, '$.entry[*]'), 1) as i
                    from files
                    where doc->>'resourceType' = 'Bundle'
                )

                select file, i, entry->>'fullUrl', (entry->'resource')::varchar
                from bundle_entries
                union all
                -- a file that is one resource, or no JSON object at all
                select file, 1, null, content
                from files
                where doc is null or coalesce(doc->>'resourceType', '') <> 'Bundle'
                """
            )
        except duckdb.Error as exc:
            raise RegistryError(source, f"cannot be read as FHIR JSON ({_describe(exc)})") from None


def _report(con: duckdb.DuckDBPyConnection, progress: Callable[[str], None]) -> None:
    for rtype, n in con.execute(
        f"select resource_type, count(*) from {SRC}.resources group by all order by 1"
    ).fetchall():
        progress(f"  fhir {rtype}: {n:,} resources")
    for rtype, n in con.execute(
        f"select coalesce(resource_type, '(none)'), n from {SRC}.ignored_types order by 1"
    ).fetchall():
        progress(f"  fhir {rtype}: {n:,} resources not read (not used by the audit)")
    n_population, n_patients = con.execute(
        f"select (select count(*) from {SRC}.population), "
        f"(select count(distinct patient_id) from {SRC}.patient_rows)"
    ).fetchall()[0]
    progress(f"  fhir population: {n_population:,} of {n_patients:,} patients have a breast "
             "cancer condition")
