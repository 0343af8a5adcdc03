"""The `outcomes` stage: SQL endpoint derivation, then lifelines estimation per group.

The ~490 Kaplan–Meier fits and the log-rank tests and Cox models are independent tasks.
With more than one core they run in a fitting process started with the stage (it
imports lifelines while this process runs the SQL), which forks one worker per core and
hands them the tasks longest first; the results are put back together in order, so the
tables are the same as from one process."""

from __future__ import annotations

import atexit
import concurrent.futures
import contextlib
import dataclasses
import multiprocessing
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import yaml

from her2audit import warehouse, yaml_file
from her2audit.context import RunContext
from her2audit.errors import RuleFileError
from her2audit.numpy_pages import small_pages
from her2audit.paths import RULES_DIR

# km and compare (lifelines, pandas: about a second to import) are imported by the
# functions that fit, which run in the fitting process when there is one: this process
# only runs the SQL and hands the fits over.

SQL_STAGE = "60_outcomes"
SETTINGS_FILE = RULES_DIR / "outcomes.yaml"


@dataclasses.dataclass(frozen=True)
class OutcomeSettings:
    min_group_size: int
    detail_max_line: int
    site_max_line: int
    confidence_level: float
    comparison_lines: tuple[int, ...]
    comparison_endpoints: tuple[str, ...]
    cox_endpoints: tuple[str, ...]
    comparison_excluded_categories: tuple[str, ...]
    adjustment_covariates: tuple[str, ...]
    caveat: str

    @property
    def alpha(self) -> float:
        return 1 - self.confidence_level


def load_settings(path: Path = SETTINGS_FILE) -> OutcomeSettings:
    try:
        raw: dict[str, Any] = yaml_file.load(path.read_text())
        return OutcomeSettings(
            min_group_size=int(raw["min_group_size"]),
            detail_max_line=int(raw["detail_max_line"]),
            site_max_line=int(raw["site_max_line"]),
            confidence_level=float(raw["confidence_level"]),
            comparison_lines=tuple(int(x) for x in raw["comparison_lines"]),
            comparison_endpoints=tuple(str(x) for x in raw["comparison_endpoints"]),
            cox_endpoints=tuple(str(x) for x in raw["cox_endpoints"]),
            comparison_excluded_categories=tuple(
                str(x) for x in raw["comparison_excluded_categories"]
            ),
            adjustment_covariates=tuple(str(c["column"]) for c in raw["adjustment_covariates"]),
            caveat=" ".join(str(raw["caveat"]).split()),
        )
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError) as exc:
        raise RuleFileError(f"{path}: cannot read outcome settings ({exc})") from None


def survival_inputs(con: duckdb.DuckDBPyConnection) -> tuple[pa.Table, pa.Table]:
    """The Kaplan–Meier groups and their aggregated observations (both by group_id)."""
    groups = con.sql(
        "select group_id, endpoint, grouping, group_label, line_number, group_value, n, events "
        "from staging.survival_groups order by group_id"
    ).to_arrow_table()
    observations = con.sql(
        """
        select g.group_id, o.time_days, o.n_events, o.n_censored
        from staging.survival_observations as o
        inner join staging.survival_groups as g
            on o.endpoint = g.endpoint
            and o.grouping = g.grouping
            and o.line_number is not distinct from g.line_number
            and o.group_value is not distinct from g.group_value
        order by g.group_id, o.time_days
        """
    ).to_arrow_table()
    return groups, observations


def follow_up_input(con: duckdb.DuckDBPyConnection) -> pa.Table:
    """Per scope ('all' or a site) and distinct time from metastatic diagnosis, the patients
    whose follow-up ends there alive and the deaths (for the reverse Kaplan–Meier)."""
    return con.sql(
        "select site_id, time_days, n_followed, n_died from staging.follow_up_observations "
        "order by site_id <> 'all', site_id, time_days"
    ).to_arrow_table()


def comparison_lines(con: duckdb.DuckDBPyConnection, settings: OutcomeSettings) -> pa.Table:
    """The lines the concordant vs not comparisons use (as Arrow: the stage process, which
    hands the fits over, need not import pandas)."""
    columns = ["line_number", "concordance"]
    for endpoint in settings.comparison_endpoints:
        columns += [f"{endpoint}_days", f"{endpoint}_event"]
    columns += list(settings.adjustment_covariates)
    return con.sql(
        f"""
        select {", ".join(dict.fromkeys(columns))}
        from staging.outcome_lines
        where line_number in (select unnest(?::integer[]))
          and not list_contains(?::varchar[], category)
        order by patient_id, line_number
        """,
        params=[list(settings.comparison_lines), list(settings.comparison_excluded_categories)],
    ).to_arrow_table()


