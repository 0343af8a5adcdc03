"""Landing data in the `raw` schema: every source adapter ends here.

A raw table has the registry columns as text (canonical names, lower case), any extra
source columns, and the load metadata `_source_file`, `_row_number`, `_file_sha256`,
`_loaded_at`. Its text is trimmed, and empty text is NULL. Spec columns a source left out
are added as NULL so staging SQL sees one shape. Rows a source could not parse at all land
in `raw.load_rejects`.

Next to each `raw.<table>`, the view `raw.<table>_as_read` has the same columns with the
text as landed: for a CSV file as written in the file (untrimmed); for the other sources,
which land clean text, the same rows as `raw.<table>`. A CSV is landed as written
(`raw.<table>_rows`) and trimmed when `raw.<table>` is read, so a reader that works on the
distinct values of a column (the treatments' drug texts: a few thousand among 100 million
rows) can trim each distinct value once instead of every row.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from pathlib import Path

import duckdb

from her2audit import warehouse
from her2audit.sources.schema import Table, registry_tables

META_COLUMNS = ("_source_file", "_row_number", "_file_sha256", "_loaded_at")

REJECTS_DDL = """
create table if not exists raw.load_rejects (
    source_table varchar,
    source_file varchar,
    line bigint,
    error_type varchar,
    error_message varchar,
    csv_line varchar
)
"""

# Source records an adapter (OMOP, FHIR) read but cannot use; staging adds them to the
# quarantine and row accounting counts them under `source_table` (a canonical table).
SOURCE_REJECTS_DDL = """
create table raw.source_rejects (
    source_table varchar,
    record_key varchar,
    rule varchar,
    detail varchar
)
"""


# Source rows an adapter (OMOP, FHIR) accounted for without landing them as rows of
# their own, counted per canonical table (`source_table`) and source table or resource
# type (`source_name`): `out_of_scope` rows (with the reason: no breast cancer diagnosis,
# an observation or drug the audit does not use, ...) and `combined` rows, folded into a
# staged row of the patient (`patient_id`; further breast cancer conditions, stage and
# M-category observations -> the one diagnoses row). Staging adds them to
# build.row_accounting; publish turns `combined` rows into `used` or `out_of_scope` by
# the patient's cohort membership.
SOURCE_DISPOSITIONS_DDL = """
create table raw.source_dispositions (
    source_table varchar,
    source_name varchar,
    patient_id varchar,
    disposition varchar,
    reason varchar,
    n_rows bigint
)
"""


def file_sha256(path: Path, chunk: int = 1 << 22) -> str:
    """The file's SHA-256 (hashlib releases the GIL: it can run beside a DuckDB read)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def drop_relation(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> None:
    """Drop `schema.name`, a table or a view, if it exists."""
    kind = con.execute(
        "select 'view' from duckdb_views() where schema_name = $1 and view_name = $2 "
        "and database_name = current_database() union all "
        "select 'table' from duckdb_tables() where schema_name = $1 and table_name = $2 "
        "and database_name = current_database()",
        [schema, name],
    ).fetchall()
    for (k,) in kind:
        con.execute(f"drop {k} if exists {schema}.{quote_ident(name)}")


def reset_raw(con: duckdb.DuckDBPyConnection, tables: list[str]) -> None:
    for name in tables:
        drop_relation(con, "raw", as_read(name))
        drop_relation(con, "raw", name)
        drop_relation(con, "raw", rows_table(name))
        drop_relation(con, "raw", f"{name}_reject_shifts")
    con.execute("drop table if exists raw.load_rejects")
    con.execute(REJECTS_DDL)
    con.execute("drop table if exists raw.source_rejects")
    con.execute(SOURCE_REJECTS_DDL)
    con.execute("drop table if exists raw.source_dispositions")
    con.execute(SOURCE_DISPOSITIONS_DDL)
    con.execute("drop table if exists raw.load_log")
    con.execute(
        "create table raw.load_log (source_table varchar, source_file varchar, "
        "file_sha256 varchar, n_rows bigint, n_rejected bigint, loaded_at timestamp)"
    )


