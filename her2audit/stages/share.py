"""Stage `share`: the aggregates that may leave the registry (schema `share`), and the
descriptions of every table and column of `audit` and `share`.

What each share table holds and how its counts are protected is data in
`her2audit/rules/share.yaml`; the SQL that gathers each table's real counts is in
`sql/85_share/`. Counts from 1 to 10 are hidden, and so is every count that would give one
away by subtraction along the table's margins (`her2audit.disclosure`, the same rule as the
shareable report). Survival curves are shared as life tables whose intervals are merged
until no event or censoring count from 1 to 10 remains. Nothing identifies a patient: no
patient id, no input value, no date of an individual.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import json
from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any

import duckdb
import pyarrow as pa

from her2audit import __version__, dictionary, disclosure, warehouse, yaml_file
from her2audit.context import RunContext
from her2audit.paths import RULES_DIR, SQL_DIR

SHARE_FILE = RULES_DIR / "share.yaml"
SQL_STAGE = "85_share"
ALL = "all"
REST = "rest"  # last term of an equation whose parts leave an unpublished rest


@dataclasses.dataclass(frozen=True)
class TableSpec:
    """One share table (or family of tables) and the relations among its counts."""

    name: str
    cells: str
    requires: tuple[str, ...]
    dimensions: tuple[str, ...]
    counts: Mapping[str, tuple[str, ...]]
    split: str | None = None
    equations: tuple[tuple[str, ...], ...] = ()
    partitions: Mapping[str, Any] | None = None
    chain: Mapping[str, str] | None = None
    hide_with: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    rates: Mapping[str, tuple[str, str]] = dataclasses.field(default_factory=dict)
    hide_last: tuple[str, ...] = ()
    incomplete: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class ShareSpec:
    interval_days: float
    tables: tuple[TableSpec, ...]
    copied: Mapping[str, Mapping[str, Any]]


@functools.cache
def load_spec() -> ShareSpec:
    raw = yaml_file.load(SHARE_FILE.read_text())
    tables = []
    for name, t in raw["tables"].items():
        counts = {c: tuple(over or ()) for c, over in t["counts"].items()}
        hide_with = {col: tuple(counts) if on == ["*"] else tuple(on)
                     for col, on in (t.get("hide_with") or {}).items()}
        tables.append(TableSpec(
            name=name, cells=t["cells"], split=t.get("split"),
            requires=tuple(t.get("requires") or ()), dimensions=tuple(t["dimensions"]),
            counts=counts, equations=tuple(tuple(e) for e in t.get("equations") or ()),
            partitions=t.get("partitions"), chain=t.get("chain"), hide_with=hide_with,
            rates={col: tuple(pair) for col, pair in (t.get("rates") or {}).items()},
            hide_last=tuple(t.get("hide_last") or ()),
            incomplete=tuple(t.get("incomplete") or ()),
        ))
    return ShareSpec(float(raw["life_table_interval_days"]), tuple(tables), raw["copied"])


# ---- suppression ---------------------------------------------------------------------

Cell = tuple[int, str]


def relations_of(rows: Sequence[Mapping[str, Any]], spec: TableSpec
                 ) -> tuple[dict[Hashable, int], set[Hashable], list[list[Hashable]]]:
    """The counts of `rows` as cells `(row index, column)`, the unpublished remainders, and
    every relation the spec declares, each `[total, part, part, ...]` (total = sum of the
    parts; a remainder that is not shown is one of the parts)."""
    values: dict[Hashable, int] = {
        (i, c): int(row[c]) for i, row in enumerate(rows) for c in spec.counts
        if row.get(c) is not None
    }
    unpublished: set[Hashable] = set()
    relations: list[list[Hashable]] = []

    def relate(total: Cell, parts: Iterable[Cell], complete: bool = True) -> None:
        """total = sum of parts (+ an unpublished rest unless the parts are `complete`)."""
        parts = list(parts)
        if total not in values or not parts or any(p not in values for p in parts):
            return
        remainder = values[total] - sum(values[p] for p in parts)
        cells: list[Hashable] = [total, *parts]
        if remainder or not complete:
            virtual = ("remainder", len(relations))
            values[virtual] = remainder
            unpublished.add(virtual)
            cells.append(virtual)
        relations.append(cells)

    for count, over in spec.counts.items():
        for dim in over:
            others = [d for d in spec.dimensions if d != dim]
            totals: dict[tuple, int] = {}
            parts: dict[tuple, list[int]] = {}
            for i, row in enumerate(rows):
                key = tuple(row.get(d) for d in others)
                if row.get(dim) == ALL:
                    totals[key] = i
                else:
                    parts.setdefault(key, []).append(i)
            for key, total in totals.items():
                relate((total, count), [(i, count) for i in parts.get(key, [])],
                       complete=dim not in spec.incomplete)
    for i in range(len(rows)):
        for total, *rest in spec.equations:
            complete = rest[-1] != REST
            relate((i, total), [(i, c) for c in rest if c != REST], complete)
    if spec.partitions:
        by, within, total_values = (spec.partitions["by"], spec.partitions["within"],
                                    set(spec.partitions["totals"]))
        groups: dict[tuple, list[int]] = {}
        for i, row in enumerate(rows):
            groups.setdefault(tuple(row.get(d) for d in within), []).append(i)
        for members in groups.values():
            totals_here = [i for i in members if rows[i].get(by) in total_values]
            if len(totals_here) != 1:
                continue
            by_value: dict[Any, list[int]] = {}
            for i in members:
                if i != totals_here[0]:
                    by_value.setdefault(rows[i].get(by), []).append(i)
            for count in spec.counts:
                for part_rows in by_value.values():
                    relate((totals_here[0], count), [(i, count) for i in part_rows],
                           complete=bool(spec.partitions.get("complete", False)))
    if spec.chain:
        order = sorted(range(len(rows)), key=lambda i: rows[i][spec.chain["order"]])
        total, removed = spec.chain["total"], spec.chain["removed"]
        for prev, cur in itertools.pairwise(order):
            relate((prev, total), [(cur, total), (cur, removed)])
    return values, unpublished, relations


def suppress(rows: Sequence[Mapping[str, Any]], spec: TableSpec) -> list[dict[str, Any]]:
    """`rows` with every count from 1 to 10, and every count that would give one away by
    subtraction, set to None; statistics hidden with their counts; rates recomputed."""
    values, unpublished, relations = relations_of(rows, spec)

    def prefer(cell: Hashable) -> tuple:  # smallest first (hide_last ones last); ties by
        i, column = cell                   # column, then row
        return (column in spec.hide_last, values[cell], column,
                tuple(str(rows[i].get(d)) for d in spec.dimensions))

    hidden = disclosure.protect(values, relations, unpublished, prefer)
    out = []
    for i, row in enumerate(rows):
        new = dict(row)
        for count in spec.counts:
            if (i, count) in hidden:
                new[count] = None
        for column, on in spec.hide_with.items():
            if any((i, c) in hidden for c in on):
                new[column] = None
        for column, (num, den) in spec.rates.items():
            n, d = new.get(num), new.get(den)
            new[column] = n / d if n is not None and d else None
        out.append(new)
    return out


def life_tables(intervals: Sequence[Mapping[str, Any]], shown: Mapping[tuple, int]
                ) -> list[dict[str, Any]]:
    """Life tables of the curves in `shown` (curve key -> its n), from `intervals` (events
    and censorings per curve and month, sorted): consecutive months merge into one interval
    until its events and its censorings are each 0 or at least the threshold, and so are
    those left after it; the last interval is open-ended. A curve that cannot be cut so is
    left out. `survival` is the product-limit estimate at each interval's end, events before
    censorings within an interval."""
    def ok(count: int) -> bool:
        return count == 0 or count >= disclosure.THRESHOLD

    out = []
    for key, group in itertools.groupby(intervals, key=curve_key):
        months = list(group)
        n = shown.get(key)
        total_events = sum(m["n_events"] for m in months)
        total_censored = sum(m["n_censored"] for m in months)
        if n is None or n != total_events + total_censored or not (
                ok(total_events) and ok(total_censored)):
            continue
        rows, start, at_risk, survival = [], 0, n, 1.0
        events = censored = 0
        tail_events, tail_censored = total_events, total_censored
        for m in months:
            events, censored = events + m["n_events"], censored + m["n_censored"]
            tail_events -= m["n_events"]
            tail_censored -= m["n_censored"]
            closes = (events + censored > 0 and tail_events + tail_censored > 0
                      and ok(events) and ok(censored) and ok(tail_events)
                      and ok(tail_censored))
            if closes:
                survival *= 1 - events / at_risk
                rows.append((start, m["month"] + 1, at_risk, events, censored, survival))
                at_risk -= events + censored
                start, events, censored = m["month"] + 1, 0, 0
        if events + censored:
            survival *= 1 - events / at_risk
            rows.append((start, None, at_risk, events, censored, survival))
        label = months[0].get("group_label")
        for month_from, month_to, n_risk, n_events, n_censored, s in rows:
            out.append({"endpoint": key[0], "grouping": key[1], "group_label": label,
                        "line_number": key[2], "group_value": key[3], "month_from": month_from,
                        "month_to": month_to, "n_at_risk": n_risk, "n_events": n_events,
                        "n_censored": n_censored, "survival": s})
    return out


def curve_key(r: Mapping[str, Any]) -> tuple:
    """Which curve a row of survival_summary, survival_curves or the intervals is about."""
    return (r.get("endpoint"), r.get("grouping"), r.get("line_number"), r.get("group_value"))


LIFE_TABLE_SCHEMA = pa.schema([
    ("endpoint", pa.string()), ("grouping", pa.string()), ("group_label", pa.string()),
    ("line_number", pa.int32()), ("group_value", pa.string()), ("month_from", pa.int32()),
    ("month_to", pa.int32()), ("n_at_risk", pa.int64()), ("n_events", pa.int64()),
    ("n_censored", pa.int64()), ("survival", pa.float64()),
])


# ---- the stage -----------------------------------------------------------------------


def _suppressed_table(con: duckdb.DuckDBPyConnection, spec: TableSpec) -> pa.Table:
    warehouse.run_sql_file(con, SQL_DIR / SQL_STAGE / spec.cells)
    cells = con.sql(f"select * from staging.share_{spec.name}_cells").to_arrow_table()
    rows = suppress(cells.to_pylist(), spec)
    schema = cells.schema
    for column in spec.rates:
        if column not in schema.names:
            schema = schema.append(pa.field(column, pa.float64()))
    return pa.Table.from_pylist(rows, schema=schema)


def _set_variables(ctx: RunContext, interval_days: float) -> None:
    con = ctx.con
    rulebooks = []
    if warehouse.has_table(con, "build.guideline_versions"):
        present = warehouse.column_names(con, "build.guideline_versions")
        cols = [c for c in ("guideline_id", "version", "sha256") if c in present]
        cur = con.execute(f"select {', '.join(cols)} from build.guideline_versions order by all")
        rulebooks = [dict(zip(["id" if c == "guideline_id" else c for c in cols], r, strict=True))
                     for r in cur.fetchall()]
    cutoff = None
    if warehouse.has_table(con, "staging.data_cutoff"):
        value = con.execute("select max(data_cutoff) from staging.data_cutoff").fetchone()[0]
        cutoff = value.strftime("%Y-%m") if value is not None else None
    warehouse.set_variables(con, {
        "share_interval_days": interval_days, "software_version": __version__,
        "suppression_threshold": disclosure.THRESHOLD,
        "share_rulebooks": json.dumps(rulebooks), "share_data_cutoff_month": cutoff,
    })


def build(ctx: RunContext) -> list[str]:
    """(Re)build every share table this run has the inputs for; returns their names."""
    con, spec = ctx.con, load_spec()
    _set_variables(ctx, spec.interval_days)
    con.execute(f"drop schema if exists {warehouse.SHARE} cascade")
    con.execute(f"create schema {warehouse.SHARE}")
    work_tables = []
    for table in spec.tables:
        if not all(warehouse.has_table(con, r) for r in table.requires):
            continue
        suppressed = _suppressed_table(con, table)
        work_tables.append(f"staging.share_{table.name}_cells")
        if table.split:
            warehouse.write_arrow(con, f"staging.share_{table.name}", suppressed)
            work_tables.append(f"staging.share_{table.name}")
            warehouse.run_sql_file(con, SQL_DIR / SQL_STAGE / table.split)
        else:
            warehouse.write_arrow(con, f"{warehouse.SHARE}.{table.name}", suppressed)
    if (warehouse.has_table(con, "build.survival_curves")
            and warehouse.has_table(con, "share.survival_summary")):
        warehouse.run_sql_file(con, SQL_DIR / SQL_STAGE / "40_survival_intervals.sql")
        work_tables.append("staging.share_survival_intervals")
        shown = {curve_key(r): r["n"] for r in con.sql(
            "select * from share.survival_summary where n is not null and events is not null"
        ).to_arrow_table().to_pylist()}
        intervals = con.sql("select * from staging.share_survival_intervals").to_arrow_table()
        warehouse.write_arrow(con, "share.survival_curves", pa.Table.from_pylist(
            life_tables(intervals.to_pylist(), shown), schema=LIFE_TABLE_SCHEMA))
    for copied in spec.copied.values():
        if all(warehouse.has_table(con, r) for r in copied.get("requires") or ()):
            warehouse.run_sql_file(con, SQL_DIR / SQL_STAGE / copied["sql"])
    for name in work_tables:
        con.execute(f"drop table if exists {name}")
    return warehouse.table_names(con, warehouse.SHARE)


def run(ctx: RunContext) -> None:
    tables = build(ctx)
    dictionary.describe(ctx.con)
    ctx.progress(f"  share: {len(tables)} tables of suppressed aggregates "
                 f"(counts from 1 to {disclosure.THRESHOLD - 1} hidden)")


def done(ctx: RunContext) -> bool:
    """Whether the share layer was built for this run."""
    if not warehouse.has_table(ctx.con, "share.run"):
        return False
    row = ctx.con.execute("select run_id from share.run").fetchone()
    return row is not None and row[0] == ctx.run_id


def ensure(ctx: RunContext) -> None:
    """Run the stage unless this run already did (a pipeline without `share`)."""
    if not done(ctx):
        run(ctx)
