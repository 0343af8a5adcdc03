"""`make bench`: wall time, CPU time, rows/s and peak memory per stage on a synthetic
registry, against a baseline measured in the same run.

Each step runs in its own process (as an Airflow task would), so its peak resident memory
and its CPU time (user + system, of the process, its threads and the worker processes it
waited for) are measured on their own (`os.wait4`). A stage's process ends as Airflow's task
process does (`exit_like_a_task`): without tearing the interpreter down. On a machine
shared with other work the wall time grows with the load, the CPU time much less: compare
CPU times across runs.
Stages are taken from `pipeline.STAGES`, so a new stage is benchmarked as soon as it is in
the pipeline. A stage that fails is reported in the table (status `failed`, the later
stages `not run`) and the benchmark exits non-zero.

The baseline (benchmarks.baseline) is DuckDB alone on the same files: loading every CSV
as text, typing the treatment rows and sorting them by patient and date. The ratio
pipeline / baseline says how far the pipeline is from the cost of just reading its input.

    python -m benchmarks.pipeline --patients 100000          # make bench
    python -m benchmarks.pipeline --patients 1000000         # make bench-large

Results are also written to bench_output/bench_n<patients>.json.
"""

from __future__ import annotations

import argparse
import atexit
import datetime as dt
import json
import multiprocessing
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import NoReturn

from her2audit import context, pipeline, warehouse, work_file
from her2audit.parameters import load_parameters

# What each stage's "rows" are, for rows/s: the table it mainly works through.
STAGE_ROWS = {
    "extract": "select sum(rows_in) from build.row_accounting",
    "validate": "select sum(rows_staged) from build.row_accounting",
    "cohort": "select count(*) from staging.patients",
    "lines": "select count(*) from staging.administrations",
    "concordance": "select count(*) from build.lines_of_therapy",
    "outcomes": "select count(*) from build.lines_of_therapy",
    "marts": "select count(*) from build.lines_of_therapy",
    "report": "select count(*) from build.lines_of_therapy",
    "account": "select sum(rows_in) from build.row_accounting",
    "share": "select count(*) from build.lines_of_therapy",
    "publish": "select count(*) from audit.lines_of_therapy",
}

OK, FAILED, NOT_RUN = "ok", "failed", "not run"


