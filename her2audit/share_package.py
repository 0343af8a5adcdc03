"""A centre's `share` layer as a package that can leave the registry: one Parquet file per
`share` table and a manifest (`her2audit share --db FILE --out DIR`). Network audits merge
such packages (`verify` is what a receiver checks first).

The Parquet files are written plainly (format version 1, Snappy, no DuckDB-only types: JSON
as text, 64-bit integers), so any DuckDB (1.x too), Arrow, pandas, Spark or BI tool reads
them. `manifest.json`:

```json
{
  "format": "her2audit-share-package",
  "format_version": 1,
  "created_at": "2026-06-30T12:00:00Z",
  "centre": "centre-a",
  "software": {"name": "her2audit", "version": "0.1.0"},
  "run": {"run_id": "...", "started_at": "...", "source_fingerprint": "<sha256>",
          "data_cutoff_month": "2026-05", "parameters": {"max_gap_days": 120, "...": "..."}},
  "rulebooks": [{"id": "her2-mbc-2023", "version": "2023.1", "sha256": "<sha256>"}],
  "suppression": {"threshold": 11, "rule": "..."},
  "life_table_interval_days": 30.4375,
  "tables": [{"name": "quality_indicators", "file": "quality_indicators.parquet",
              "rows": 123, "sha256": "<sha256 of the file>", "description": "...",
              "counts": ["numerator", "denominator"],
              "columns": [{"name": "indicator", "type": "VARCHAR", "description": "..."}]}]
}
```
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq

from her2audit import __version__, disclosure, environment, warehouse
from her2audit.errors import EnvironmentFault, UsageError

FORMAT = "her2audit-share-package"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
IDENTIFYING_COLUMNS = ("patient_id", "record_key", "record_id", "birth_date", "death_date")
SUPPRESSION_RULE = (
    "Every count from 1 to 10 is hidden (null); so is every count that would give one away "
    "by subtraction along the table's margins and equations (complementary suppression, "
    "checked exactly). Statistics computed from a hidden count are hidden with it. Survival "
    "curves are life tables on calendar months merged until no interval has from 1 to 10 "
    "events or censorings.")


def count_columns() -> dict[str, list[str]]:
    """The count columns of every share table (what a receiver checks for 1–10)."""
    from her2audit.stages import share

    out = {}
    for spec in share.load_spec().tables:
        out[spec.name] = list(spec.counts)
    concordance = out.pop("concordance", [])
    for name in ("concordance_by_line", "concordance_by_site", "concordance_by_year"):
        out[name] = concordance
    out["survival_curves"] = ["n_at_risk", "n_events", "n_censored"]
    return out


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _plain_select(con: duckdb.DuckDBPyConnection, table: str) -> str:
    """`select` of a share table with every column in a type all Parquet readers know."""
    cols = []
    for name, dtype in con.execute(
            "select column_name, data_type from duckdb_columns() where database_name = "
            "current_database() and schema_name = 'share' and table_name = ? "
            "order by column_index", [table]).fetchall():
        quoted = f'"{name}"'
        if dtype == "JSON" or dtype.startswith(("UUID", "INTERVAL", "BIT", "ENUM")):
            cols.append(f"{quoted}::varchar as {quoted}")
        elif dtype in ("HUGEINT", "UHUGEINT", "UBIGINT"):
            cols.append(f"{quoted}::bigint as {quoted}")
        elif dtype.startswith("TIMESTAMP"):
            cols.append(f"{quoted}::timestamp as {quoted}")
        else:
            cols.append(quoted)
    return f"select {', '.join(cols)} from share.{table}"


def write(db: Path, out: Path, centre: str | None = None) -> Path:
    """Write the share package of the published warehouse `db` into `out`; returns the
    manifest's path. Files are written aside and moved in, the manifest last."""
    from her2audit.sql_shell import open_published

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise EnvironmentFault(f"{out}: is a file; --out names the folder of the package")
    environment.check_writable_folder(out, "the package folder")
    con = open_published(Path(db))
    staging = out.with_name(f".{out.name}.writing")
    try:
        tables = warehouse.table_names(con, warehouse.SHARE)
        if "run" not in tables:
            raise UsageError(f"{db}: no share layer (schema share is empty); publish a run "
                             "with this version first: her2audit run")
        if staging.exists():
            shutil.rmtree(staging)
        staging.mkdir(parents=True)
        manifest = _manifest(con, tables, staging, centre)
        out.mkdir(parents=True, exist_ok=True)
        for entry in manifest["tables"]:
            os.replace(staging / entry["file"], out / entry["file"])
        _write_json(out / MANIFEST, manifest)
    except BaseException as exc:
        fault = environment.fault_from(exc, out)
        if fault is not None:
            raise fault from None
        raise
    finally:
        con.close()
        shutil.rmtree(staging, ignore_errors=True)
    return out / MANIFEST


