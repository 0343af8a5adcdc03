"""A fingerprint of every published table: one md5 per `audit` table over its rows as text,
sorted, so two runs of the same registry can be compared table by table.

Run-specific values are left out: the `run_id` column, the `runs` table (times, paths) and
the results history (its check times). Doubles are written with 6 significant digits, so
a last-bit difference between two machines' floating point does not count as a change.

    python -m tests.output_fingerprint WAREHOUSE.duckdb > tests/data/outputs_10k.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import duckdb

SKIPPED_TABLES = {"runs", "data_quality_results_history"}
SKIPPED_COLUMNS = {"run_id"}
FLOATS = {"DOUBLE", "FLOAT", "REAL"}


def _as_text(name: str, data_type: str) -> str:
    quoted = '"' + name.replace('"', '""') + '"'
    if data_type in FLOATS:
        return f"coalesce(printf('%.6g', {quoted}), '∅')"
    return f"coalesce(cast({quoted} as varchar), '∅')"


def fingerprint(con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, object]]:
    """{table: {"rows": n, "md5": md5 of its sorted rows}} for every published table."""
    columns = con.execute(
        "select table_name, column_name, data_type from information_schema.columns "
        "where table_schema = 'audit' and table_catalog = current_database() "
        "order by table_name, ordinal_position"
    ).fetchall()
    by_table: dict[str, list[str]] = {}
    for table, column, data_type in columns:
        if table not in SKIPPED_TABLES and column not in SKIPPED_COLUMNS:
            by_table.setdefault(table, []).append(_as_text(column, data_type))
    result: dict[str, dict[str, object]] = {}
    for table, exprs in sorted(by_table.items()):
        n, digest = con.execute(
            f"select count(*), md5(coalesce(string_agg(row_text, chr(10) order by row_text), '')) "
            f"from (select concat_ws(chr(9), {', '.join(exprs)}) as row_text from audit.{table})"
        ).fetchone()
        result[table] = {"rows": n, "md5": digest}
    return result


def main(argv: list[str]) -> int:
    con = duckdb.connect(str(Path(argv[0])), read_only=True)
    try:
        print(json.dumps(fingerprint(con), indent=1, sort_keys=True))
    finally:
        con.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
