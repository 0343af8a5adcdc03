"""The canonical registry schema, loaded from `rules/registry_schema.yaml`."""

from __future__ import annotations

import dataclasses
import functools

import duckdb
import yaml

from her2audit.paths import RULES_DIR

SCHEMA_FILE = RULES_DIR / "registry_schema.yaml"


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
def registry_tables() -> dict[str, Table]:
    spec = yaml.safe_load(SCHEMA_FILE.read_text())
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
    """`staging.allowed_values(source_table, column_name, value, value_key)` for SQL checks."""
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
    con.executemany("insert into staging.allowed_values values (?, ?, ?, ?)", rows)


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
