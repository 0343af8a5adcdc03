"""`make bench`: wall time, rows/s and peak memory per stage on a synthetic registry.

Each step runs in its own process (as an Airflow task would), so its peak resident
memory is measured on its own (`os.wait4`). Stages are taken from `pipeline.STAGES`, so a
new stage is benchmarked as soon as it is in the pipeline.

    python -m benchmarks.pipeline --patients 100000          # make bench
    python -m benchmarks.pipeline --patients 1000000         # make bench-large
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from her2audit import context, pipeline, warehouse
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
    "publish": "select count(*) from build.lines_of_therapy",
}


def _measure(argv: list[str]) -> tuple[float, float, int]:
    """Run a command; return (wall seconds, peak RSS in MiB, exit status)."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    return wall, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status)


def _count_csv_rows(path: Path) -> int:
    with open(path, "rb") as f:
        return sum(block.count(b"\n") for block in iter(lambda: f.read(1 << 20), b"")) - 1


def _rows(db: Path, stage: str) -> int | None:
    con = warehouse.connect(db, read_only=True)
    try:
        return con.execute(STAGE_ROWS[stage]).fetchone()[0] if stage in STAGE_ROWS else None
    except Exception:
        return None
    finally:
        con.close()


def run_one_stage(db: Path, stage: str, reports: Path | None) -> None:
    """Child process: run one stage of the run in progress in `db`."""
    con = warehouse.connect(db)
    try:
        ctx = context.context_from_warehouse(con, reports, progress=lambda m: None)
        pipeline.run_stage(ctx, stage)
    finally:
        con.close()


def start(db: Path, registry: Path) -> None:
    con = warehouse.connect(db)
    try:
        params = load_parameters()
        context.start_run(con, context.new_run_id(str(registry), params), str(registry),
                           params, "bench")
    finally:
        con.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.pipeline", description=__doc__)
    ap.add_argument("--patients", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", type=Path, default=Path("bench_output"))
    ap.add_argument("--keep", action="store_true", help="keep the registry and warehouse")
    ap.add_argument("--stage-child", nargs=3, metavar=("DB", "STAGE", "REPORTS"),
                    help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.stage_child:
        db, stage, reports = args.stage_child
        run_one_stage(Path(db), stage, Path(reports))
        return 0

    out = args.out / f"n{args.patients}"
    registry, db, reports = out / "registry", out / "bench.duckdb", out / "reports"
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    print(f"her2audit benchmark: {args.patients:,} patients, seed {args.seed}, "
          f"{os.cpu_count()} cores", flush=True)
    results = []
    wall, rss, status = _measure([sys.executable, "-m", "her2audit", "synth", "--patients",
                                  str(args.patients), "--seed", str(args.seed), "--out",
                                  str(registry)])
    if status:
        return status
    n_rows = sum(_count_csv_rows(p) for p in registry.glob("*.csv"))
    results.append({"step": "synth", "wall_s": wall, "rows": n_rows, "peak_mib": rss})
    start(db, registry)
    for stage in [s.name for s in pipeline.STAGES]:
        wall, rss, status = _measure([sys.executable, "-m", "benchmarks.pipeline", "--stage-child",
                                      str(db), stage, str(reports)])
        if status:
            print(f"stage {stage} failed (exit {status})", file=sys.stderr)
            return status
        results.append({"step": stage, "wall_s": wall, "rows": _rows(db, stage) if stage !=
                        "publish" else None, "peak_mib": rss})
        if stage == "publish":
            break
    print(f"\n{'step':<13}{'wall s':>9}{'rows':>13}{'rows/s':>13}{'peak MiB':>10}")
    for r in results:
        rate = f"{r['rows'] / r['wall_s']:,.0f}" if r["rows"] else "-"
        rows = f"{r['rows']:,}" if r["rows"] is not None else "-"
        print(f"{r['step']:<13}{r['wall_s']:>9.2f}{rows:>13}{rate:>13}{r['peak_mib']:>10.0f}")
    total = sum(r["wall_s"] for r in results if r["step"] != "synth")
    print(f"{'pipeline':<13}{total:>9.2f}")
    summary = {"patients": args.patients, "seed": args.seed, "cores": os.cpu_count(),
               "steps": results}
    (args.out / f"bench_n{args.patients}.json").write_text(json.dumps(summary, indent=2))
    print(f"\nresults: {args.out / f'bench_n{args.patients}.json'}")
    if not args.keep:
        shutil.rmtree(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