def _manifest(con: duckdb.DuckDBPyConnection, tables: list[str], folder: Path,
              centre: str | None) -> dict[str, Any]:
    run = dict(zip([d[0] for d in con.execute("select * from share.run").description],
                   con.execute("select * from share.run").fetchone(), strict=True))
    counts = count_columns()
    entries = []
    for table in tables:
        path = folder / f"{table}.parquet"
        con.execute(f"copy ({_plain_select(con, table)}) to '{_quoted(path)}' "
                    "(format parquet, compression snappy, parquet_version v1)")
        described = con.execute(
            "select comment from duckdb_tables() where database_name = current_database() "
            "and schema_name = 'share' and table_name = ?", [table]).fetchone()
        columns = [{"name": n, "type": t, "description": c} for n, t, c in con.execute(
            "select column_name, data_type, comment from duckdb_columns() where database_name "
            "= current_database() and schema_name = 'share' and table_name = ? "
            "order by column_index", [table]).fetchall()]
        entries.append({
            "name": table, "file": path.name, "rows": pq.ParquetFile(path).metadata.num_rows,
            "sha256": _sha256(path), "description": described[0] if described else None,
            "counts": [c for c in counts.get(table, []) if c in {x["name"] for x in columns}],
            "columns": columns,
        })
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "created_at": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
        .replace("+00:00", "Z"),
        "centre": centre,
        "software": {"name": "her2audit", "version": run.get("software_version") or __version__},
        "run": {
            "run_id": run["run_id"],
            "started_at": run["started_at"].isoformat() if run.get("started_at") else None,
            "source_fingerprint": run.get("source_fingerprint"),
            "data_cutoff_month": run.get("data_cutoff_month"),
            "parameters": json.loads(run["parameters"]) if run.get("parameters") else {},
        },
        "rulebooks": json.loads(run["rulebooks"]) if run.get("rulebooks") else [],
        "suppression": {"threshold": run.get("suppression_threshold", disclosure.THRESHOLD),
                        "rule": SUPPRESSION_RULE},
        "life_table_interval_days": run.get("life_table_interval_days"),
        "tables": entries,
    }


def _quoted(path: Path) -> str:
    return str(path).replace("'", "''")


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def read_manifest(folder: Path) -> dict[str, Any]:
    """The manifest of the package in `folder` (exit 2 when there is none or it is not one)."""
    path = Path(folder) / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file; not a share package") from None
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path}: not a readable manifest ({exc})") from None
    if manifest.get("format") != FORMAT:
        raise UsageError(f"{path}: not a her2audit share package (format "
                         f"{manifest.get('format')!r})")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise UsageError(f"{path}: package format version {manifest.get('format_version')}, "
                         f"this software reads version {FORMAT_VERSION}")
    return manifest


def verify(folder: Path) -> dict[str, Any]:
    """Check a package before using it: every file present with its checksum, no column
    that identifies a patient, no count from 1 to 10. Returns the manifest; raises a
    one-line error (exit 2) naming the file and the problem."""
    return verify_all([Path(folder)])[0]


