"""`her2audit sensitivity`: how much the verdicts and the quality indicators depend on the
line-of-therapy parameters.

The lines and concordance stages' own code is re-run over a grid of parameters (default
`max_gap_days` 90/120/180 x `regimen_window_days` 21/28/42, from `rules/parameters.yaml`;
the audited run's own parameters are always added) on a *published* warehouse. It reads
what a published warehouse keeps: `staging.administrations`, `staging.metastases`,
`staging.data_cutoff`, `audit.patients`, and the published run itself (`audit.runs` for its
parameters, pinned guideline and rulebooks; `audit.line_context` and
`audit.quality_indicators` to compare against). The work is done in a scratch in-memory
DuckDB with the warehouse attached read-only; `audit.sensitivity` is written at the end in
one short transaction. Each grid point is set-based (numpy line inference and SQL); the
administrations are read once per `pre_index_days` value.

`audit.sensitivity` (SQL in `sql/sensitivity/`), one row per parameter set x measure:
parameter_set, pre_index_days, regimen_window_days, max_gap_days, is_run_parameters,
measure_type ('indicator' or 'line'), measure (an indicator, or a line group '1', '2', '3',
'4+', 'all'), numerator, denominator, rate, run_rate, rate_change, n_lines, run_lines,
lines_changed, lines_recategorized, lines_boundary_moved, run_id.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import duckdb
import pyarrow as pa

from her2audit import guidelines, warehouse
from her2audit.errors import RuleFileError, UsageError
from her2audit.numpy_pages import small_pages
from her2audit.parameters import DEFAULTS_FILE, GRID_KEYS, RunParameters, load_parameters
from her2audit.parameters import grid_days as _days_list
from her2audit.parameters import grid_section as _grid_section
from her2audit.stages import concordance, lines

SQL_STAGE = "sensitivity"
# What the re-run reads from the published warehouse: staging tables the extract and
# cohort stages leave behind, and the published run to compare against.
PUBLISHED_INPUTS = ("staging.administrations", "staging.metastases", "audit.patients",
                    "audit.runs", "audit.line_context", "audit.quality_indicators")
MEMORY_LIMIT = "3GB"


@dataclasses.dataclass(frozen=True, order=True)
class ParameterSet:
    max_gap_days: int
    regimen_window_days: int
    pre_index_days: int

    @property
    def label(self) -> str:
        return (f"max_gap_days={self.max_gap_days}, "
                f"regimen_window_days={self.regimen_window_days}, "
                f"pre_index_days={self.pre_index_days}")


@dataclasses.dataclass(frozen=True)
class PublishedRun:
    run_id: str
    params: RunParameters

    @property
    def parameter_set(self) -> ParameterSet:
        return ParameterSet(self.params.max_gap_days, self.params.regimen_window_days,
                            self.params.pre_index_days)


def load_grid(run: ParameterSet, config: Path | None = None,
              overrides: Mapping[str, list[int] | None] | None = None) -> list[ParameterSet]:
    """Every combination of the grid's values (rules/parameters.yaml, then a --config file's
    `sensitivity:` mapping, then the command line), plus the run's own parameter set.
    pre_index_days, when no source lists it, is the run's own value."""
    values: dict[str, list[int]] = {"pre_index_days": [run.pre_index_days]}
    for source in (DEFAULTS_FILE, config):
        if source is None:
            continue
        for name, value in _grid_section(source).items():
            values[name] = _days_list(name, value, str(source))
    for name, value in (overrides or {}).items():
        if value is not None:
            values[name] = _days_list(name, value, "command line")
    missing = [k for k in GRID_KEYS if k not in values]
    if missing:
        raise RuleFileError(f"{DEFAULTS_FILE}: sensitivity lacks {', '.join(missing)}")
    grid = {ParameterSet(*combo) for combo in itertools.product(*(values[k] for k in GRID_KEYS))}
    return sorted(grid | {run})


def _open_published(db: Path) -> duckdb.DuckDBPyConnection:
    if not Path(db).is_file():
        raise UsageError(f"{db}: no such warehouse file (run `her2audit run` first)")
    try:
        return warehouse.connect(db, read_only=True)
    except duckdb.Error as exc:
        first = str(exc).strip().splitlines()[0]
        raise UsageError(f"{db}: cannot open the warehouse ({first})") from None


