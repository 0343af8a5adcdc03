"""`her2audit sql`: read-only SQL on the published warehouse, without a DuckDB CLI.

One query's result is printed as a table or written as CSV, JSON (an array of objects) or
Parquet; without a query, an interactive prompt with line editing and a history file
(`$XDG_STATE_HOME/her2audit/sql_history`, by default `~/.local/state/...`).

The warehouse is opened read-only: a run never waits for it (a run publishes by renaming its
work file over the warehouse) and it never waits for a run. An open prompt keeps the
snapshot it opened until a run publishes; its next query then reconnects and says so.
"""

from __future__ import annotations

import cmd
import contextlib
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

import duckdb

from her2audit import environment
from her2audit.errors import EnvironmentFault, UsageError

FORMATS = ("table", "csv", "json", "parquet")
DEFAULT_MAX_ROWS = 100
HISTORY_LENGTH = 2000


def history_file() -> Path:
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "her2audit" / "sql_history"


def open_published(db: Path) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the published warehouse `db` (exit 2 when it cannot be)."""
    db = Path(db)
    if db.is_dir():
        raise EnvironmentFault(f"{db}: is a folder; --db names the warehouse file")
    if not db.is_file():
        raise UsageError(f"{db}: no such warehouse file (a run publishes it: her2audit run)")
    try:
        con = duckdb.connect(str(db), read_only=True)
    except duckdb.Error as exc:
        raise environment.fault_from(exc, db) or UsageError(
            f"{db}: cannot open the warehouse ({_first_line(exc)})") from None
    con.execute("set enable_progress_bar = false")
    return con


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _relation(con: duckdb.DuckDBPyConnection, query: str) -> duckdb.DuckDBPyRelation | None:
    try:
        return con.sql(query)
    except duckdb.Error as exc:
        raise UsageError(f"query failed: {_first_line(exc)}") from None


def run_query(db: Path, query: str, fmt: str = "table", out: Path | None = None,
              max_rows: int = DEFAULT_MAX_ROWS, stdout: TextIO | None = None) -> None:
    """Run one query on the published warehouse and print or write its result."""
    if fmt not in FORMATS:
        raise UsageError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if fmt == "parquet" and out is None:
        raise UsageError("--format parquet needs --out FILE")
    if out is not None:
        environment.check_writable_folder(Path(out).parent, "the folder of --out")
        if Path(out).is_dir():
            raise EnvironmentFault(f"{out}: is a folder; --out names the file to write")
    stdout = stdout or sys.stdout
    con = open_published(db)
    try:
        rel = _relation(con, query)
        if rel is None:
            print("ok", file=stdout)
            return
        if fmt == "table":
            _print_table(rel, max_rows, stdout)
        else:
            _write(con, rel, fmt, out, stdout)
    finally:
        con.close()


def _print_table(rel: duckdb.DuckDBPyRelation, max_rows: int, stdout: TextIO) -> None:
    """The first `max_rows` rows as a box table (every column: as wide as the terminal when
    there is one)."""
    rows = rel.limit(max_rows + 1).to_arrow_table()
    if not rows.num_rows:
        print(f"(no rows; columns: {', '.join(rel.columns)})", file=stdout)
        return
    shown = rows.slice(0, max_rows)
    width = shutil.get_terminal_size((10_000, 24)).columns if stdout.isatty() else 10_000
    with duckdb.connect() as view, contextlib.redirect_stdout(stdout):
        view.from_arrow(shown).show(max_rows=max_rows, max_width=width)
    if rows.num_rows > max_rows:
        print(f"(first {max_rows} rows shown; --max-rows N for more, or --format csv)",
              file=stdout)


def _write(con: duckdb.DuckDBPyConnection, rel: duckdb.DuckDBPyRelation, fmt: str,
           out: Path | None, stdout: TextIO) -> None:
    """The result as a file (CSV with a header, JSON as an array of objects, Parquet), or
    as CSV or JSON text on the terminal: the same writer either way (DuckDB's COPY)."""
    table = rel.to_arrow_table()
    options = {"csv": "format csv, header true", "json": "format json, array true",
               "parquet": "format parquet, compression snappy"}[fmt]
    if out is None:
        with tempfile.TemporaryDirectory(prefix="her2audit-sql-") as tmp:
            path = Path(tmp) / f"result.{fmt}"
            _copy(con, table, path, options)
            stdout.write(path.read_text(encoding="utf-8"))
        return
    out = Path(out)
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        _copy(con, table, tmp, options)
        os.replace(tmp, out)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        fault = environment.fault_from(exc, out)
        if fault is not None:
            raise fault from None
        raise
    print(f"{table.num_rows:,} rows written to {out}", file=sys.stderr)


def _copy(con: duckdb.DuckDBPyConnection, table, path: Path, options: str) -> None:
    con.register("sql_result", table)
    try:
        con.execute(f"copy (select * from sql_result) to '{_quoted(path)}' ({options})")
    finally:
        con.unregister("sql_result")


def _quoted(path: Path) -> str:
    return str(path).replace("'", "''")


class Shell(cmd.Cmd):
    """The interactive prompt: SQL statements end with `;`; `.tables`, `.schema TABLE`,
    `.help`, `.quit`."""

    intro = ("her2audit sql: read-only SQL on {db}\n"
             "End a statement with ';'. .tables lists the tables, .schema TABLE its columns "
             "and their descriptions, .quit (or Ctrl-D) leaves.")
    prompt = "her2audit> "
    continuation = "      ...> "

    def __init__(self, db: Path, max_rows: int = DEFAULT_MAX_ROWS) -> None:
        super().__init__()
        self.db = Path(db)
        self.max_rows = max_rows
        self.pending: list[str] = []
        self.con = open_published(self.db)
        self.identity = self._identity()
        self.intro = self.intro.format(db=self.db)

    def _identity(self) -> tuple[int, int] | None:
        try:
            st = self.db.stat()
        except OSError:
            return None
        return st.st_ino, st.st_mtime_ns

    def _fresh(self) -> None:
        """Reconnect when a run has published since the connection was opened."""
        now = self._identity()
        if now is not None and now != self.identity:
            self.con.close()
            self.con = open_published(self.db)
            self.identity = now
            print("(a run published since the last query: reconnected to the new warehouse)")

    def default(self, line: str) -> bool:
        self.pending.append(line)
        text = "\n".join(self.pending).strip()
        if not text.endswith(";"):
            self.prompt = self.continuation
            return False
        self.pending, self.prompt = [], Shell.prompt
        self._fresh()
        try:
            rel = self.con.sql(text)
            if rel is None:
                print("ok")
            else:
                _print_table(rel, self.max_rows, sys.stdout)
        except duckdb.Error as exc:
            print(f"error: {_first_line(exc)}")
        return False

    def onecmd(self, line: str) -> bool:
        stripped = line.strip()
        if not self.pending and stripped.startswith("."):
            name, _, arg = stripped[1:].partition(" ")
            handler = getattr(self, f"dot_{name}", None)
            if handler is None:
                print(f"unknown command .{name}; .help lists them")
                return False
            return bool(handler(arg.strip()))
        if stripped == "EOF":
            print()
            return True
        if not stripped and not self.pending:
            return False
        return self.default(line)

    def dot_help(self, _: str) -> None:
        print(".tables            the tables of audit and share (and raw, staging)\n"
              ".schema TABLE      columns of schema.table with their types and descriptions\n"
              ".quit              leave")

    def dot_tables(self, _: str) -> None:
        self._fresh()
        _print_table(self.con.sql(
            "select schema_name as schema, table_name as table, estimated_size as rows, "
            "comment as description from duckdb_tables() "
            "where database_name = current_database() order by all"), 10_000, sys.stdout)

    def dot_schema(self, arg: str) -> None:
        self._fresh()
        schema, _, table = arg.rpartition(".")
        _print_table(self.con.sql(
            "select column_name as column, data_type as type, comment as description "
            "from duckdb_columns() where database_name = current_database() "
            "and table_name = ? and (? = '' or schema_name = ?) order by column_index",
            params=[table, schema, schema]), 10_000, sys.stdout)

    def dot_quit(self, _: str) -> bool:
        return True

    dot_exit = dot_quit

    def close(self) -> None:
        self.con.close()


@contextlib.contextmanager
def _history() -> Iterator[None]:
    try:
        import readline
    except ImportError:  # no line editing on this platform: the prompt still works
        yield
        return
    path = history_file()
    with contextlib.suppress(OSError):
        readline.read_history_file(path)
    readline.set_history_length(HISTORY_LENGTH)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            path.parent.mkdir(parents=True, exist_ok=True)
            readline.write_history_file(path)


def interactive(db: Path, max_rows: int = DEFAULT_MAX_ROWS) -> None:
    shell = Shell(db, max_rows)
    try:
        with _history():
            shell.cmdloop()
    finally:
        shell.close()