def verify_all(folders: Sequence[Path]) -> list[dict[str, Any]]:
    """`verify` of many packages at once; returns their manifests in order. Each file's
    presence and checksum is checked file by file (the bytes must be read anyway); the
    columns and counts of every package are checked set-based, in DuckDB: one
    `parquet_schema` over all files, and one `read_parquet` per table name over all
    packages' files of that table, so a network of 100 packages costs a few scans."""
    manifests = [read_manifest(Path(folder)) for folder in folders]
    files: list[tuple[str, str, int, list[str]]] = []  # file, table name, threshold, counts
    for folder, manifest in zip(folders, manifests, strict=True):
        threshold = int(manifest.get("suppression", {}).get("threshold")
                        or disclosure.THRESHOLD)
        for entry in manifest.get("tables", []):
            path = Path(folder) / entry["file"]
            if not path.is_file():
                raise UsageError(f"{path}: missing (listed in {MANIFEST})")
            if _sha256(path) != entry["sha256"]:
                raise UsageError(f"{path}: checksum does not match {MANIFEST}; the file "
                                 "changed after the package was written")
            files.append((str(path), str(entry["name"]), threshold,
                           [str(c) for c in entry.get("counts", [])]))
    if files:
        con = duckdb.connect()
        try:
            _check_columns_and_counts(con, files)
        except duckdb.Error as exc:
            raise UsageError(f"cannot check the packages' Parquet files ({exc}); a file "
                             "is not Parquet, or a count column is not numeric") from None
        finally:
            con.close()
    return manifests


def _ident(name: str) -> str:
    """A quoted SQL identifier (column names come from the package's own files)."""
    return '"' + name.replace('"', '""') + '"'


def _check_columns_and_counts(con: duckdb.DuckDBPyConnection,
                              files: list[tuple[str, str, int, list[str]]]) -> None:
    """No identifying column in any file; no count from 1 to threshold - 1 in the count
    columns the manifests name (raises the first problem found, naming its file)."""
    names = [f[0] for f in files]
    columns: dict[str, set[str]] = {name: set() for name in names}
    for file, column in con.execute("select file_name, name from parquet_schema(?)",
                                    [names]).fetchall():
        columns[file].add(column)
    for file in names:
        identifying = [c for c in IDENTIFYING_COLUMNS if c in columns[file]]
        if identifying:
            raise UsageError(f"{file}: holds {', '.join(identifying)}, which identifies "
                             "patients")
    by_table: dict[str, list[tuple[str, list[str]]]] = {}
    threshold_of = {file: threshold for file, _, threshold, _ in files}
    for file, table, _, counts in files:
        present = [c for c in counts if c in columns[file]]
        if present:
            by_table.setdefault(table, []).append((file, present))
    # one query: per table name, its count columns over every package's file of it
    # (union_by_name: a column some files lack is null there), unpivoted to one value a row
    parts, params = [], []
    for entries in by_table.values():
        counted = sorted({c for _, present in entries for c in present})
        parts.append(
            f"""
            select filename, count_column, count_value from (
                unpivot (
                    select filename,
                        {", ".join(f"{_ident(c)}::double as {_ident(c)}" for c in counted)}
                    from read_parquet(?, filename = true, union_by_name = true)
                ) on {", ".join(_ident(c) for c in counted)}
                into name count_column value count_value
            )""")
        params.append([file for file, _ in entries])
    if not parts:
        return
    found = con.execute(
        f"""
        with package_files as (
            select unnest(?::varchar[]) as file, unnest(?::integer[]) as threshold
        ),
        counts as ({" union all ".join(parts)})
        select counts.filename, counts.count_column, counts.count_value
        from counts
        inner join package_files on counts.filename = package_files.file
        where counts.count_value > 0 and counts.count_value < package_files.threshold
        order by counts.filename, counts.count_column
        """,
        [list(threshold_of), list(threshold_of.values()), *params],
    ).fetchall()
    # a file's counts that its manifest names (the others are null after union_by_name)
    wanted = {(file, c) for entries in by_table.values() for file, present in entries
              for c in present}
    for file, column, value in found:
        if (file, column) in wanted:
            shown = int(value) if float(value).is_integer() else value
            raise UsageError(f"{file}: column {column} holds a count from 1 to "
                             f"{threshold_of[file] - 1} ({shown}); the package is not "
                             "suppressed")