def land(
    con: duckdb.DuckDBPyConnection,
    table: Table,
    select_sql: str,
    source_file: str,
    sha256: str,
    row_number_sql: str,
    source_columns: dict[str, str],
    source_file_sql: str | None = None,
) -> int:
    """Create `raw.<table>` from `select_sql` (a query over the source).

    `source_columns` maps canonical lower-case names to the source's column names;
    `row_number_sql` is the expression giving each row's position in its source.
    `source_file_sql`, when given, is an expression naming each row's own source (an
    adapter whose rows come from several source tables or files); otherwise every row
    gets `source_file`. Returns the number of rows landed.
    """
    loaded_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    select_list = _text_columns(table, source_columns)
    con.execute(
        f"""
        create or replace table raw.{table.name} as
        select
            {", ".join(select_list)},
            {source_file_sql or "?::varchar"} as _source_file,
            {row_number_sql} as _row_number,
            ?::varchar as _file_sha256,
            ?::timestamp as _loaded_at
        from ({select_sql}) as source
        """,
        ([] if source_file_sql else [source_file]) + [sha256, loaded_at],
    )
    _create_as_read_alias(con, table.name)
    n = con.execute(f"select count(*) from raw.{table.name}").fetchall()[0][0]
    n_rejected = con.execute(
        "select (select count(*) from raw.load_rejects where source_table = $1) "
        "+ (select count(*) from raw.source_rejects where source_table = $1)",
        [table.name],
    ).fetchall()[0][0]
    con.execute(
        "insert into raw.load_log values (?, ?, ?, ?, ?, ?)",
        [table.name, source_file, sha256, n, n_rejected, loaded_at],
    )
    return n


def rows_table(name: str) -> str:
    """The table holding a file's rows in file order, under the `raw.<name>` view."""
    return f"{name}_rows"


def as_read(name: str) -> str:
    """The view of `raw.<name>` with its text as the source gave it (untrimmed)."""
    return f"{name}_as_read"


def clean_text(expression: str) -> str:
    """Text as `raw` holds it: trimmed, and NULL when empty (the SQL macro `clean_text`
    of the staging steps is the same expression)."""
    return f"nullif(trim({expression}), '')"