def _group_chunks(groups: pa.Table, observations: pa.Table, k: int) -> list[tuple[int, int]]:
    """Split the groups (by position) into at most k runs of about equal fitting work (a
    fixed cost per group plus its distinct times)."""
    n = groups.num_rows
    if n == 0:
        return []
    ids = groups.column("group_id").to_numpy()
    obs = observations.column("group_id").to_numpy()
    rows = np.searchsorted(obs, ids, side="right") - np.searchsorted(obs, ids, side="left")
    cost = np.cumsum(rows + 50)
    bounds = np.searchsorted(cost, cost[-1] * np.arange(1, k) / k, side="right")
    edges = [0, *sorted(set(int(b) for b in bounds if 0 < b < n)), n]
    return list(zip(edges[:-1], edges[1:], strict=True))


def _observations_of(groups: pa.Table, observations: pa.Table) -> pa.Table:
    ids = groups.column("group_id").to_numpy()
    obs = observations.column("group_id").to_numpy()
    start = int(np.searchsorted(obs, ids[0], side="left")) if len(ids) else 0
    end = int(np.searchsorted(obs, ids[-1], side="right")) if len(ids) else 0
    return observations.slice(start, end - start)


# A fitting task: ("km", arguments of km.estimate_groups), ("compare", arguments of
# compare.compare_concordance) or ("follow_up", arguments of km.median_follow_up). Run by
# `fit` in a worker process or in this one.
Task = tuple[str, tuple[Any, ...]]

# Set for the worker processes only: one BLAS thread each, as there is one process per
# core (more threads only wait on each other in lifelines' small matrix products).
ONE_THREAD = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def fit(task: Task) -> Any:
    """Run one fitting task.

    lifelines builds many small pandas objects per fit, labelled with strings; pandas'
    default storage of strings (Arrow) makes each of them dearer to build than plain
    Python strings do: a quarter to a third of a Kaplan–Meier fit. So the fits run with Python
    string storage (the same numbers; only how pandas holds labels changes). Their arrays
    are on ordinary memory pages (`numpy_pages`)."""
    import pandas as pd

    from her2audit.stages.outcomes import compare, km

    kind, args = task
    function = {"km": km.estimate_groups, "compare": compare.compare_concordance,
                "follow_up": km.median_follow_up}[kind]
    with pd.option_context("mode.string_storage", "python"), small_pages():
        return function(*args)


def _import_fitters() -> None:
    """Start-up of the fitting process: import lifelines and pandas (while the stage
    process runs its SQL), for it and the workers it forks; and at its end, leave at once.

    By the time its atexit handlers run, multiprocessing has finished its own clean-up
    (the workers are joined, the results sent); what is left is tearing down the
    interpreter with lifelines, pandas and scipy loaded, which cost about 0.25 s of CPU
    (the stage at 1,000 patients: 4.85 s -> 4.60 s CPU, mean of 4 runs each) and holds up
    the stage process, which waits for the fitting process at its own exit."""
    from her2audit.stages.outcomes import compare, km  # noqa: F401

    atexit.register(_leave)


def _leave() -> None:
    """The fitting process's last atexit handler to be registered, so the first to run:
    flush what it may have written, then exit without tearing the interpreter down. (Its
    exit status is read by nobody: the executor watches for a process that dies while it
    has work.)"""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


@contextlib.contextmanager
def fitting_process(workers: int) -> Iterator[concurrent.futures.ProcessPoolExecutor | None]:
    """A fresh process for the lifelines fits when there is more than one core (None
    otherwise: the fits then run in this one).

    It is started at once, so that it imports lifelines while this process runs the SQL,
    and then forks its workers (`run_tasks`), which find lifelines loaded: one import
    instead of one per worker (about a second of CPU each). This process, which has
    DuckDB open, is never forked. It runs with one BLAS thread per process (there is one
    process per core; more threads only wait on each other in lifelines' small matrix
    products)."""
    if workers <= 1:
        yield None
        return
    context = multiprocessing.get_context("spawn")
    pool = concurrent.futures.ProcessPoolExecutor(1, mp_context=context,
                                                  initializer=_import_fitters)
    try:
        # the process starts with the first task, in the environment of that moment
        saved = {name: os.environ.get(name) for name in ONE_THREAD}
        os.environ.update({name: "1" for name, value in saved.items() if value is None})
        try:
            pool.submit(os.getpid)
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
        yield pool
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    else:
        # the fitting process exits (a few tenths of a second with lifelines loaded) while
        # this one writes the results; the pool's thread reaps it
        pool.shutdown(wait=False)


