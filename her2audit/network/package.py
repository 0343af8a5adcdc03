"""A centre's share package as the network reads it, and the checks made before merging.

A package is a folder written by `her2audit share` (`her2audit.share_package`): one Parquet
file per `share` table and `manifest.json`. Every package is first verified as any receiver
verifies one (manifest, a sha256 per file, no identifying column, no count from 1 to 10),
all packages at once (`share_package.verify_all`). The network then asks, per package:

- the tables it reads are there, with the columns it reads (`CENTRE_TABLES`), and no
  Parquet file is there that the manifest does not list;
- no column of the tables the network merges holds dates or times (dates of individuals),
  whatever its name;
- the suppression threshold is at least the network's minimum (`rules/network.yaml`);

and across packages: one rulebook set (ids, versions and checksums), one software major
version, one life-table month, distinct centre names. Anything else is refused with exit 2
and one line naming the package (or its file) and the problem.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from her2audit import share_package, yaml_file
from her2audit.errors import RuleFileError, UsageError
from her2audit.paths import RULES_DIR

RULES_FILE = RULES_DIR / "network.yaml"

# package table -> the columns the network reads from it (a package may hold more)
CENTRE_TABLES: dict[str, tuple[str, ...]] = {
    "quality_indicators": ("indicator", "period", "site_id", "numerator", "denominator"),
    "concordance_by_line": ("line", "n_evaluable", "n_concordant"),
    "survival_curves": ("endpoint", "grouping", "line_number", "group_value", "month_from",
                        "month_to", "n_at_risk", "n_events", "n_censored"),
    "survival_comparisons": ("endpoint", "line_number", "model", "hazard_ratio",
                             "hr_ci_lower", "hr_ci_upper", "status"),
}


class PackageError(UsageError):
    """A centre package the network cannot accept (exit 2)."""

    def __init__(self, package: Path | str, problem: str) -> None:
        self.package = str(package)
        self.problem = problem
        super().__init__(f"package {package}: {problem}")


@dataclasses.dataclass(frozen=True)
class NetworkRules:
    min_suppression_threshold: int
    pooled_groups: tuple[dict[str, Any], ...]
    meta_method_re: str
    meta_comparisons: tuple[tuple[str, int], ...]
    meta_models: tuple[str, ...]


@functools.cache
def load_rules(path: Path = RULES_FILE) -> NetworkRules:
    try:
        raw = yaml_file.load(path.read_text())
        meta = raw["meta_analysis"]
        return NetworkRules(
            min_suppression_threshold=int(raw["min_suppression_threshold"]),
            pooled_groups=tuple(dict(g) for g in raw["pooled_groups"]),
            meta_method_re=str(meta["method_re"]),
            meta_comparisons=tuple((str(c["endpoint"]), int(c["line_number"]))
                                   for c in meta["comparisons"]),
            meta_models=tuple(str(m) for m in meta["models"]),
        )
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError) as exc:
        raise RuleFileError(f"{path}: cannot read network rules ({exc})") from None


@dataclasses.dataclass(frozen=True)
class Package:
    """One checked package: where it is, its centre name and its manifest."""

    path: Path
    centre: str
    manifest: dict[str, Any]

    @property
    def rulebooks(self) -> tuple[tuple[str, str, str], ...]:
        return tuple(sorted((str(r.get("id")), str(r.get("version")), str(r.get("sha256") or ""))
                            for r in self.manifest.get("rulebooks") or []))

    @property
    def software_version(self) -> str:
        return str((self.manifest.get("software") or {}).get("version"))

    @property
    def software_major(self) -> str:
        return self.software_version.split(".", 1)[0]

    @property
    def run(self) -> dict[str, Any]:
        return self.manifest.get("run") or {}

    @property
    def threshold(self) -> int:
        return int((self.manifest.get("suppression") or {}).get("threshold") or 0)

    @property
    def month_days(self) -> float | None:
        value = self.manifest.get("life_table_interval_days")
        return None if value is None else float(value)

    def table_file(self, table: str) -> Path:
        entry = next(t for t in self.manifest["tables"] if t["name"] == table)
        return self.path / entry["file"]


def _is_temporal(kind: pa.DataType) -> bool:
    return pa.types.is_date(kind) or pa.types.is_timestamp(kind) or pa.types.is_time(kind)


def check_package(path: Path, manifest: dict[str, Any], rules: NetworkRules) -> Package:
    """What the network needs of one verified package (not yet compared with the others)."""
    tables = {t.get("name"): t for t in manifest.get("tables") or []}
    listed = {t.get("file") for t in tables.values()}
    unlisted = sorted(p.name for p in path.glob("*.parquet") if p.name not in listed)
    if unlisted:
        raise PackageError(path, f"{unlisted[0]} is not listed in {share_package.MANIFEST}")
    for table, columns in CENTRE_TABLES.items():
        if table not in tables:
            raise PackageError(path, f"no table {table} (the network reads "
                                     f"{', '.join(CENTRE_TABLES)})")
        file = tables[table]["file"]
        schema = pq.read_schema(path / file)
        lacking = [c for c in columns if c not in schema.names]
        if lacking:
            raise PackageError(path, f"{file} has no column {lacking[0]}")
        for field in schema:  # what the network merges (a rulebook's dates are no one's)
            if _is_temporal(field.type):
                raise PackageError(path, f"{file}: column {field.name} holds dates "
                                         f"({field.type}), which could identify a patient")
    package = Package(path=path, centre=str(manifest.get("centre") or path.name),
                      manifest=manifest)
    if package.threshold < rules.min_suppression_threshold:
        raise PackageError(path, f"suppression threshold {package.threshold} is below the "
                                 f"network's {rules.min_suppression_threshold}")
    return package


def check_consistent(packages: Sequence[Package]) -> None:
    """One rulebook set, software major and life-table month across packages; distinct
    centre names."""
    first = packages[0]
    seen: dict[str, Path] = {}
    for package in packages:
        if package.rulebooks != first.rulebooks:
            ours = ", ".join(f"{i} {v}" for i, v, _ in package.rulebooks)
            theirs = ", ".join(f"{i} {v}" for i, v, _ in first.rulebooks)
            same_names = ours == theirs
            raise PackageError(
                package.path,
                f"rulebooks {ours} differ from {first.path.name}'s ({theirs})"
                + (" in their checksums (a rulebook was changed locally)" if same_names else "")
                + "; a network compares centres judged by one rulebook set")
        if package.software_major != first.software_major:
            raise PackageError(package.path, f"software version {package.software_version} is "
                                             f"another major than {first.path.name}'s "
                                             f"{first.software_version}")
        if package.month_days != first.month_days:
            raise PackageError(package.path, f"life tables in months of {package.month_days} "
                                             f"days, {first.path.name}'s of {first.month_days}")
        if package.centre in seen:
            raise PackageError(package.path, f"centre {package.centre!r} is also the centre "
                                             f"of {seen[package.centre]}")
        seen[package.centre] = package.path


def find_packages(folder: Path) -> list[Path]:
    """The package folders under `folder`: each sub-folder (sorted by name), or `folder`
    itself when it holds a manifest."""
    if not folder.is_dir():
        raise UsageError(f"--packages {folder}: not a folder")
    if (folder / share_package.MANIFEST).is_file():
        return [folder]
    found = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not found:
        raise UsageError(f"--packages {folder}: no package folders in it")
    return found


def read_packages(folder: Path, rules: NetworkRules | None = None) -> list[Package]:
    """Every package under `folder` verified (`share_package.verify_all`: all packages'
    files checked at once), checked for the network, and compared with the others."""
    rules = rules or load_rules()
    paths = find_packages(folder)
    packages = [check_package(path, manifest, rules) for path, manifest
                in zip(paths, share_package.verify_all(paths), strict=True)]
    check_consistent(packages)
    return packages