def _create_as_read_alias(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """`raw.<name>_as_read` over a raw table whose text is already clean (an adapter's
    output, an empty table): the same rows, for readers of the as-read text."""
    con.execute(f"create or replace view raw.{as_read(name)} as select * from raw.{name}")


def _text_columns(table: Table, source_columns: dict[str, str],
                  clean: bool = True) -> list[str]:
    def text(src: str) -> str:
        value = f"cast({quote_ident(src)} as varchar)"
        return clean_text(value) if clean else value

    select_list = [f"{text(src)} as {quote_ident(canon)}" for canon, src in source_columns.items()]
    select_list += [
        f"null::varchar as {quote_ident(c)}" for c in table.column_names if c not in source_columns
    ]
    return select_list


def land_in_order(
    con: duckdb.DuckDBPyConnection,
    table: Table,
    select_sql: str,
    source_file: str,
    sha256: str | Callable[[], str],
    source_columns: dict[str, str],
) -> int:
    """Land a file whose rows come in file order (a CSV scan): `raw.<table>_rows` holds
    the text as read in that order; the view `raw.<table>_as_read` adds the load metadata,
    the row's line number being its position in the table (`rowid`) after the header
    line, and the view `raw.<table>` cleans the text (`clean_text`) as it is read.

    No window numbers the rows, so DuckDB reads and writes the file in parallel; rows
    the parser rejected are numbered around by `number_rows_around_rejects`. `sha256` may
    be a function giving the file's hash once the rows are in (hashing beside the read).
    """
    loaded_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    rows = f"raw.{rows_table(table.name)}"
    with warehouse.settings(con, preserve_insertion_order=True):
        columns = ", ".join(_text_columns(table, source_columns, clean=False))
        con.execute(
            f"create or replace table {rows} as select {columns} from ({select_sql}) as source"
        )
    if callable(sha256):
        sha256 = sha256()
    _create_row_view(con, table, source_file, sha256, loaded_at, "rows.rowid + 2")
    n = con.execute(f"select count(*) from {rows}").fetchall()[0][0]
    con.execute(
        "insert into raw.load_log values (?, ?, ?, ?, 0, ?)",
        [table.name, source_file, sha256, n, loaded_at],
    )
    return n


def _create_row_view(
    con: duckdb.DuckDBPyConnection, table: Table, source_file: str, sha256: str,
    loaded_at: dt.datetime, row_number_sql: str, joins: str = "",
) -> None:
    """The views `raw.<table>_as_read` (the landed text and the load metadata) and
    `raw.<table>` (the same, its text cleaned) over `raw.<table>_rows`."""
    extra = [
        c for (c,) in con.execute(
            "select column_name from information_schema.columns where table_schema = 'raw' "
            "and table_name = ? and table_catalog = current_database() order by ordinal_position",
            [rows_table(table.name)],
        ).fetchall()
        if c not in table.column_names
    ]
    names = [*table.column_names, *extra]

    def text(value: str) -> str:
        return "'" + value.replace("'", "''") + "'"

    con.execute(
        f"""
        create or replace view raw.{as_read(table.name)} as
        select {", ".join(f"rows.{quote_ident(c)}" for c in names)},
            {text(source_file)}::varchar as _source_file,
            ({row_number_sql})::bigint as _row_number,
            {text(sha256)}::varchar as _file_sha256,
            {text(loaded_at.isoformat(sep=" "))}::timestamp as _loaded_at
        from raw.{rows_table(table.name)} as rows
        {joins}
        """
    )
    cleaned = ", ".join(f"{clean_text(quote_ident(c))} as {quote_ident(c)}" for c in names)
    con.execute(
        f"""
        create or replace view raw.{table.name} as
        select {cleaned}, _source_file, _row_number, _file_sha256, _loaded_at
        from raw.{as_read(table.name)}
        """
    )


def number_rows_around_rejects(con: duckdb.DuckDBPyConnection, table: Table) -> None:
    """Give the rows of `raw.<table>` their real line numbers when the parser rejected
    some lines (`raw.load_rejects`): each accepted row moves down by the number of
    rejected lines before it.

    Reject k (in line order) at line r_k has r_k - k - 1 accepted rows before it, so it
    precedes the accepted row at position p (rowid, from 0) exactly when r_k - k <= p + 1;
    an as-of join finds the last such reject, whose k is the count.
    """
    source_file, sha256, loaded_at = con.execute(
        "select source_file, file_sha256, loaded_at from raw.load_log where source_table = ?",
        [table.name],
    ).fetchall()[0]
    shifts = f"raw.{table.name}_reject_shifts"
    con.execute(
        f"""
        create or replace table {shifts} as
        select shift, max(k) as k
        from (
            select line - row_number() over (order by line) as shift,
                row_number() over (order by line) as k
            from raw.load_rejects
            where source_table = ?
        )
        group by shift
        """,
        [table.name],
    )
    _create_row_view(
        con, table, source_file, sha256, loaded_at, "rows.rowid + 2 + coalesce(shifts.k, 0)",
        f"asof left join {shifts} as shifts on rows.rowid + 1 >= shifts.shift",
    )


def land_empty(con: duckdb.DuckDBPyConnection, table: Table) -> None:
    """An optional table the source does not have: an empty raw table of the spec's shape."""
    cols = [f"{quote_ident(c)} varchar" for c in table.column_names]
    cols += [
        "_source_file varchar",
        "_row_number bigint",
        "_file_sha256 varchar",
        "_loaded_at timestamp",
    ]
    con.execute(f"create or replace table raw.{table.name} ({', '.join(cols)})")
    _create_as_read_alias(con, table.name)


def land_adapter_outputs(
    con: duckdb.DuckDBPyConnection,
    src_schema: str,
    outputs: tuple[str, ...],
    fingerprint: str,
    order_by: str | None = None,
) -> None:
    """Land an adapter's canonical-shaped tables `<src_schema>.out_<table>` (with `_src`,
    the source file or table, and `_src_row`, the row within it) in `raw`; registry tables
    the adapter does not produce land empty. Then drop the adapter's working schema."""
    for name, table in registry_tables().items():
        if name not in outputs:
            land_empty(con, table)
            continue
        order = f" order by {order_by}" if order_by else ""
        land(
            con,
            table,
            f"select * from {src_schema}.out_{name}{order}",
            "",
            fingerprint,
            "source._src_row",
            {c: c for c in table.column_names},
            source_file_sql="source._src",
        )
    con.execute(f"drop schema if exists {src_schema} cascade")
