"""Load checked centre packages into the `network` schema of a network warehouse.

Each package table is read with one `read_parquet` over all packages at once (the file
name tells the centre), so merging 100 packages costs a handful of scans, not 100 × 4.
Only the columns the network uses are loaded; a package may hold more.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence

import duckdb
import pyarrow as pa

from her2audit.network.package import CENTRE_TABLES, Package

SCHEMA = "network"


def load_centres(con: duckdb.DuckDBPyConnection, packages: Sequence[Package]) -> None:
    """`network.centres`: one row per package, from its manifest."""
    merged_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    rows = pa.table({
        "centre": [p.centre for p in packages],
        "package": [str(p.path) for p in packages],
        "run_id": [str(p.run.get("run_id")) for p in packages],
        "source_fingerprint": pa.array([p.run.get("source_fingerprint") for p in packages],
                                       pa.string()),
        "software_version": [p.software_version for p in packages],
        "rulebooks": [json.dumps([{"id": i, "version": v, "sha256": s or None}
                                  for i, v, s in p.rulebooks]) for p in packages],
        "suppression_threshold": pa.array([p.threshold for p in packages], pa.int32()),
        "data_cutoff_month": pa.array([p.run.get("data_cutoff_month") for p in packages],
                                      pa.string()),
        "life_table_month_days": pa.array([p.month_days for p in packages], pa.float64()),
        "merged_at": pa.array([merged_at] * len(packages), pa.timestamp("us")),
    })
    con.execute(
        f"""
        create or replace table {SCHEMA}.centres (
            centre varchar primary key, package varchar, run_id varchar,
            source_fingerprint varchar, software_version varchar, rulebooks json,
            suppression_threshold integer, data_cutoff_month varchar,
            life_table_month_days double, merged_at timestamp
        )
        """
    )
    con.register("_network_centres", rows)
    try:
        con.execute(f"insert into {SCHEMA}.centres select * from _network_centres")
    finally:
        con.unregister("_network_centres")


def load_tables(con: duckdb.DuckDBPyConnection, packages: Sequence[Package]) -> None:
    """`network.centre_<table>` for every package table the network reads, with `centre`."""
    centre_of = {str(p.path.resolve()): p.centre for p in packages}
    con.execute("create or replace temp table package_centres as select "
                "unnest(?::varchar[]) as folder, unnest(?::varchar[]) as centre",
                [list(centre_of), list(centre_of.values())])
    for table, columns in CENTRE_TABLES.items():
        files = [str(p.table_file(table).resolve()) for p in packages]
        selected = ", ".join(f'data."{c}"' for c in columns)
        con.execute(
            f"""
            create or replace table {SCHEMA}.centre_{table} as
            select package_centres.centre, {selected}
            from read_parquet(?, filename = true, union_by_name = true) as data
            inner join package_centres
                on parse_dirpath(data.filename) = package_centres.folder
            order by package_centres.centre
            """,
            [files],
        )
