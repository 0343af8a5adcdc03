"""`her2audit network`: check centre packages, merge them into a network warehouse, report.

Steps: read and check every package (`package.py`; a bad one stops everything with exit
2), load them into schema `network` (`load.py`), derive the network tables
(`sql/network/`), add the funnel limits, pool survival (`survival.py`) and meta-analyse the
centres' hazard ratios (`meta.py`), describe every table and column (`tables.yaml`), then
render the report (`report.py`).

The warehouse is built in a work file beside `--db` and moved into place when complete, so
a reader of the previous network warehouse is never shown a half-built one.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable
from pathlib import Path

import duckdb

from her2audit import environment, warehouse, yaml_file
from her2audit.errors import UsageError
from her2audit.network import load
from her2audit.network.package import NetworkRules, Package, load_rules, read_packages

SQL_STAGE = "network"
DICTIONARY = Path(__file__).with_name("tables.yaml")
CONFIDENCE_LEVEL = 0.95
# A file named after a schema would make readers' `network.centres` ambiguous (DuckDB names
# the database after the file).
RESERVED_STEMS = {"network", "main", "temp", "system"}


@dataclasses.dataclass(frozen=True)
class NetworkResult:
    db: Path
    report: Path | None
    packages: list[Package]
    seconds: dict[str, float]


def check_paths(db: Path, reports: Path | None) -> None:
    """Refuse unusable --db and --reports before any package is read (exit 2)."""
    if db.is_dir():
        raise UsageError(f"--db {db}: is a folder; give a file, e.g. {db / 'network_audit.duckdb'}")
    if warehouse.catalog_name(db) in RESERVED_STEMS:
        raise UsageError(f"--db {db}: a warehouse named {db.name} would make the schema "
                         f"'{warehouse.catalog_name(db)}' ambiguous to readers; use e.g. "
                         "network_audit.duckdb")
    environment.check_writable_folder(db.parent, "the network warehouse's folder")
    if reports is not None:
        if reports.exists() and not reports.is_dir():
            raise UsageError(f"--reports {reports}: is a file, not a folder")
        environment.check_writable_folder(reports, "the reports folder")


def add_funnel_limits(con: duckdb.DuckDBPyConnection) -> None:
    """Control limits around the network rate at each centre's volume, and its position
    (none for the network's own row)."""
    from her2audit import proportions

    proportions.add_funnel_columns(
        con, "network.indicators_by_centre", keys=("measure", "centre"),
        n="case when centre <> 'network' then denominator end", p0="network_rate",
        rate="case when centre <> 'network' then rate end",
        order_by="base.measure_kind, base.measure, base.centre = 'network', base.centre")


def describe_tables(con: duckdb.DuckDBPyConnection, path: Path = DICTIONARY) -> None:
    """COMMENT ON every table and column of schema `network` from `tables.yaml`."""
    dictionary = yaml_file.load(path.read_text())
    con.execute("begin")  # one commit for all comments, not one per statement
    try:
        for table, entry in dictionary.items():
            con.execute(f"comment on table network.{table} is {_literal(entry['description'])}")
            for column, text in entry["columns"].items():
                con.execute(f'comment on column network.{table}."{column}" is {_literal(text)}')
    except BaseException:
        con.execute("rollback")
        raise
    con.execute("commit")


def _literal(text: str) -> str:
    """A SQL string literal (COMMENT ON takes no parameters)."""
    return "'" + str(text).replace("'", "''") + "'"


def build_warehouse(con: duckdb.DuckDBPyConnection, packages: list[Package],
                    rules: NetworkRules, clock: Callable[[str], None]) -> None:
    # The statistics libraries (scipy, lifelines, statsmodels) are imported by the step that
    # uses them, once the packages are accepted: a refused package or path fails without
    # them, and each step's time includes its library's.
    con.execute(f"create schema if not exists {load.SCHEMA}")
    load.load_centres(con, packages)
    load.load_tables(con, packages)
    clock("load")
    from scipy.special import ndtri

    warehouse.set_variables(con, {
        "network_month_days": packages[0].month_days or 0.0,
        "network_z": float(ndtri(1 - (1 - CONFIDENCE_LEVEL) / 2)),
    })
    warehouse.run_sql_stage(con, SQL_STAGE)
    add_funnel_limits(con)
    clock("indicators")
    alpha = 1 - CONFIDENCE_LEVEL
    from her2audit.network import survival

    warehouse.write_arrow(con, "network.pooled_survival",
                          survival.pooled_survival(con, rules, alpha))
    clock("survival")
    from her2audit.network import meta

    warehouse.write_arrow(con, "network.meta_analysis", meta.meta_analyses(con, rules, alpha))
    clock("meta-analysis")
    describe_tables(con)
    clock("describe")


def build_network(packages_dir: Path, db: Path, reports: Path | None,
                  progress: Callable[[str], None] = lambda m: None) -> NetworkResult:
    """Check, merge and report; returns where things are and how long each step took."""
    check_paths(db, reports)
    seconds: dict[str, float] = {}
    started = [time.perf_counter()]

    def clock(step: str) -> None:
        now = time.perf_counter()
        seconds[step] = now - started[0]
        started[0] = now

    rules = load_rules()
    packages = read_packages(packages_dir, rules)
    clock("check")
    progress(f"network: {len(packages)} packages checked ({seconds['check']:.1f} s)")
    db.parent.mkdir(parents=True, exist_ok=True)
    work = db.with_name(f".{db.name}.building-{os.getpid()}")
    work.unlink(missing_ok=True)
    try:
        con = duckdb.connect(str(work))
        try:
            build_warehouse(con, packages, rules, clock)
            con.execute("checkpoint")
        finally:
            con.close()
        os.replace(work, db)
    finally:
        work.unlink(missing_ok=True)
        Path(f"{work}.wal").unlink(missing_ok=True)
    progress(f"network warehouse: {db}")
    report_path = None
    if reports is not None:
        from her2audit.network import report

        report_path = report.render_network_report(db, reports)
        clock("report")
        progress(f"network report: {report_path}")
    return NetworkResult(db=db, report=report_path, packages=packages, seconds=seconds)
