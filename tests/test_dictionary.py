"""Every table and column of the published schemas `audit` and `share` carries a
description (DuckDB COMMENT ON) from the one data dictionary, which also renders the docs
page; a new table or column without a description fails here."""

from __future__ import annotations

import duckdb

from her2audit import dictionary


def test_every_published_table_and_column_has_a_description(published_run):
    db, _ = published_run
    con = duckdb.connect(str(db), read_only=True)
    try:
        tables = con.execute(
            "select schema_name, table_name, comment from duckdb_tables() "
            "where schema_name in ('audit', 'share') order by all").fetchall()
        columns = con.execute(
            "select schema_name, table_name, column_name, comment from duckdb_columns() "
            "where schema_name in ('audit', 'share') order by all").fetchall()
    finally:
        con.close()
    assert {s for s, _, _ in tables} == {"audit", "share"}
    undescribed = [f"{s}.{t}" for s, t, c in tables if not (c or "").strip()]
    undescribed += [f"{s}.{t}.{col}" for s, t, col, c in columns if not (c or "").strip()]
    assert undescribed == [], "add these to her2audit/rules/data_dictionary.yaml"


def test_the_dictionary_describes_nothing_the_warehouse_lacks(published_run):
    db, _ = published_run
    con = duckdb.connect(str(db), read_only=True)
    try:
        present = {(s, t, c) for s, t, c in con.execute(
            "select schema_name, table_name, column_name from duckdb_columns() "
            "where schema_name in ('audit', 'share')").fetchall()}
    finally:
        con.close()
    described = {(s, t, c) for s, body in dictionary.load().items()
                 for t, entry in body["tables"].items() for c in entry["columns"]}
    assert sorted(described - present) == []


def test_the_comments_are_the_dictionarys(published_run):
    db, _ = published_run
    book = dictionary.load()
    con = duckdb.connect(str(db), read_only=True)
    try:
        comment = con.execute(
            "select comment from duckdb_columns() where schema_name = 'audit' "
            "and table_name = 'runs' and column_name = 'source_fingerprint'").fetchone()[0]
    finally:
        con.close()
    assert comment == book["audit"]["tables"]["runs"]["columns"]["source_fingerprint"]
    page = dictionary.markdown()
    assert "### `share.quality_indicators`" in page and comment in page