def published_run(db: Path) -> PublishedRun:
    """The warehouse's latest published run, checked to hold what the re-run reads."""
    con = _open_published(db)
    try:
        missing = [t for t in PUBLISHED_INPUTS
                   if t.split(".")[1] not in warehouse.table_names(con, t.split(".")[0])]
        if missing:
            raise UsageError(
                f"{db}: {', '.join(missing)} missing; sensitivity needs a warehouse published "
                f"by a complete `her2audit run`")
        row = con.execute(
            "select run_id, parameters from audit.runs where status = 'published' "
            "order by finished_at desc, run_id desc limit 1"
        ).fetchone()
    finally:
        con.close()
    if row is None:
        raise UsageError(f"{db}: no published run in audit.runs")
    return PublishedRun(row[0], load_parameters(overrides=json.loads(row[1])))


def _workspace(db: Path, tmp: Path) -> duckdb.DuckDBPyConnection:
    """In-memory DuckDB with the warehouse attached read-only, and views giving the stages
    the names they read (`staging.*`, `build.patients`) and the run's tables
    (`baseline.*`)."""
    work = duckdb.connect()
    work.execute("set enable_progress_bar = false")
    work.execute("set temp_directory = ?", [str(tmp)])
    work.execute("attach ? as published (read_only)", [str(db)])
    for schema in ("staging", "build", "baseline"):
        work.execute(f"create schema {schema}")
    views = {
        "staging.administrations": "published.staging.administrations",
        "staging.metastases": "published.staging.metastases",
        "build.patients": "published.audit.patients",
        "baseline.line_context": "published.audit.line_context",
        "baseline.quality_indicators": "published.audit.quality_indicators",
    }
    published_staging = {r[0] for r in work.execute(
        "select table_name from information_schema.tables "
        "where table_catalog = 'published' and table_schema = 'staging'").fetchall()}
    if "data_cutoff" in published_staging:
        views["staging.data_cutoff"] = "published.staging.data_cutoff"
    for view, source in views.items():
        work.execute(f"create view {view} as select * from {source}")
    return work


ROWS_DDL = """
create or replace temp table sensitivity_rows (
    parameter_set varchar, pre_index_days integer, regimen_window_days integer,
    max_gap_days integer, is_run_parameters boolean, measure_type varchar, measure varchar,
    numerator bigint, denominator bigint, rate double, run_rate double, rate_change double,
    n_lines bigint, run_lines bigint, lines_changed bigint, lines_recategorized bigint,
    lines_boundary_moved bigint, measure_order integer
)
"""


@dataclasses.dataclass
class SensitivityResult:
    run_id: str
    grid: list[ParameterSet]
    table: pa.Table  # audit.sensitivity as written
    seconds: float
    cpu_seconds: float


def run_sensitivity(db: Path, grid: Iterable[ParameterSet] | None = None,
                    config: Path | None = None,
                    overrides: Mapping[str, list[int] | None] | None = None,
                    progress: Callable[[str], None] = lambda m: None) -> SensitivityResult:
    """Re-run lines and concordance for every parameter set of the grid on the published
    warehouse `db` and write `audit.sensitivity`."""
    started, cpu_started = time.perf_counter(), time.process_time()
    run = published_run(db)
    points = sorted(grid) if grid is not None else load_grid(run.parameter_set, config,
                                                             overrides)
    if run.parameter_set not in points:
        points = sorted([*points, run.parameter_set])
    with tempfile.TemporaryDirectory(prefix="her2audit-sensitivity-") as tmp:
        work = _workspace(db, Path(tmp))
        try:
            table = _run_grid(work, run, points, progress)
        finally:
            work.close()
    _write(db, table)
    return SensitivityResult(run.run_id, points, table, time.perf_counter() - started,
                             time.process_time() - cpu_started)


