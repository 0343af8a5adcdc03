"""Reader for the canonical registry extract: a folder of `NAME.csv` or `NAME.parquet`.

File-level problems (a required file or column missing, an unreadable or empty file, a
header naming a column twice, text that is not UTF-8 anywhere in the file) raise
`RegistryError` naming the file (and the line). Rows the CSV parser cannot split into the
header's columns are kept in `raw.load_rejects` and quarantined later; every other row
lands in `raw.<table>` as text, with its line number in the file. A file whose lines end
partly in CRLF and partly in LF is read as if all ended in LF.
"""

from __future__ import annotations

import csv
import hashlib
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

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


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _read_header(path: Path) -> list[str]:
    """The header's column names as written (a name twice, also in another case, is
    refused before DuckDB would rename the second one)."""
    if path.stat().st_size == 0:
        raise RegistryError(str(path), "the file is empty; a CSV needs a header row")
    with open(path, "rb") as f:
        first = f.readline()
    try:
        header = first.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        raise RegistryError(
            str(path), f"line 1 (the header) is not UTF-8 text (byte 0x{first[exc.start]:02x}); "
            "save the extract as UTF-8 CSV"
        ) from None
    if not header.strip():
        raise RegistryError(str(path), "the first line is empty; a CSV needs a header row")
    names = next(csv.reader([header.rstrip("\r\n")]))
    seen: dict[str, str] = {}
    for name in names:
        key = name.strip().lower()
        if key in seen:
            twice = f"{seen[key]!r} and {name!r}" if seen[key] != name else repr(name)
            raise RegistryError(
                str(path), f"the header names column {key!r} twice ({twice}); "
                "keep one of them"
            )
        seen[key] = name
    return names


def mixed_line_ends(path: Path, chunk: int = 1 << 22) -> bool:
    """Whether the file mixes line ends (some lines end CRLF and others LF alone, e.g. rows
    appended by another program). A file without a carriage return, the usual case, is
    settled by one pass looking for a CR alone (a 590 MB file: 0.1 s, against 0.5 s when
    its line ends were counted too); only a file with CRs has its line ends counted."""
    with open(path, "rb") as f:
        if not any(b"\r" in block for block in iter(lambda: f.read(chunk), b"")):
            return False
    n_lf = n_cr = n_crlf = 0
    previous = b""
    with open(path, "rb") as f:
        while block := f.read(chunk):
            n_lf += block.count(b"\n")
            if b"\r" in block or previous == b"\r":
                n_cr += 1
                n_crlf += block.count(b"\r\n") + (previous == b"\r" and block[:1] == b"\n")
            previous = block[-1:]
    return n_cr > 0 and 0 < n_crlf < n_lf


def _with_lf_line_ends(path: Path, folder: Path) -> Path:
    """A copy of `path` in `folder` with every CRLF turned into LF (same lines, so the
    same line numbers); DuckDB's CSV reader expects one kind of line end per file."""
    copy = folder / path.name
    with open(path, "rb") as src, open(copy, "wb") as dst:
        carry = b""
        while block := src.read(1 << 22):
            block = carry + block
            carry = b"\r" if block.endswith(b"\r") else b""
            dst.write(block[: len(block) - len(carry)].replace(b"\r\n", b"\n"))
        dst.write(carry)
    return copy


def _csv_scan(table: Table, path: Path) -> str:
    return (
        f"read_csv({_literal(str(path))}, header = true, all_varchar = true, delim = ',', "
        f"quote = '\"', escape = '\"', store_rejects = true, "
        f"rejects_table = 'rejects_{table.name}', rejects_scan = 'rejects_scan_{table.name}')"
    )


def _land_csv(
    con: duckdb.DuckDBPyConnection, table: Table, path: Path, sha: Callable[[], str],
    mixed: bool,
) -> int:
    names = _read_header(path)
    _source_columns(names, table, path)
    with tempfile.TemporaryDirectory(prefix="her2audit-") as tmp:
        readable = _with_lf_line_ends(path, Path(tmp)) if mixed else path
        scan = _csv_scan(table, readable)
        try:
            duck_names = [d[0] for d in con.execute(f"select * from {scan} limit 0").description]
        except duckdb.Error as exc:
            raise RegistryError(str(path), f"cannot be read as CSV ({_describe(exc)})") from None
        # DuckDB names the columns as the header does (we refused repeated names above)
        mapping = _source_columns(duck_names, table, path)
        try:
            n = raw.land_in_order(con, table, f"select * from {scan}", path.name, sha, mapping)
            _record_rejects(con, table, path)
        except duckdb.Error as exc:
            raise RegistryError(str(path), f"cannot be read as CSV ({_describe(exc)})") from None
    return n


def _record_rejects(con: duckdb.DuckDBPyConnection, table: Table, path: Path) -> None:
    """Lines the CSV parser rejected (wrong number of fields, bad quoting) go to
    `raw.load_rejects`, and the accepted rows' line numbers skip over them. A line that is
    not UTF-8 stops the read instead: it would otherwise drop a row (and with it, in
    effect, its patient) for an encoding the extract can fix."""
    bad_text = con.execute(
        f"select min(line) from rejects_{table.name} where error_type = 'INVALID ENCODING'"
    ).fetchall()[0][0]
    if bad_text is not None:
        raise RegistryError(
            str(path), f"line {bad_text} is not UTF-8 text; save the extract as UTF-8 CSV "
            "(re-export it, or convert it from Latin-1/Windows-1252, e.g. with iconv)"
        )
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
    ).fetchall()[0][0]
    if n_rejected:
        con.execute(
            "update raw.load_log set n_rejected = ? where source_table = ?",
            [n_rejected, table.name],
        )
        raw.number_rows_around_rejects(con, table)


def _land_parquet(con: duckdb.DuckDBPyConnection, table: Table, path: Path, sha: str) -> int:
    literal = _literal(str(path))
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
    with ThreadPoolExecutor(max_workers=1) as hasher:
        for table in tables.values():
            _land_table(con, folder, table, hasher, fingerprint)
    return fingerprint.hexdigest()


def _land_table(con: duckdb.DuckDBPyConnection, folder: Path, table: Table,
                hasher: ThreadPoolExecutor, fingerprint: Any) -> None:
    """Land one registry table's file (or an empty table for a missing optional one) and
    add the file's hash to the source fingerprint."""
    path = find_table_file(folder, table)
    if path is None:
        if table.required:
            raise RegistryError(
                str(folder / f"{table.name}.csv"),
                f"required table {table.name} is missing; add {table.name}.csv "
                f"or {table.name}.parquet to the registry folder",
            )
        raw.land_empty(con, table)
        return
    try:
        if path.suffix == ".csv":
            # the file is hashed in a thread while DuckDB reads it
            hashing = hasher.submit(raw.file_sha256, path)
            n = _land_csv(con, table, path, hashing.result, mixed_line_ends(path))
            sha = hashing.result()
        else:
            sha = raw.file_sha256(path)
            n = _land_parquet(con, table, path, sha)
    except OSError as exc:
        raise RegistryError(str(path), f"cannot be opened ({exc.strerror})") from None
    fingerprint.update(f"{path.name}:{sha}\n".encode())
    if n == 0 and table.required:
        raise RegistryError(str(path), "has no data rows; a registry needs at least one")
