"""Stage `lines`: infer lines of therapy (SPEC §4) and name their regimens (SPEC §5).

Reads `staging.administrations` and `build.patients`; writes `build.lines_of_therapy`
(exactly the SPEC columns), `build.line_boundaries` (the rule that started and ended
every line) and `staging.line_administrations` (every administration row with its line).

The rules are sequential per patient (a line's start defines its regimen window, its
regimen defines what counts as new), so the inference is iterative but set-based: DuckDB
(`sql/40_lines/10_inputs.sql`) selects the administrations and sorts them, then each step
of `lines_core.infer` (vectorised numpy over the sorted arrays) finds the next line start
of *every* patient at once. The number of steps is the largest number of lines of one
patient, not the number of patients. DuckDB then names the regimens and writes the tables
(`sql/40_lines/20_…50_`). The line rules (substitution groups, maintenance additions) and
the regimen catalog are data: `rules/regimens.yaml`.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import yaml

from her2audit import warehouse, yaml_file
from her2audit.errors import RuleFileError
from her2audit.numpy_pages import small_pages
from her2audit.paths import RULES_DIR
from her2audit.stages.lines import core as lines_core
from her2audit.vocabulary import Vocabulary, default_vocabulary

REGIMENS_FILE = RULES_DIR / "regimens.yaml"
SQL_STAGE = "40_lines"
MEMORY_LIMIT = "3GB"
TEMP_TABLES = ("lot_patients", "lot_line_starts", "lot_line_stats", "lot_regimens",
               "lot_lines", "lot_cutoff")


@dataclasses.dataclass(frozen=True)
class RegimenRule:
    rule_id: str
    regimen: str
    regimen_group: str
    requires: tuple[tuple[str, ...], ...]
    only: tuple[str, ...] | None


@dataclasses.dataclass(frozen=True)
class LineRules:
    version: str
    substitution_groups: dict[str, tuple[str, ...]]
    maintenance_classes: tuple[str, ...]
    maintenance_anchors: tuple[str, ...]
    regimens: tuple[RegimenRule, ...]


def load_line_rules(path: Path = REGIMENS_FILE, vocab: Vocabulary | None = None) -> LineRules:
    """Read `rules/regimens.yaml` and check every name in it against the vocabulary."""
    vocab = vocab or default_vocabulary()
    try:
        spec: dict[str, Any] = yaml_file.load(Path(path).read_text())
        line_rules = spec["line_rules"]
        maintenance = line_rules["maintenance_additions"]
        groups = {
            str(name): tuple(members)
            for name, members in (line_rules.get("substitution_groups") or {}).items()
        }
        regimens = tuple(
            RegimenRule(
                rule_id=str(r["id"]),
                regimen=str(r["regimen"]),
                regimen_group=str(r["regimen_group"]),
                requires=tuple(
                    tuple([g] if isinstance(g, str) else g) for g in r.get("requires") or []
                ),
                only=tuple(r["only"]) if r.get("only") is not None else None,
            )
            for r in spec["regimens"]
        )
        rules = LineRules(
            version=str(spec["version"]),
            substitution_groups=groups,
            maintenance_classes=tuple(maintenance["added_classes"]),
            maintenance_anchors=tuple(maintenance["line_contains_any"]),
            regimens=regimens,
        )
    except (OSError, yaml.YAMLError, KeyError, TypeError) as exc:
        raise RuleFileError(
            f"{path}: cannot read the line rules / regimen catalog ({exc!r})"
        ) from None

    known_tokens = set(vocab.ingredients) | {f"class:{c}" for c in vocab.classes}
    problems = []
    seen: dict[str, str] = {}
    for group, members in rules.substitution_groups.items():
        for m in members:
            if m not in vocab.ingredients:
                problems.append(f"substitution group {group}: unknown ingredient {m!r}")
            if m in seen:
                problems.append(f"{m!r} is in substitution groups {seen[m]} and {group}")
            seen[m] = group
    problems += [f"maintenance class {c!r} unknown" for c in rules.maintenance_classes
                 if c not in vocab.classes]
    problems += [f"maintenance anchor {i!r} unknown" for i in rules.maintenance_anchors
                 if i not in vocab.ingredients]
    for r in rules.regimens:
        tokens = [t for g in r.requires for t in g] + list(r.only or [])
        problems += [f"regimen {r.rule_id}: unknown token {t!r}" for t in tokens
                     if t not in known_tokens]
    if not rules.regimens or rules.regimens[-1].requires or rules.regimens[-1].only is not None:
        problems.append("the last regimen rule must match anything (no requires, no only)")
    if len({r.rule_id for r in rules.regimens}) != len(rules.regimens):
        problems.append("regimen rule ids must be unique")
    if problems:
        raise RuleFileError(f"{path}: " + "; ".join(problems))
    return rules


@functools.cache
def default_line_rules() -> LineRules:
    return load_line_rules()


def load_rule_tables(
    con: duckdb.DuckDBPyConnection, rules: LineRules, vocab: Vocabulary | None = None
) -> None:
    """`staging.line_ingredient_rules` (per ingredient: integer ids, substitution key,
    maintenance flags) and `staging.regimen_rules` (the ordered catalog)."""
    vocab = vocab or default_vocabulary()
    group_of = {m: g for g, members in rules.substitution_groups.items() for m in members}
    # line-forming ingredients first: the lines core packs a line's ingredients into a
    # 128-bit mask indexed by ingredient_id
    ingredients = sorted(vocab.ingredients, key=lambda i: (vocab.ingredients[i] == "supportive", i))
    n_line_forming = sum(vocab.ingredients[i] != "supportive" for i in ingredients)
    if n_line_forming >= lines_core.MAX_INGREDIENTS:
        raise RuleFileError(
            f"{n_line_forming} line-forming ingredients in the vocabulary; the lines core "
            f"handles up to {lines_core.MAX_INGREDIENTS - 1}")
    keys = sorted({group_of.get(i, i) for i in ingredients},
                  key=lambda k: (all(vocab.ingredients[i] == "supportive"
                                     for i in ingredients if group_of.get(i, i) == k), k))
    rows = [
        (
            n,
            ing,
            vocab.ingredients[ing],
            vocab.classes[vocab.ingredients[ing]],
            group_of.get(ing, ing),
            keys.index(group_of.get(ing, ing)) + 1,
            vocab.ingredients[ing] in rules.maintenance_classes,
            ing in rules.maintenance_anchors,
            rules.version,
        )
        for n, ing in enumerate(ingredients, start=1)
    ]
    con.execute(
        "create or replace table staging.line_ingredient_rules (ingredient_id integer, "
        "ingredient varchar, drug_class varchar, her2_directed boolean, substitution_key varchar, "
        "key_id integer, maintenance_addition boolean, maintenance_anchor boolean, "
        "rules_version varchar)"
    )
    warehouse.insert_rows(con, "staging.line_ingredient_rules", rows)
    con.execute(
        "create or replace table staging.regimen_rules (rule_order integer, rule_id varchar, "
        "regimen varchar, regimen_group varchar, requires varchar[][], only_tokens varchar[], "
        "rules_version varchar)"
    )
    warehouse.insert_rows(con, "staging.regimen_rules", [
            (n, r.rule_id, r.regimen, r.regimen_group, [list(g) for g in r.requires],
             list(r.only) if r.only is not None else None, rules.version)
            for n, r in enumerate(rules.regimens, start=1)
        ],
    )


def _sql(name: str) -> Path:
    return next(p for p in warehouse.sql_files(SQL_STAGE) if p.name.startswith(name))


def _cutoff(con: duckdb.DuckDBPyConnection) -> None:
    """temp `lot_cutoff(cutoff_day)`: `staging.data_cutoff` (written by cohort) if present,
    else the `data_cutoff` parameter, else the latest date in the administrations."""
    if "data_cutoff" in warehouse.table_names(con, "staging"):
        source = "(select max(data_cutoff) from staging.data_cutoff)"
    else:
        source = (
            "coalesce(getvariable('data_cutoff')::date, (select max(greatest(start_date, "
            "coalesce(end_date, start_date))) from staging.administrations))"
        )
    con.execute(
        f"create or replace temp table lot_cutoff as "
        f"select ({source} - date '1970-01-01')::integer as cutoff_day"
    )


def infer_lines(con: duckdb.DuckDBPyConnection, progress=None) -> dict[str, float]:
    """Run the line inference on `con` (variables already set). Returns step timings."""
    say = progress or (lambda message: None)
    timings: dict[str, float] = {}
    # Row order inside the work tables does not matter (every output is ordered or keyed),
    # and keeping insertion order costs DuckDB parallelism and memory on large inputs.
    # The stage keeps DuckDB's own memory (sorts, cached blocks) to MEMORY_LIMIT, spilling
    # to disk beyond it, so DuckDB and the numpy arrays together stay within budget.
    with (warehouse.settings(con, preserve_insertion_order=False, memory_limit=MEMORY_LIMIT),
          small_pages()):
        started = time.perf_counter()
        inputs = read_inputs(con)
        timings["inputs"] = time.perf_counter() - started
        window, max_gap = con.execute(
            "select getvariable('regimen_window_days')::integer, "
            "getvariable('max_gap_days')::integer"
        ).fetchall()[0]
        steps = write_lines(con, inputs, window, max_gap, timings=timings)
        del inputs
        drop_work_tables(con)
    n_lines, n_patients = con.execute(
        "select count(*), count(distinct patient_id) from build.lines_of_therapy"
    ).fetchall()[0]
    say(f"  lines: {n_lines:,} lines of therapy for {n_patients:,} patients "
        f"({steps} set-based steps)")
    return timings


def _ingredient_rule_arrays(con: duckdb.DuckDBPyConnection) -> lines_core.IngredientRules:
    rows = con.execute(
        "select ingredient_id, key_id, maintenance_addition, maintenance_anchor, her2_directed "
        "from staging.line_ingredient_rules order by ingredient_id"
    ).fetchall()
    size = max(r[0] for r in rows) + 1
    arrays = [np.zeros(size, dtype=np.int64)] + [np.zeros(size, dtype=bool) for _ in range(3)]
    for ingredient_id, *values in rows:
        for array, value in zip(arrays, values, strict=True):
            array[ingredient_id] = value
    return lines_core.IngredientRules(*arrays)


@dataclasses.dataclass(frozen=True)
class LineInputs:
    """The line-forming administrations of the cohort in the metastatic setting, sorted and
    de-duplicated (numpy arrays), and the ingredient rules: what every inference over them
    needs, whatever its regimen window and maximum gap (they depend on pre_index_days)."""

    pid: np.ndarray
    start: np.ndarray
    last: np.ndarray
    ingredient: np.ndarray
    rules: lines_core.IngredientRules
    # (pid, start, last, ingredient) of every exact-duplicate group, once: what the account
    # stage needs to count the duplicate rows without re-sorting every administration
    duplicate_groups: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def read_inputs(con: duckdb.DuckDBPyConnection) -> LineInputs:
    """Rule tables, cut-off and the temp work tables of `sql/40_lines/10_inputs.sql`, and
    the administrations as numpy arrays (variable pre_index_days already set)."""
    load_rule_tables(con, default_line_rules())
    _cutoff(con)
    warehouse.run_sql_file(con, _sql("10_"))
    columns = _sorted_columns(
        con, "select pid, start_day, last_day, ingredient_id from lot_adm "
        "order by pid, start_day, last_day, ingredient_id")
    keep = lines_core.first_of_group(*columns)
    duplicate_groups = lines_core.duplicated_groups(*columns, keep)
    for i in range(len(columns)):  # one column at a time: one extra column in memory
        columns[i] = columns[i][keep]
    del keep
    pid, start, last, ingredient = columns
    return LineInputs(pid, start, last, ingredient, _ingredient_rule_arrays(con),
                      duplicate_groups)


def _sorted_columns(con: duckdb.DuckDBPyConnection, query: str,
                    batch_rows: int = 1 << 22) -> list[np.ndarray]:
    """The query's columns as numpy arrays, streamed from DuckDB in batches (never the whole
    result twice, as Arrow and as numpy); each column is joined from its batches in turn."""
    reader = con.sql(query).to_arrow_reader(batch_rows)
    chunks: list[list[np.ndarray]] = [[pa.array([], field.type).to_numpy()]
                                      for field in reader.schema]
    for batch in reader:
        for i, parts in enumerate(chunks):
            parts.append(batch.column(i).to_numpy())
    columns = []
    for parts in chunks:
        columns.append(np.concatenate(parts))
        parts.clear()
    return columns


def write_lines(con: duckdb.DuckDBPyConnection, inputs: LineInputs, window: int, max_gap: int,
                details: bool = True, timings: dict[str, float] | None = None) -> int:
    """Infer the lines for one regimen window and maximum gap and write
    `build.lines_of_therapy` (the variables regimen_window_days and max_gap_days must hold
    the same values); with `details`, also `build.line_boundaries` and the line
    administrations. Returns the number of set-based steps."""
    timings = timings if timings is not None else {}
    started = time.perf_counter()
    result = lines_core.infer(inputs.pid, inputs.start, inputs.last, inputs.ingredient,
                              inputs.rules, window, max_gap)
    timings["steps"] = time.perf_counter() - started
    steps = result.n_steps

    started = time.perf_counter()
    con.register("lot_np_lines", pa.table(result.lines))
    con.register("lot_np_sets", pa.table(result.ingredient_sets))
    try:
        warehouse.run_sql_file(con, _sql("20_"))
    finally:
        for name in ("lot_np_lines", "lot_np_sets"):
            con.unregister(name)
    del result
    if details:
        kinds = dict(con.execute(
            "select table_name, table_type from information_schema.tables "
            "where table_schema = 'staging' and table_name = 'line_administrations'"
        ).fetchall())
        if kinds.get("line_administrations") == "BASE TABLE":  # written by an older version
            con.execute("drop table staging.line_administrations")
    warehouse.run_sql_file(con, _sql("30_"))
    if details:
        warehouse.run_sql_file(con, _sql("40_"))
        duplicates = pa.table(dict(zip(("pid", "start_day", "last_day", "ingredient_id"),
                                       inputs.duplicate_groups, strict=True)))
        con.register("lot_np_duplicates", duplicates)
        try:
            warehouse.run_sql_file(con, _sql("50_"))
        finally:
            con.unregister("lot_np_duplicates")
    timings["lines"] = time.perf_counter() - started
    return steps


def drop_work_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the temp work tables of the inference (after the last write_lines)."""
    con.execute("drop view if exists lot_adm")
    for name in TEMP_TABLES:
        con.execute(f"drop table if exists {name}")


def run(ctx: Any) -> None:
    """Pipeline stage `lines`."""
    infer_lines(ctx.con, ctx.progress)
