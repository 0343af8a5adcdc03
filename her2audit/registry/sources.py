"""Choose the adapter for a registry SOURCE (a folder or a URI) and land it in `raw`."""

from __future__ import annotations

from pathlib import Path

import duckdb

from her2audit.errors import RegistryError
from her2audit.registry import canonical


def land_registry(con: duckdb.DuckDBPyConnection, source: str) -> str:
    """Land the registry in `raw`; returns the source fingerprint."""
    path = Path(source)
    if path.is_dir():
        return canonical.read_folder(con, path)
    if not path.exists():
        raise RegistryError(source, "no such folder; give a registry folder or a source URI")
    raise RegistryError(source, "is a file, not a registry folder; give the folder that holds it")
