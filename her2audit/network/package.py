"""A centre's share package, and the checks a network makes before merging it.

A package is a folder written by `her2audit share`: one Parquet file per `share` table and
`manifest.json` (run id, source fingerprint, software version, rulebook ids and versions,
suppression threshold, and a sha256 per file). `her2audit network` accepts a package only
when:

- the manifest is present, is JSON and holds every field above;
- every file the manifest lists is there with the stated sha256, and no Parquet file is
  there that the manifest does not list;
- the tables the network needs are there, with the columns it reads (`CENTRE_TABLES`);
- no column could identify a patient: none is named like a patient id or a date of an
  individual, and none is of a date or timestamp type;
- no count is from 1 to the suppression threshold minus one (every integer column is a
  count except the positions and times listed in the rules), and the stated threshold is
  at least the network's minimum;
- all packages share one rulebook set (ids and versions) and one software major version.

Anything else is refused with `PackageError` (exit 2): one line naming the package and the
problem.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import yaml

from her2audit.errors import RuleFileError, UsageError
from her2audit.paths import RULES_DIR

MANIFEST = "manifest.json"
RULES_FILE = RULES_DIR / "network.yaml"
# package table -> the columns the network reads from it (a package may hold more)
CENTRE_TABLES: dict[str, tuple[str, ...]] = {
    "quality_indicators": ("indicator", "period", "site_id", "numerator", "denominator"),
    "concordance_by_line": ("line", "n_evaluable", "n_concordant"),
    "survival_life_tables": ("endpoint", "grouping", "line_number", "group_value",
                             "interval_start_days", "interval_end_days", "n_at_risk",
                             "n_events", "n_censored"),
    "survival_comparisons": ("endpoint", "line_number", "model", "hazard_ratio",
                             "hr_ci_lower", "hr_ci_upper", "status"),
}
MANIFEST_FIELDS = ("run_id", "source_fingerprint", "software_version", "rulebooks",
                   "suppression_threshold", "files")


class PackageError(UsageError):
    """A centre package the network cannot accept (exit 2)."""

    def __init__(self, package: Path | str, problem: str) -> None:
        self.package = str(package)
        self.problem = problem
        super().__init__(f"package {package}: {problem}")


@dataclasses.dataclass(frozen=True)
class NetworkRules:
    min_suppression_threshold: int
    identifying_columns: frozenset[str]
    not_counts: frozenset[str]
    life_table_interval_days: int
    life_table_horizon_days: int
    pooled_groups: tuple[dict[str, Any], ...]
    meta_method_re: str
    meta_comparisons: tuple[tuple[str, int], ...]
    meta_models: tuple[str, ...]


@functools.cache
def load_rules(path: Path = RULES_FILE) -> NetworkRules:
    try:
        raw = yaml.safe_load(path.read_text())
        meta = raw["meta_analysis"]
        return NetworkRules(
            min_suppression_threshold=int(raw["min_suppression_threshold"]),
            identifying_columns=frozenset(str(c).lower() for c in raw["identifying_columns"]),
            not_counts=frozenset(str(c).lower() for c in raw["not_counts"]),
            life_table_interval_days=int(raw["life_table_interval_days"]),
            life_table_horizon_days=int(raw["life_table_horizon_days"]),
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
    def rulebooks(self) -> tuple[tuple[str, str], ...]:
        return rulebook_set(self.manifest["rulebooks"])

    @property
    def software_major(self) -> str:
        return str(self.manifest["software_version"]).split(".", 1)[0]

    def table_file(self, table: str) -> Path:
        return self.path / f"{table}.parquet"


def rulebook_set(rulebooks: Any) -> tuple[tuple[str, str], ...]:
    """Rulebooks as sorted (id, version) pairs, from a list of {id, version} objects."""
    return tuple(sorted((str(r["id"]), str(r["version"])) for r in rulebooks))


def manifest_files(manifest: dict[str, Any]) -> dict[str, str]:
    """file name -> sha256, from `files` as a mapping or as a list of {file, sha256}."""
    files = manifest["files"]
    if isinstance(files, dict):
        entries = files.items()
        return {str(name): str(v["sha256"] if isinstance(v, dict) else v)
                for name, v in entries}
    return {str(f.get("file") or f.get("path") or f.get("name")): str(f["sha256"])
            for f in files}


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(path: Path) -> dict[str, Any]:
    file = path / MANIFEST
    if not file.is_file():
        raise PackageError(path, f"no {MANIFEST} (not a share package?)")
    try:
        manifest = json.loads(file.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PackageError(path, f"{MANIFEST} is not readable JSON ({exc})") from None
    if not isinstance(manifest, dict):
        raise PackageError(path, f"{MANIFEST} is not a JSON object")
    missing = [f for f in MANIFEST_FIELDS if f not in manifest]
    if missing:
        raise PackageError(path, f"{MANIFEST} lacks {', '.join(missing)}")
    try:
        rulebook_set(manifest["rulebooks"])
        manifest_files(manifest)
        int(manifest["suppression_threshold"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise PackageError(path, f"{MANIFEST} is malformed ({type(exc).__name__}: {exc})") \
            from None
    return manifest


def check_files(path: Path, manifest: dict[str, Any], rules: NetworkRules) -> None:
    listed = manifest_files(manifest)
    for name, expected in listed.items():
        file = path / name
        if Path(name).name != name or not file.is_file():
            raise PackageError(path, f"{name} is listed in {MANIFEST} but missing")
        actual = sha256_of(file)
        if actual != expected.lower():
            raise PackageError(path, f"{name}: sha256 {actual[:12]}… does not match the "
                                     f"manifest's {expected[:12]}… (altered or incomplete)")
    unlisted = sorted(p.name for p in path.glob("*.parquet") if p.name not in listed)
    if unlisted:
        raise PackageError(path, f"{unlisted[0]} is not listed in {MANIFEST}")
    missing = [t for t in CENTRE_TABLES if f"{t}.parquet" not in listed]
    if missing:
        raise PackageError(path, f"no {missing[0]}.parquet (the network needs "
                                 f"{', '.join(CENTRE_TABLES)})")


def check_contents(con: duckdb.DuckDBPyConnection, path: Path, manifest: dict[str, Any],
                   rules: NetworkRules) -> None:
    """No identifying column, no count from 1 to threshold - 1, in any Parquet file."""
    threshold = int(manifest["suppression_threshold"])
    if threshold < rules.min_suppression_threshold:
        raise PackageError(path, f"suppression threshold {threshold} is below the network's "
                                 f"{rules.min_suppression_threshold}")
    for name in sorted(manifest_files(manifest)):
        if not name.endswith(".parquet"):
            continue
        file = str(path / name)
        try:
            columns = con.execute(
                "select column_name, column_type from (describe select * from read_parquet(?))",
                [file],
            ).fetchall()
        except duckdb.Error as exc:
            raise PackageError(path, f"{name} is not readable Parquet "
                                     f"({str(exc).splitlines()[0]})") from None
        table = name.removesuffix(".parquet")
        lacking = [c for c in CENTRE_TABLES.get(table, ()) if c not in {c for c, _ in columns}]
        if lacking:
            raise PackageError(path, f"{name} has no column {lacking[0]}")
        counts = []
        for column, kind in columns:
            lowered = column.lower()
            if lowered in rules.identifying_columns or lowered.endswith("_date"):
                raise PackageError(path, f"{name}: column {column} could identify a patient")
            if kind.startswith(("DATE", "TIMESTAMP", "TIME")):
                raise PackageError(path, f"{name}: column {column} holds dates ({kind})")
            if _is_integer(kind) and lowered not in rules.not_counts:
                counts.append(column)
        if not counts:
            continue
        small = " or ".join(f'"{c}" between 1 and {threshold - 1}' for c in counts)
        row = con.execute(
            f"select * from read_parquet(?) where {small} limit 1", [file]
        ).fetchone()
        if row is not None:
            names = [c for c, _ in columns]
            found = next(c for c in counts
                         if row[names.index(c)] is not None
                         and 1 <= row[names.index(c)] < threshold)
            raise PackageError(path, f"{name}: count {found} = {row[names.index(found)]} is "
                                     f"below the suppression threshold {threshold}")


def _is_integer(kind: str) -> bool:
    return kind in ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT",
                    "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT")


def read_package(con: duckdb.DuckDBPyConnection, path: Path, rules: NetworkRules) -> Package:
    """Check one package (everything but the comparison with the others)."""
    manifest = read_manifest(path)
    check_files(path, manifest, rules)
    check_contents(con, path, manifest, rules)
    centre = str(manifest.get("centre") or path.name)
    return Package(path=path, centre=centre, manifest=manifest)


def check_consistent(packages: Sequence[Package]) -> None:
    """One rulebook set and one software major across packages; distinct centre names."""
    first = packages[0]
    seen: dict[str, Path] = {}
    for package in packages:
        if package.rulebooks != first.rulebooks:
            ours = ", ".join(f"{i} {v}" for i, v in package.rulebooks)
            theirs = ", ".join(f"{i} {v}" for i, v in first.rulebooks)
            raise PackageError(package.path, f"rulebooks {ours} differ from {first.path.name}'s "
                                             f"({theirs}); a network compares centres judged "
                                             "by one rulebook set")
        if package.software_major != first.software_major:
            raise PackageError(
                package.path,
                f"software version {package.manifest['software_version']} is another major "
                f"than {first.path.name}'s {first.manifest['software_version']}")
        if package.centre in seen:
            raise PackageError(package.path, f"centre {package.centre!r} is also the centre "
                                             f"of {seen[package.centre]}")
        seen[package.centre] = package.path


def find_packages(folder: Path) -> list[Path]:
    """The package folders under `folder`: each sub-folder (sorted by name), or `folder`
    itself when it holds a manifest."""
    if not folder.is_dir():
        raise UsageError(f"--packages {folder}: not a folder")
    if (folder / MANIFEST).is_file():
        return [folder]
    found = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not found:
        raise UsageError(f"--packages {folder}: no package folders in it")
    return found


def read_packages(folder: Path, rules: NetworkRules | None = None) -> list[Package]:
    rules = rules or load_rules()
    con = duckdb.connect()
    try:
        packages = [read_package(con, path, rules) for path in find_packages(folder)]
    finally:
        con.close()
    check_consistent(packages)
    return packages