# The tasks `run_tasks` hands out: its forked workers inherit them instead of receiving
# each through a pipe.
_TASKS: list[Task] = []


def _fit_inherited(i: int) -> Any:
    return fit(_TASKS[i])


def _cost(task: Task) -> tuple[int, int]:
    """Order of handing out, longest first: the Cox models by their number of lines, then
    the log-rank tests, the median follow-up (one fit per site: 0.5 s at 100,000 patients),
    then the runs of groups (about equal, shorter)."""
    from her2audit.stages.outcomes import compare

    kind, args = task
    if kind != "compare":
        return (0, 1 if kind == "follow_up" else 0)
    return (1 if args[-1] == (compare.LOG_RANK,) else 2, args[0].num_rows)


def run_tasks(tasks: list[Task], workers: int) -> list[Any]:
    """The results of `tasks`, in their order, from `workers` processes, handed out
    longest first so that they finish together. On Linux the processes are forked from
    this one, with lifelines loaded and the tasks in memory: call it with more than one
    worker only in a process without DuckDB (`fitting_process`). Elsewhere (where fork is
    not safe with the system's libraries) they are spawned. One process runs them here."""
    global _TASKS
    if workers <= 1 or len(tasks) <= 1:
        return [fit(task) for task in tasks]
    order = sorted(range(len(tasks)), key=lambda i: _cost(tasks[i]), reverse=True)
    if not sys.platform.startswith("linux"):
        context = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
            pending = {i: pool.submit(fit, tasks[i]) for i in order}
            return [pending[i].result() for i in range(len(tasks))]
    _TASKS = tasks
    try:
        context = multiprocessing.get_context("fork")
        with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
            pending = {i: pool.submit(_fit_inherited, i) for i in order}
            return [pending[i].result() for i in range(len(tasks))]
    finally:
        _TASKS = []


def fitting_tasks(
    groups: pa.Table, observations: pa.Table, lines: pa.Table, settings: OutcomeSettings,
    km_chunks: int,
) -> tuple[list[Task], list[Task]]:
    """The Kaplan–Meier fits in `km_chunks` runs of groups of about equal work, and the
    comparisons one (endpoint, line, model) per task, in the order of their rows."""
    from her2audit.stages.outcomes import compare

    km_tasks: list[Task] = []
    for start, end in _group_chunks(groups, observations, km_chunks):
        part = groups.slice(start, end - start)
        km_tasks.append(("km", (part, _observations_of(part, observations),
                                settings.min_group_size, settings.alpha)))
    line_number = lines.column("line_number").to_numpy()
    compare_tasks: list[Task] = []
    for endpoint in settings.comparison_endpoints:
        for number in settings.comparison_lines:
            rows = lines.filter(pa.array(line_number == number))
            for model in compare.models_of(endpoint, settings.cox_endpoints):
                # only the adjusted model reads the covariates
                covariates = (settings.adjustment_covariates
                              if model == compare.COX_ADJUSTED else ())
                columns = ["line_number", "concordance", f"{endpoint}_days",
                           f"{endpoint}_event", *covariates]
                compare_tasks.append(("compare", (
                    rows.select(list(dict.fromkeys(columns))), (endpoint,), (number,),
                    covariates, settings.caveat, settings.min_group_size, settings.alpha,
                    settings.cox_endpoints, (model,))))
    return km_tasks, compare_tasks


