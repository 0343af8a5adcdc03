"""Test helpers: split one registry into centres by site, and write centre packages.

`write_package` writes a share package from a centre's published warehouse in the format
`her2audit network` reads (see `her2audit.network.package`): the four tables the network
needs, each count 1-10 suppressed (null) together with the counts it could be recovered
from, and a manifest with a sha256 per file. It stands in for `her2audit share` in these
tests until that command is on this branch; it is not part of the product.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from her2audit.network.life_tables import life_tables

REGISTRY_TABLES = ("patients", "diagnoses", "biomarkers", "metastases", "treatments",
                   "progressions")
THRESHOLD = 11


def centre_of_sites(sites: list[str], n_centres: int) -> dict[str, str]:
    """Sites dealt to centres in turn (sorted; a missing site goes with the first)."""
    ordered = sorted(sites)
    return {site: f"centre_{i % n_centres + 1}" for i, site in enumerate(ordered)}


def split_registry(registry: Path, out: Path, n_centres: int) -> dict[str, Path]:
    """One canonical registry per centre, every patient in exactly one (by site)."""
    patients = pd.read_csv(registry / "patients.csv", dtype=str, keep_default_na=False)
    centres = centre_of_sites(sorted(set(patients["site_id"])), n_centres)
    patients["centre"] = patients["site_id"].map(centres)
    folders = {}
    for centre, ids in patients.groupby("centre")["patient_id"]:
        folder = out / centre
        folder.mkdir(parents=True)
        wanted = set(ids)
        for table in REGISTRY_TABLES:
            frame = pd.read_csv(registry / f"{table}.csv", dtype=str, keep_default_na=False)
            frame[frame["patient_id"].isin(wanted)].to_csv(folder / f"{table}.csv", index=False)
        folders[centre] = folder
    return folders


def _small(value) -> bool:
    return value is not None and 0 < value < THRESHOLD


def _suppress_rate_rows(table: pa.Table, numerator: str, denominator: str) -> pa.Table:
    """Hide numerator and denominator (and rate) together when either, or their
    difference, is 1-10."""
    frame = table.to_pandas()
    num, den = frame[numerator], frame[denominator]
    hide = num.map(_small) | den.map(_small) | (den - num).map(_small)
    frame[numerator] = num.astype("Int64").mask(hide)
    frame[denominator] = den.astype("Int64").mask(hide)
    if "rate" in frame:
        frame["rate"] = frame["rate"].mask(hide)
    return pa.Table.from_pandas(frame, preserve_index=False)


def _suppress_life_tables(table: pa.Table) -> pa.Table:
    """Hide a small number at risk; hide an interval's events and censored together when
    either, or the next number at risk, is small or hidden."""
    frame = table.to_pandas()
    keys = ["endpoint", "grouping", "line_number", "group_value"]
    frame["next_at_risk"] = frame.groupby(keys, dropna=False)["n_at_risk"].shift(-1)
    at_risk_small = frame["n_at_risk"].map(_small)
    hide = (frame["n_events"].map(_small) | frame["n_censored"].map(_small)
            | frame["next_at_risk"].map(_small) | at_risk_small)
    frame["n_at_risk"] = frame["n_at_risk"].astype("Int64").mask(at_risk_small)
    frame["n_events"] = frame["n_events"].astype("Int64").mask(hide)
    frame["n_censored"] = frame["n_censored"].astype("Int64").mask(hide)
    return pa.Table.from_pandas(frame.drop(columns="next_at_risk"), preserve_index=False)


def write_package(db: Path, out: Path, centre: str | None = None) -> Path:
    """A share package of the warehouse `db` in `out`."""
    out.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(db), read_only=True)
    try:
        tables = {
            "quality_indicators": _suppress_rate_rows(con.sql(
                "select indicator, period, site_id, numerator, denominator, rate "
                "from audit.quality_indicators").to_arrow_table(), "numerator", "denominator"),
            "concordance_by_line": _suppress_rate_rows(con.sql(
                "select line, n_evaluable, n_concordant, concordance_rate as rate "
                "from audit.concordance_by_line").to_arrow_table(), "n_concordant",
                "n_evaluable"),
            "survival_life_tables": _suppress_life_tables(life_tables(con)),
            "survival_comparisons": con.sql(
                "select endpoint, line_number, model, hazard_ratio, hr_ci_lower, hr_ci_upper, "
                "status from audit.survival_comparisons").to_arrow_table(),
        }
        run_id, fingerprint, version, guidelines = con.sql(
            "select run_id, source_fingerprint, software_version, guideline_versions "
            "from audit.runs order by finished_at desc limit 1").fetchall()[0]
    finally:
        con.close()
    files = {}
    for name, table in tables.items():
        path = out / f"{name}.parquet"
        pq.write_table(table, path)
        files[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
    manifest = {
        "run_id": run_id,
        "source_fingerprint": fingerprint,
        "software_version": version,
        "rulebooks": [{"id": g["guideline_id"], "version": g["version"]}
                      for g in json.loads(guidelines)],
        "suppression_threshold": THRESHOLD,
        "files": files,
    }
    if centre:
        manifest["centre"] = centre
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return out


def copy_package(package: Path, out: Path) -> Path:
    return Path(shutil.copytree(package, out))


def rewrite_manifest(package: Path, **changes) -> None:
    manifest = json.loads((package / "manifest.json").read_text())
    manifest.update(changes)
    (package / "manifest.json").write_text(json.dumps(manifest, indent=2))


def replace_table(package: Path, name: str, table: pa.Table) -> None:
    """Swap a package's table and record its new checksum, as a well-formed package would."""
    path = package / f"{name}.parquet"
    pq.write_table(table, path)
    manifest = json.loads((package / "manifest.json").read_text())
    manifest["files"][path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
    (package / "manifest.json").write_text(json.dumps(manifest, indent=2))


RULEBOOKS = [{"id": "her2-mbc-2020", "version": "2020.1"},
             {"id": "her2-mbc-2023", "version": "2023.1"}]


def tiny_package(out: Path, centre: str, scale: int = 1, log_hr: float = -0.5,
                 software_version: str = "0.1.0", rulebooks: list | None = None) -> Path:
    """A small well-formed package made by hand (no pipeline run): every count >= 11."""
    import math

    out.mkdir(parents=True)
    n = 100 * scale
    tables = {
        "quality_indicators": pa.table({
            "indicator": ["line_concordance", "first_line_thp"],
            "period": ["all", "all"], "site_id": ["all", "all"],
            "numerator": [80 * scale, 60 * scale], "denominator": [n, n],
            "rate": [0.8, 0.6]}),
        "concordance_by_line": pa.table({
            "line": ["all", "1"], "n_evaluable": [n, n], "n_concordant": [80 * scale, 80 * scale]}),
        "survival_life_tables": pa.table({
            "endpoint": ["os_from_metastatic"] * 2, "grouping": ["overall"] * 2,
            "line_number": pa.array([None, None], pa.int32()), "group_value": [None, None],
            "interval_start_days": pa.array([0, 182], pa.int32()),
            "interval_end_days": pa.array([182, 364], pa.int32()),
            "n_at_risk": [n, n - 25 * scale], "n_events": [12 * scale, 15 * scale],
            "n_censored": [13 * scale, 20 * scale]}),
        "survival_comparisons": pa.table({
            "endpoint": ["os"], "line_number": pa.array([1], pa.int32()),
            "model": ["cox_unadjusted"], "hazard_ratio": [math.exp(log_hr)],
            "hr_ci_lower": [math.exp(log_hr - 1.96 * 0.2)],
            "hr_ci_upper": [math.exp(log_hr + 1.96 * 0.2)], "status": ["estimated"]}),
    }
    files = {}
    for name, table in tables.items():
        path = out / f"{name}.parquet"
        pq.write_table(table, path)
        files[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
    manifest = {"run_id": f"run-{centre}", "source_fingerprint": "f" * 64,
                "software_version": software_version, "rulebooks": rulebooks or RULEBOOKS,
                "suppression_threshold": THRESHOLD, "files": files, "centre": centre}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return out
