"""Choose the adapter for a registry SOURCE (a folder or a URI) and land it in `raw`.

| SOURCE | adapter |
|---|---|
| a folder with `patients.csv`/`.parquet` … | canonical reader (`canonical.py`) |
| a folder with OMOP tables (`person.csv`/`.parquet` …) | OMOP CDM from files (`omop.py`) |
| `postgresql://user@host:port/db?schema=cdm` | OMOP CDM from PostgreSQL (`omop.py`) |
| `fhir:DIR` | FHIR R4 bulk export, NDJSON (`fhir.py`) |
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import duckdb

from her2audit.errors import RegistryError
from her2audit.sources import canonical

POSTGRES_SCHEMES = ("postgresql://", "postgres://")
FHIR_PREFIX = "fhir:"


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def display_source(source: str) -> str:
    """SOURCE as it may be shown or recorded (a database password replaced by ***)."""
    if source.lower().startswith(POSTGRES_SCHEMES):
        from her2audit.sources.omop import redact

        return redact(source)
    return source


def land_registry(
    con: duckdb.DuckDBPyConnection,
    source: str,
    progress: Callable[[str], None] = _progress,
) -> str:
    """Land the registry in `raw`; returns the source fingerprint."""
    if source.lower().startswith(POSTGRES_SCHEMES):
        from her2audit.sources import omop

        return omop.read_postgres(con, source, progress)
    if source.lower().startswith(FHIR_PREFIX):
        from her2audit.sources import fhir

        folder = Path(source[len(FHIR_PREFIX):])
        return fhir.read_folder(con, folder, progress)
    check_source(source)
    path = Path(source)
    from her2audit.sources import omop

    if omop.is_omop_folder(path) and canonical.find_table_file(path, _patients_table()) is None:
        return omop.read_folder(con, path, progress)
    return canonical.read_folder(con, path)


def check_source(source: str) -> None:
    """Refuse a SOURCE that cannot be a registry before anything is written (exit 2): a
    missing folder, a file, an unknown URI scheme. A database URI is checked on reading."""
    if source.lower().startswith(POSTGRES_SCHEMES):
        return
    if source.lower().startswith(FHIR_PREFIX):
        if not Path(source[len(FHIR_PREFIX):]).is_dir():
            raise RegistryError(source, "is not a folder; give fhir:FOLDER holding the NDJSON "
                                        "files")
        return
    if "://" in source:
        raise RegistryError(
            display_source(source),
            "unknown source type; give a registry folder, postgresql://…?schema=NAME "
            "or fhir:FOLDER",
        )
    path = Path(source)
    if path.is_dir():
        return
    if not path.exists():
        raise RegistryError(source, "no such folder; give a registry folder or a source URI")
    raise RegistryError(source, "is a file, not a registry folder; give the folder that holds it")


def _patients_table():
    from her2audit.sources.schema import registry_tables

    return registry_tables()["patients"]