def estimate_and_compare(
    groups: pa.Table, observations: pa.Table, lines: pa.Table, follow_up: pa.Table,
    settings: OutcomeSettings, workers: int = 1,
) -> tuple[pa.Table, pa.Table, pa.Table, pa.Table]:
    """All Kaplan–Meier fits, the comparisons and the median follow-up (lifelines), spread
    over `workers` processes (`run_tasks`; call it with more than one only in
    `fitting_process`). The pieces are put back together in order, so the tables are the
    same as from one process. Returns (survival_summary, survival_curves,
    survival_comparisons, median_follow_up)."""
    km_tasks, compare_tasks = fitting_tasks(groups, observations, lines, settings,
                                            max(1, workers * 8))
    follow_up_task: Task = ("follow_up", (follow_up, settings.alpha))
    results = run_tasks([*compare_tasks, *km_tasks, follow_up_task], workers)
    compared = results[:len(compare_tasks)]
    km_parts = results[len(compare_tasks):len(compare_tasks) + len(km_tasks)]
    if km_parts:
        summary = pa.concat_tables([p[0] for p in km_parts])
        curves = pa.concat_tables([p[1] for p in km_parts])
    else:
        summary, curves = fit(("km", (groups, observations, settings.min_group_size,
                                      settings.alpha)))
    comparisons = (pa.concat_tables(compared) if compared else
                   fit(("compare", (lines, (), (), (), settings.caveat,
                                    settings.min_group_size, settings.alpha))))
    return summary, curves, comparisons, results[-1]


def workers_available() -> int:
    """Processes the lifelines fits may use: the cores this process may run on, or
    HER2AUDIT_OUTCOME_WORKERS."""
    configured = os.environ.get("HER2AUDIT_OUTCOME_WORKERS")
    if multiprocessing.current_process().daemon:
        return 1  # a daemonic process may not start workers
    if configured:
        return max(1, int(configured))
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
        os.cpu_count() or 1)


UPSTREAM = ("build.lines_of_therapy", "build.line_concordance", "build.patients",
            "staging.data_cutoff")


def missing_upstream(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Upstream tables (lines, concordance, cohort stages) that this run has not built."""
    return [name for name in UPSTREAM if not warehouse.has_table(con, name)]


def run(ctx: RunContext) -> None:
    """Stage entry point (`her2audit.stages.outcomes:run`).

    Runs after `cohort`, `lines` and `concordance`. When the run has not built their
    tables (a pipeline without those stages), it says so and writes nothing.
    """
    missing = missing_upstream(ctx.con)
    if missing:
        ctx.progress(f"  outcomes skipped: {', '.join(missing)} not built in this run")
        return
    settings = load_settings()
    clock = _Clock()
    workers = workers_available()
    with fitting_process(workers) as fitter:
        warehouse.set_variables(ctx.con, {
            "outcomes_detail_max_line": settings.detail_max_line,
            "outcomes_site_max_line": settings.site_max_line,
        })
        warehouse.run_sql_stage(ctx.con, SQL_STAGE)
        groups, observations = survival_inputs(ctx.con)
        lines = comparison_lines(ctx.con, settings)
        follow_up = follow_up_input(ctx.con)
        derived = clock.lap()
        arguments = (groups, observations, lines, follow_up, settings, workers)
        summary, curves, comparisons, median_follow_up = (
            estimate_and_compare(*arguments) if fitter is None
            else fitter.submit(estimate_and_compare, *arguments).result())
    warehouse.write_arrow(ctx.con, "build.survival_summary", summary)
    warehouse.write_arrow(ctx.con, "build.survival_curves", curves)
    warehouse.write_arrow(ctx.con, "build.survival_comparisons", comparisons)
    warehouse.write_arrow(ctx.con, "build.median_follow_up", median_follow_up)
    estimated = clock.lap()
    n_lines = ctx.con.sql("select count(*) from build.line_outcomes").fetchall()[0][0]
    status = ctx.con.sql(
        "select status, count(*) from build.survival_summary group by status order by status"
    ).fetchall()
    n_curve_rows = ctx.con.sql("select count(*) from build.survival_curves").fetchall()[0][0]
    ctx.progress(
        f"  line outcomes for {n_lines:,} lines in {derived}; "
        f"Kaplan–Meier groups ({', '.join(f'{s}: {n}' for s, n in status)}; "
        f"{n_curve_rows:,} curve rows), log-rank and Cox comparisons in {estimated} "
        f"({workers} process{'es' if workers > 1 else ''}; CPU of this process only)"
    )


class _Clock:
    """Wall and CPU time of successive steps (CPU time shows the work on a busy machine)."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def lap(self) -> str:
        wall, cpu = time.perf_counter(), time.process_time()
        text = f"{wall - self.wall:.1f} s (CPU {cpu - self.cpu:.1f} s)"
        self.wall, self.cpu = wall, cpu
        return text
