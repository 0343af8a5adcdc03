"""Landing data in the `raw` schema: every source adapter ends here.

A raw table has the registry columns as text (canonical names, lower case), any extra
source columns, and the load metadata `_source_file`, `_row_number`, `_file_sha256`,
`_loaded_at`. Spec columns a source left out are added as NULL so staging SQL sees one
shape. Rows a source could not parse at all land in `raw.load_rejects`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import duckdb

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
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def reset_raw(con: duckdb.DuckDBPyConnection, tables: list[str]) -> None:
    for name in tables:
        con.execute(f"drop table if exists raw.{name}")
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
    select_list = [
        f"nullif(trim(cast({quote_ident(src)} as varchar)), '') as {quote_ident(canon)}"
        for canon, src in source_columns.items()
    ]
    select_list += [
        f"null::varchar as {quote_ident(c)}" for c in table.column_names if c not in source_columns
    ]
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
    n = con.execute(f"select count(*) from raw.{table.name}").fetchone()[0]
    n_rejected = con.execute(
        "select (select count(*) from raw.load_rejects where source_table = $1) "
        "+ (select count(*) from raw.source_rejects where source_table = $1)",
        [table.name],
    ).fetchone()[0]
    con.execute(
        "insert into raw.load_log values (?, ?, ?, ?, ?, ?)",
        [table.name, source_file, sha256, n, n_rejected, loaded_at],
    )
    return n


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
