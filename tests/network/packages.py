"""Test helpers: split one registry into centres by site; make and alter share packages."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from her2audit import share_package

REGISTRY_TABLES = ("patients", "diagnoses", "biomarkers", "metastases", "treatments",
                   "progressions")
RULEBOOKS = [{"id": "her2-mbc-2020", "version": "2020.1", "sha256": "a" * 64},
             {"id": "her2-mbc-2023", "version": "2023.1", "sha256": "b" * 64}]
COUNTS = {"quality_indicators": ["numerator", "denominator"],
          "concordance_by_line": ["n_evaluable", "n_concordant"],
          "survival_curves": ["n_at_risk", "n_events", "n_censored"],
          "survival_comparisons": []}


def centre_of_sites(sites: list[str], n_centres: int) -> dict[str, str]:
    """Sites dealt to centres in turn (sorted; a missing site goes with the first)."""
    return {site: f"centre_{i % n_centres + 1}" for i, site in enumerate(sorted(sites))}


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


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _manifest(package: Path) -> dict:
    return json.loads((package / share_package.MANIFEST).read_text())


def _save(package: Path, manifest: dict) -> None:
    (package / share_package.MANIFEST).write_text(json.dumps(manifest, indent=2))


def rewrite_manifest(package: Path, **changes) -> None:
    manifest = _manifest(package)
    manifest.update(changes)
    _save(package, manifest)


def replace_table(package: Path, name: str, table: pa.Table,
                  counts: list[str] | None = None) -> None:
    """Swap a package's table and record its new checksum (and count columns), as a
    package written that way would be."""
    manifest = _manifest(package)
    entry = next(t for t in manifest["tables"] if t["name"] == name)
    path = package / entry["file"]
    pq.write_table(table, path)
    entry["sha256"] = _sha256(path)
    entry["rows"] = table.num_rows
    if counts is not None:
        entry["counts"] = counts
    _save(package, manifest)


def tiny_package(out: Path, centre: str, scale: int = 1, log_hr: float = -0.5,
                 software_version: str = "0.1.0", rulebooks: list | None = None) -> Path:
    """A small well-formed package made by hand (no pipeline run): every count >= 11."""
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
        "survival_curves": pa.table({
            "endpoint": ["os_from_metastatic"] * 3, "grouping": ["overall"] * 3,
            "line_number": pa.array([None] * 3, pa.int32()), "group_value": [None] * 3,
            "month_from": pa.array([0, 6, 12], pa.int32()),
            "month_to": pa.array([6, 12, None], pa.int32()),
            "n_at_risk": [n, n - 25 * scale, n - 60 * scale],
            "n_events": [12 * scale, 15 * scale, 20 * scale],
            "n_censored": [13 * scale, 20 * scale, 20 * scale]}),
        "survival_comparisons": pa.table({
            "endpoint": ["os"], "line_number": pa.array([1], pa.int32()),
            "model": ["cox_unadjusted"], "hazard_ratio": [math.exp(log_hr)],
            "hr_ci_lower": [math.exp(log_hr - 1.96 * 0.2)],
            "hr_ci_upper": [math.exp(log_hr + 1.96 * 0.2)], "status": ["estimated"]}),
    }
    entries = []
    for name, table in tables.items():
        path = out / f"{name}.parquet"
        pq.write_table(table, path)
        entries.append({"name": name, "file": path.name, "rows": table.num_rows,
                        "sha256": _sha256(path), "counts": COUNTS[name]})
    manifest = {
        "format": share_package.FORMAT, "format_version": share_package.FORMAT_VERSION,
        "centre": centre, "software": {"name": "her2audit", "version": software_version},
        "run": {"run_id": f"run-{centre}", "source_fingerprint": "f" * 64,
                "data_cutoff_month": "2025-12"},
        "rulebooks": rulebooks or RULEBOOKS,
        "suppression": {"threshold": 11, "rule": "counts 1-10 hidden"},
        "life_table_interval_days": 30.4375,
        "tables": entries,
    }
    _save(out, manifest)
    return out
