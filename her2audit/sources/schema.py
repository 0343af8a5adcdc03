"""The canonical registry schema, loaded from `rules/registry_schema.yaml`, and the
biomarker result spellings of `rules/biomarker_results.yaml` that staging maps to it."""

from __future__ import annotations

import dataclasses
import functools
import re

import duckdb
import yaml

from her2audit import warehouse, yaml_file
from her2audit.errors import RuleFileError
from her2audit.paths import RULES_DIR

SCHEMA_FILE = RULES_DIR / "registry_schema.yaml"
RESULTS_FILE = RULES_DIR / "biomarker_results.yaml"


@dataclasses.dataclass(frozen=True)
class Column:
    name: str
    type: str
    required: bool
    allowed: tuple[str, ...] | None
    meaning: str = ""


@dataclasses.dataclass(frozen=True)
class Table:
    name: str
    required: bool
    columns: tuple[Column, ...]
    description: str = ""

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def required_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.required]


@functools.cache
def _schema_spec() -> dict:
    return yaml_file.load(SCHEMA_FILE.read_text())


@functools.cache
def biomarker_results() -> dict:
    try:
        data = yaml_file.load(RESULTS_FILE.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise RuleFileError(f"{RESULTS_FILE}: cannot be read ({exc})") from None
    if not isinstance(data, dict) or not {"spellings", "her2_ish_ratio"} <= data.keys():
        raise RuleFileError(f"{RESULTS_FILE}: expected sections spellings, her2_ish_ratio")
    return data


@functools.cache
def registry_tables() -> dict[str, Table]:
    spec = _schema_spec()
    tables = {}
    for name, t in spec["tables"].items():
        cols = tuple(
            Column(
                c,
                d.get("type", "text"),
                bool(d.get("required", False)),
                tuple(d["allowed"]) if "allowed" in d else None,
                " ".join(str(d.get("meaning", "")).split()),
            )
            for c, d in t["columns"].items()
        )
        tables[name] = Table(name, bool(t["required"]), cols, t.get("description", ""))
    return tables


def load_allowed_values(con: duckdb.DuckDBPyConnection) -> None:
    """`staging.allowed_values(source_table, column_name, value, value_key)` for SQL checks,
    and the biomarker result tables of `load_biomarker_results`."""
    rows = [
        (t.name, c.name, v, v.strip().lower())
        for t in registry_tables().values()
        for c in t.columns
        if c.allowed
        for v in c.allowed
    ]
    con.execute(
        "create or replace table staging.allowed_values "
        "(source_table varchar, column_name varchar, value varchar, value_key varchar)"
    )
    warehouse.insert_rows(con, "staging.allowed_values", rows)
    load_biomarker_results(con)


def _key(text: str) -> str:
    return re.sub(r"\s+", " ", str(text).strip().lower())


def load_biomarker_results(con: duckdb.DuckDBPyConnection) -> None:
    """Tables and variables the biomarker staging step matches results with:

    - `staging.allowed_results(marker, result)`: canonical results per marker;
    - `staging.result_spellings(marker, spelling, result)`: a marker-specific spelling
      wins over one given for every marker (`*`);
    - `staging.ratio_relations(phrase, relation)` and the variables `her2_ratio_pattern`
      (regex: group 1 the comparator, group 2 the number) and `her2_amplified_at`.
    """
    by_marker = _schema_spec()["tables"]["biomarkers"]["columns"]["result"]["allowed_by_marker"]
    con.execute("create or replace table staging.allowed_results (marker varchar, result varchar)")
    warehouse.insert_rows(con, "staging.allowed_results",
                          [(m, str(r)) for m, results in by_marker.items() for r in results])
    spec = biomarker_results()
    spellings: dict[tuple[str, str], str] = {}
    for generic in (True, False):  # marker-specific entries are written last and win
        for entry in spec["spellings"]:
            if (entry["marker"] == "*") != generic:
                continue
            markers = list(by_marker) if generic else [entry["marker"]]
            for marker in markers:
                for spelling in entry["spellings"]:
                    spellings[(marker, _key(spelling))] = str(entry["result"])
    con.execute(
        "create or replace table staging.result_spellings "
        "(marker varchar, spelling varchar, result varchar)"
    )
    warehouse.insert_rows(con, "staging.result_spellings",
                          [(m, s, r) for (m, s), r in sorted(spellings.items())])
    ratio = spec["her2_ish_ratio"]
    relations = [
        (_key(phrase), c["relation"]) for c in ratio["comparators"] for phrase in c["phrases"]
    ]
    con.execute(
        "create or replace table staging.ratio_relations (phrase varchar, relation varchar)"
    )
    warehouse.insert_rows(con, "staging.ratio_relations", relations)
    # longest phrase first, so 'greater than or equal to' is not read as 'greater than'
    alternatives = "|".join(
        re.escape(p) for p, _ in sorted(relations, key=lambda r: (-len(r[0]), r[0]))
    )
    # group 1: the comparator (empty when none), group 2: the number
    pattern = rf"^({alternatives})?\s*([0-9]+(?:\.[0-9]+)?|\.[0-9]+)$"
    con.execute("set variable her2_ratio_pattern = ?", [pattern])
    con.execute("set variable her2_amplified_at = ?", [float(ratio["amplified_at"])])


def registry_format_markdown() -> str:
    """The tables and columns of the registry format as Markdown (the docs page's body)."""
    out = []
    for t in registry_tables().values():
        need = "required" if t.required else "optional"
        out += [f"### `{t.name}` ({need})", "", t.description, "",
                "| column | type | required | allowed values | meaning |",
                "|---|---|---|---|---|"]
        for c in t.columns:
            allowed = ", ".join(f"`{v}`" for v in c.allowed) if c.allowed else ""
            out.append(f"| `{c.name}` | {c.type} | {'yes' if c.required else 'no'} | "
                       f"{allowed} | {c.meaning} |")
        out.append("")
    return "\n".join(out)
