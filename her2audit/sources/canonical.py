"""Reader for the canonical registry extract: a folder of `NAME.csv` or `NAME.parquet`.

File-level problems (a required file or column missing, an unreadable or empty file)
raise `RegistryError` naming the file. Rows the CSV parser cannot split into the
header's columns are kept in `raw.load_rejects` and quarantined later; every other row
lands in `raw.<table>` as text, with its line number in the file.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb

from her2audit.errors import RegistryError
from her2audit.sources import raw
from her2audit.sources.schema import Table, registry_tables

SUFFIXES = (".csv", ".parquet")


def find_table_file(folder: Path, table: Table) -> Path | None:
    found = [
        folder / f"{table.name}{s}" for s in SUFFIXES if (folder / f"{table.name}{s}").exists()
    ]
    if len(found) > 1:
        raise RegistryError(
            str(found[0].parent / table.name),
            f"both {found[0].name} and {found[1].name} exist; keep one of them",
        )
    return found[0] if found else None


def _source_columns(names: list[str], table: Table, path: Path) -> dict[str, str]:
    """Map canonical (trimmed, lower-case) column names to the file's own names."""
    mapping: dict[str, str] = {}
    for name in names:
        key = name.strip().lower()
        if key in mapping:
            raise RegistryError(str(path), f"column {key!r} appears twice in the header")
        mapping[key] = name
    missing = [c for c in table.required_columns if c not in mapping]
    if missing:
        raise RegistryError(
            str(path),
            f"missing required column(s) {', '.join(missing)}; "
            f"the header has {', '.join(names) or 'no columns'}",
        )
    return mapping


def _describe(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0][:300]


def _land_csv(con: duckdb.DuckDBPyConnection, table: Table, path: Path, sha: str) -> int:
    if path.stat().st_size == 0:
        raise RegistryError(str(path), "the file is empty; a CSV needs a header row")
    try:
        with open(path, encoding="utf-8") as f:
            header = f.readline()
    except UnicodeDecodeError:
        raise RegistryError(str(path), "is not UTF-8 text; save the extract as UTF-8 CSV") from None
    if not header.strip():
        raise RegistryError(str(path), "the first line is empty; a CSV needs a header row")
    scan = (
        f"read_csv(?, header = true, all_varchar = true, delim = ',', quote = '\"', "
        f"escape = '\"', store_rejects = true, rejects_table = 'rejects_{table.name}', "
        f"rejects_scan = 'rejects_scan_{table.name}')"
    )
    literal = "'" + str(path).replace("'", "''") + "'"
    scan_sql = scan.replace("?", literal, 1)
    try:
        names = [d[0] for d in con.execute(f"select * from {scan_sql} limit 0").description]
    except duckdb.Error as exc:
        raise RegistryError(str(path), f"cannot be read as CSV ({_describe(exc)})") from None
    mapping = _source_columns(names, table, path)
    try:
        n = raw.land(
            con,
            table,
            f"select row_number() over () as _ordinal, * from {scan_sql}",
            path.name,
            sha,
            "source._ordinal + 1",
            mapping,
        )
        _record_rejects(con, table, path)
    except duckdb.Error as exc:
        raise RegistryError(str(path), f"cannot be read as CSV ({_describe(exc)})") from None
    return n


def _record_rejects(con: duckdb.DuckDBPyConnection, table: Table, path: Path) -> None:
    """Lines the CSV parser rejected (wrong number of fields, bad quoting) go to
    `raw.load_rejects`; the accepted rows' `_row_number` is then corrected to their real
    line in the file (header is line 1), skipping over the rejected lines."""
    con.execute(
        f"""
        insert into raw.load_rejects
        select ?, ?, line,
            string_agg(distinct error_type, '; '),
            string_agg(distinct error_message, '; '),
            any_value(csv_line)
        from rejects_{table.name}
        group by line
        """,
        [table.name, path.name],
    )
    n_rejected = con.execute(
        "select count(*) from raw.load_rejects where source_table = ?", [table.name]
    ).fetchone()[0]
    if n_rejected == 0:
        return
    con.execute(
        "update raw.load_log set n_rejected = ? where source_table = ?", [n_rejected, table.name]
    )
    # Reject k (in line order) at line r_k has r_k - k - 1 accepted rows before it, so it
    # precedes the accepted row with ordinal o exactly when r_k - k <= o.
    con.execute(
        f"""
        update raw.{table.name} as target
        set _row_number = target._row_number + (
            select count(*)
            from (
                select line - row_number() over (order by line) as shift
                from raw.load_rejects
                where source_table = ?
            ) as rejects
            where rejects.shift <= target._row_number - 1
        )
        """,
        [table.name],
    )


def _land_parquet(con: duckdb.DuckDBPyConnection, table: Table, path: Path, sha: str) -> int:
    literal = "'" + str(path).replace("'", "''") + "'"
    try:
        names = [
            d[0] for d in con.execute(f"select * from read_parquet({literal}) limit 0").description
        ]
    except duckdb.Error as exc:
        raise RegistryError(str(path), f"cannot be read as Parquet ({_describe(exc)})") from None
    mapping = _source_columns(names, table, path)
    try:
        return raw.land(
            con,
            table,
            f"select * from read_parquet({literal}, file_row_number = true)",
            path.name,
            sha,
            "source.file_row_number + 1",
            {k: v for k, v in mapping.items() if k != "file_row_number"},
        )
    except duckdb.Error as exc:
        raise RegistryError(str(path), f"cannot be read as Parquet ({_describe(exc)})") from None


def read_folder(con: duckdb.DuckDBPyConnection, folder: Path) -> str:
    """Land every registry table found in `folder` into `raw`. Returns a source fingerprint
    (a hash of the files' own hashes), identical for identical inputs."""
    if not folder.is_dir():
        raise RegistryError(str(folder), "is not a folder; give the registry folder")
    tables = registry_tables()
    raw.reset_raw(con, list(tables))
    fingerprint = hashlib.sha256()
    for table in tables.values():
        path = find_table_file(folder, table)
        if path is None:
            if table.required:
                raise RegistryError(
                    str(folder / f"{table.name}.csv"),
                    f"required table {table.name} is missing; add {table.name}.csv "
                    f"or {table.name}.parquet to the registry folder",
                )
            raw.land_empty(con, table)
            continue
        try:
            sha = raw.file_sha256(path)
        except OSError as exc:
            raise RegistryError(str(path), f"cannot be opened ({exc.strerror})") from None
        fingerprint.update(f"{path.name}:{sha}\n".encode())
        if path.suffix == ".csv":
            n = _land_csv(con, table, path, sha)
        else:
            n = _land_parquet(con, table, path, sha)
        if n == 0 and table.required:
            raise RegistryError(str(path), "has no data rows; a registry needs at least one")
    return fingerprint.hexdigest()