def _measure(argv: list[str], stdout=None) -> dict[str, object]:
    """Run a command; its wall and CPU seconds, peak RSS in MiB and exit status."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=stdout)
    _, status, usage = os.wait4(proc.pid, 0)
    return {
        "wall_s": time.perf_counter() - started,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "peak_mib": usage.ru_maxrss / 1024,
        "exit": os.waitstatus_to_exitcode(status),
    }


def _count_csv_rows(path: Path) -> int:
    with open(path, "rb") as f:
        return sum(block.count(b"\n") for block in iter(lambda: f.read(1 << 20), b"")) - 1


def _rows(db: Path, stage: str) -> int | None:
    """Rows the stage worked through: from the run's work file while the run is in
    progress, from the published warehouse once `publish` has renamed it."""
    if stage not in STAGE_ROWS:
        return None
    in_progress = work_file.work_path(db).is_file()
    con = work_file.open_work(db, read_only=True) if in_progress else warehouse.connect(
        db, read_only=True)
    try:
        return con.execute(STAGE_ROWS[stage]).fetchone()[0] if stage in STAGE_ROWS else None
    except Exception:
        return None
    finally:
        con.close()


def run_one_stage(db: Path, stage: str, reports: Path | None) -> None:
    """Child process: run one stage of the run in progress on `db` (in its work file)."""
    con = context.open_run(db)
    try:
        ctx = context.context_from_warehouse(con, reports, progress=lambda m: None)
        pipeline.run_stage(ctx, stage)
    finally:
        con.close()


def exit_like_a_task(status: int = 0) -> NoReturn:
    """End a stage's process the way Airflow ends a task's: its supervisor's child runs the
    exit handlers registered while the task ran, flushes stdout and stderr and calls
    `os._exit` (`airflow.sdk.execution_time.supervisor`), so the interpreter is never torn
    down. Torn down, with Great Expectations loaded, it cost 0.4-0.6 s (validate, account)
    that Airflow never pays. The worker processes the stage started are waited for first,
    so that their CPU time is still counted (`os.wait4`)."""
    for child in multiprocessing.active_children():
        child.join()
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


def start(db: Path, registry: Path, reports: Path) -> None:
    """Start a run on `db` as `her2audit run` does: in its own work file."""
    params = load_parameters()
    con = context.open_new_run(db, context.new_run_id(str(registry), params), str(registry),
                               params, "bench", reports)
    con.close()


def _machine() -> str:
    memory = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f", {int(line.split()[1]) / 1024 ** 2:.0f} GiB"
    except OSError:
        pass
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores ({cpu}){memory}"


def _baseline(registry: Path, work: Path) -> list[dict[str, object]]:
    out = work / "baseline.json"
    with open(out, "w") as f:
        m = _measure([sys.executable, "-m", "benchmarks.baseline", str(registry), str(work)],
                     stdout=f)
    if m["exit"]:
        return [{"step": "baseline", "status": FAILED, **m}]
    steps = json.loads(out.read_text())
    out.unlink()
    for s in steps:
        s["step"] = f"baseline {s['step']}"
        s["status"] = OK
    # the baseline's own peak memory is that of its one process
    steps[-1]["peak_mib"] = m["peak_mib"]
    return steps


def _print_table(results: list[dict[str, object]]) -> None:
    print(f"\n{'step':<17}{'status':>8}{'wall s':>9}{'CPU s':>9}{'rows':>14}{'rows/s':>13}"
          f"{'peak MiB':>10}")
    for r in results:
        def num(key: str, fmt: str, r: dict[str, object] = r) -> str:
            return format(r[key], fmt) if r.get(key) is not None else "-"
        rate = (f"{r['rows'] / r['wall_s']:,.0f}"
                if r.get("rows") and r.get("wall_s") and r["status"] == OK else "-")
        print(f"{r['step']:<17}{r['status']:>8}{num('wall_s', '.2f'):>9}{num('cpu_s', '.2f'):>9}"
              f"{num('rows', ','):>14}{rate:>13}{num('peak_mib', '.0f'):>10}")


def _totals(results: list[dict[str, object]], prefix: str | None) -> dict[str, float]:
    chosen = [r for r in results if r["status"] == OK and r["step"] != "synth"
              and (r["step"].startswith(prefix) if prefix else
                   not r["step"].startswith("baseline"))]
    return {"wall_s": sum(r["wall_s"] for r in chosen), "cpu_s": sum(r["cpu_s"] for r in chosen)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.pipeline", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--patients", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", type=Path, default=Path("bench_output"))
    ap.add_argument("--registry", type=Path,
                    help="benchmark this registry folder instead of writing a synthetic one")
    ap.add_argument("--keep", action="store_true", help="keep the registry and warehouse")
    ap.add_argument("--stage-child", nargs=3, metavar=("DB", "STAGE", "REPORTS"),
                    help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.stage_child:
        db, stage, reports = args.stage_child
        run_one_stage(Path(db), stage, Path(reports))
        exit_like_a_task(0)

    out = args.out / f"n{args.patients}"
    db, reports = out / "bench.duckdb", out / "reports"
    registry = args.registry or out / "registry"
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    machine = _machine()
    print(f"her2audit benchmark: {args.patients:,} patients, seed {args.seed}, {machine}",
          flush=True)
    results: list[dict[str, object]] = []
    if args.registry is None:
        m = _measure([sys.executable, "-m", "her2audit", "synth", "--patients",
                      str(args.patients), "--seed", str(args.seed), "--out", str(registry)])
        results.append({"step": "synth", "status": OK if not m["exit"] else FAILED, **m})
        if m["exit"]:
            _print_table(results)
            return int(m["exit"])
    n_rows = sum(_count_csv_rows(p) for p in registry.glob("*.csv"))
    if results:
        results[0]["rows"] = n_rows
    for b in _baseline(registry, out):
        results.append(b)
        print(f"  {b['step']}: {b['status']}, wall {b.get('wall_s', 0):.1f} s, "
              f"CPU {b.get('cpu_s', 0):.1f} s", flush=True)
    start(db, registry, reports)
    failed = None
    for stage in [s.name for s in pipeline.STAGES]:
        if failed:
            results.append({"step": stage, "status": NOT_RUN})
            continue
        m = _measure([sys.executable, "-m", "benchmarks.pipeline", "--stage-child",
                      str(db), stage, str(reports)])
        status = OK if not m["exit"] else FAILED
        results.append({"step": stage, "status": status,
                        "rows": _rows(db, stage) if status == OK else None, **m})
        print(f"  {stage}: {status}, wall {m['wall_s']:.1f} s, CPU {m['cpu_s']:.1f} s, "
              f"peak {m['peak_mib']:.0f} MiB", flush=True)
        if status == FAILED:
            failed = stage
    _print_table(results)
    stages, baseline = _totals(results, None), _totals(results, "baseline")
    ratio = {k: stages[k] / baseline[k] if baseline[k] else None for k in stages}
    label = "pipeline" if not failed else f"pipeline (stopped at {failed})"
    print(f"{label:<25}{stages['wall_s']:>9.2f}{stages['cpu_s']:>9.2f}")
    print(f"{'baseline':<25}{baseline['wall_s']:>9.2f}{baseline['cpu_s']:>9.2f}")
    if not failed and ratio["wall_s"]:
        print(f"{'pipeline / baseline':<25}{ratio['wall_s']:>8.1f}×{ratio['cpu_s']:>8.1f}×")
    summary = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine, "patients": args.patients, "seed": args.seed,
        "input_rows": n_rows, "steps": results, "pipeline": stages, "baseline": baseline,
        "ratio": ratio if not failed else None, "failed_stage": failed,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    result_file = args.out / f"bench_n{args.patients}.json"
    result_file.write_text(json.dumps(summary, indent=2))
    print(f"\nresults: {result_file}")
    if not args.keep:
        shutil.rmtree(out)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
