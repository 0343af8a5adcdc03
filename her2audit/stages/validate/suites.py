"""Expectation suites: Great Expectations suite files in `expectations/`, one per registry
table plus one for the published tables' invariants.

Each file is a GX 1.x `ExpectationSuite` in JSON. Our additions live in `meta`:

- suite `meta.batch`: the DuckDB relation the suite validates (a view, one row per input
  row for registry tables);
- suite `meta.sql`: the SQL files (relative to `sql/`) that build the batch, run in
  order before the suite (a file shared by several suites runs once);
- suite `meta.stage`: `validate` (registry tables, before any analysis) or `publish`
  (built tables, just before they are published); default `validate`;
- suite `meta.requires` and expectation `meta.requires`: tables that must exist for the
  suite / expectation to be evaluated (otherwise it is reported as not evaluated);
- expectation `meta.name`: a unique, readable name (what results and errors show);
- expectation `meta.severity`: `critical` (stops the run) or `warning` (recorded);
- expectation `meta.description`: one sentence for people;
- expectation `meta.min_rows`: for a rate, the fewest non-null values of its column that
  make the rate meaningful (below it the expectation is reported as not evaluated: one
  row of a 12-row table is already 8%).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from her2audit.errors import RuleFileError
from her2audit.paths import EXPECTATIONS_DIR, SQL_DIR

SEVERITIES = ("critical", "warning")
STAGES = ("validate", "publish")


@dataclasses.dataclass(frozen=True)
class Expectation:
    name: str
    type: str
    kwargs: dict[str, Any]
    severity: str
    description: str
    requires: tuple[str, ...]
    min_rows: int = 0

    @property
    def column(self) -> str | None:
        if "column" in self.kwargs:
            return self.kwargs["column"]
        if "column_list" in self.kwargs:
            return ", ".join(self.kwargs["column_list"])
        if "column_A" in self.kwargs:
            return f"{self.kwargs['column_A']}, {self.kwargs['column_B']}"
        return None

    def gx_config(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "kwargs": self.kwargs,
            "meta": {"name": self.name, "severity": self.severity},
        }


@dataclasses.dataclass(frozen=True)
class Suite:
    name: str
    path: Path
    batch: str
    sql: tuple[str, ...]
    stage: str
    requires: tuple[str, ...]
    description: str
    expectations: tuple[Expectation, ...]


def _fail(path: Path, problem: str) -> RuleFileError:
    return RuleFileError(f"{path}: {problem}")


def _requires(value: Any, path: Path) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and "." in v for v in value):
        raise _fail(path, f"meta.requires must be a list of schema.table names, got {value!r}")
    return tuple(value)


def _min_rows(value: Any, name: str, path: Path) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _fail(path, f"expectation {name}: meta.min_rows must be a whole number >= 0")
    return value


def load_suite(path: Path) -> Suite:
    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise _fail(path, f"cannot read expectation suite ({exc})") from None
    meta = doc.get("meta") or {}
    if not isinstance(doc.get("name"), str) or not isinstance(meta.get("batch"), str):
        raise _fail(path, "a suite needs a 'name' and a 'meta.batch' (the relation it validates)")
    stage = meta.get("stage", "validate")
    if stage not in STAGES:
        raise _fail(path, f"meta.stage must be one of {', '.join(STAGES)}, got {stage!r}")
    expectations = []
    for i, exp in enumerate(doc.get("expectations") or [], start=1):
        emeta = exp.get("meta") or {}
        name, severity = emeta.get("name"), emeta.get("severity")
        if not isinstance(exp.get("type"), str) or not isinstance(exp.get("kwargs"), dict):
            raise _fail(path, f"expectation {i} needs a 'type' and 'kwargs'")
        if not isinstance(name, str) or not name:
            raise _fail(path, f"expectation {i} ({exp['type']}) needs meta.name")
        if severity not in SEVERITIES:
            raise _fail(path, f"expectation {name}: meta.severity must be critical or warning, "
                              f"got {severity!r}")
        expectations.append(Expectation(
            name=name, type=exp["type"], kwargs=exp["kwargs"], severity=severity,
            description=str(emeta.get("description", "")),
            requires=_requires(emeta.get("requires"), path),
            min_rows=_min_rows(emeta.get("min_rows", 0), name, path),
        ))
    if not expectations:
        raise _fail(path, "the suite has no expectations")
    sql = meta.get("sql")
    if not isinstance(sql, list) or not sql or not all(isinstance(f, str) for f in sql):
        raise _fail(path, "meta.sql must list the SQL files (relative to sql/) that build "
                          "the batch")
    for file in sql:
        if not (SQL_DIR / file).is_file():
            raise _fail(path, f"meta.sql: no file sql/{file}")
    return Suite(
        name=doc["name"], path=Path(path), batch=meta["batch"], sql=tuple(sql), stage=stage,
        requires=_requires(meta.get("requires"), path),
        description=str(meta.get("description", "")), expectations=tuple(expectations),
    )


def load_suites(folder: Path = EXPECTATIONS_DIR, stage: str | None = None) -> list[Suite]:
    """Every suite in `folder` (sorted by file name), optionally only one stage's."""
    suites = [load_suite(p) for p in sorted(Path(folder).glob("*.json"))]
    seen: dict[str, str] = {}
    for suite in suites:
        for exp in suite.expectations:
            if exp.name in seen:
                raise _fail(suite.path, f"expectation name {exp.name!r} is also used in "
                                        f"suite {seen[exp.name]!r}; names must be unique")
            seen[exp.name] = suite.name
    return [s for s in suites if stage is None or s.stage == stage]