def _run_grid(work: duckdb.DuckDBPyConnection, run: PublishedRun,
              points: list[ParameterSet], progress: Callable[[str], None]) -> pa.Table:
    work.execute(ROWS_DDL)
    books = guidelines.load_rulebooks(run.params.rulebooks)
    by_pre_index = sorted(points, key=lambda p: (p.pre_index_days, p))
    with (warehouse.settings(work, preserve_insertion_order=False, memory_limit=MEMORY_LIMIT),
          small_pages()):
        for pre_index, group in itertools.groupby(by_pre_index, key=lambda p: p.pre_index_days):
            warehouse.set_variables(work, {
                "pre_index_days": pre_index, "pinned_guideline": run.params.guideline,
                "data_cutoff": run.params.data_cutoff,
            })
            inputs = lines.read_inputs(work)
            for point in group:
                point_started = time.perf_counter()
                warehouse.set_variables(work, {
                    "regimen_window_days": point.regimen_window_days,
                    "max_gap_days": point.max_gap_days,
                    "sensitivity_pre_index_days": point.pre_index_days,
                    "sensitivity_regimen_window_days": point.regimen_window_days,
                    "sensitivity_max_gap_days": point.max_gap_days,
                    "sensitivity_is_run_parameters": point == run.parameter_set,
                })
                lines.write_lines(work, inputs, point.regimen_window_days, point.max_gap_days,
                                  details=False)
                concordance.judge(work, run.params.rulebooks, run.params.guideline, books,
                                  verdicts_only=True)
                warehouse.run_sql_stage(work, SQL_STAGE)
                progress(f"  {point.label}: {time.perf_counter() - point_started:.1f} s")
            del inputs
            lines.drop_work_tables(work)
    return work.sql(
        """
        select * exclude (measure_order), ? as run_id
        from sensitivity_rows
        order by max_gap_days, regimen_window_days, pre_index_days,
            measure_type <> 'indicator', measure_order
        """,
        params=[run.run_id],
    ).to_arrow_table()


def _write(db: Path, table: pa.Table) -> None:
    """Replace `audit.sensitivity` in one transaction."""
    try:
        con = warehouse.connect(db)
    except duckdb.Error as exc:
        first = str(exc).strip().splitlines()[0]
        raise UsageError(f"{db}: cannot write audit.sensitivity ({first})") from None
    try:
        con.register("sensitivity_result", table)
        con.execute("begin transaction")
        con.execute("create or replace table audit.sensitivity as "
                    "select * from sensitivity_result")
        con.execute("commit")
    finally:
        con.close()


def summary_lines(result: SensitivityResult) -> list[str]:
    """What the command prints: how far each rate moves over the grid, and how many of the
    run's lines change category under each parameter set."""
    rows = result.table.to_pylist()
    out = [f"sensitivity of run {result.run_id}: {len(result.grid)} parameter sets "
           f"({result.seconds:.1f} s, {result.cpu_seconds:.1f} s CPU); written to "
           f"audit.sensitivity"]
    out.append("rates over the grid (the run's own value in brackets):")
    measures = list(dict.fromkeys((r["measure_type"], r["measure"]) for r in rows))
    for measure_type, measure in measures:
        rates = [r["rate"] for r in rows
                 if (r["measure_type"], r["measure"]) == (measure_type, measure)
                 and r["rate"] is not None]
        own = next((r["rate"] for r in rows if r["is_run_parameters"]
                    and (r["measure_type"], r["measure"]) == (measure_type, measure)), None)
        name = (measure if measure_type == "indicator" else "line concordance, all lines"
                if measure == "all" else f"line concordance, line {measure}")
        if not rates:
            out.append(f"  {name:<34} no evaluable lines")
            continue
        own_text = f"{own:.1%}" if own is not None else "n/a"
        out.append(f"  {name:<34} {min(rates):6.1%} to {max(rates):6.1%}  [{own_text}]")
    out.append("lines of the run changing category (same start, another category + start "
               "moved):")
    for r in rows:
        if r["measure_type"] == "line" and r["measure"] == "all":
            mark = "  (the run's own parameters)" if r["is_run_parameters"] else ""
            out.append(f"  {r['parameter_set']:<56} {r['lines_changed']:>8,} of "
                       f"{r['run_lines']:,} ({r['lines_recategorized']:,} + "
                       f"{r['lines_boundary_moved']:,}){mark}")
    return out
