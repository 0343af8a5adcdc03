"""Benchmark of the DAG `her2_network_audit` on a CeleryExecutor deployment (target: 10
centres × 10,000 patients under 5 minutes end to end on 2 cores).

    python -m benchmarks.celery_network --centres 10 --patients 10000 --out bench_output

Writes one synthetic registry per centre (`her2audit synth`, seeds `--seed`, `--seed`+1,
…), starts the deployment of `benchmarks.deployment` (Redis broker, PostgreSQL metadata,
scheduler, DAG processor, API server, one Celery worker of `--concurrency` task
processes), triggers `her2_network_audit` over the centres through the REST API and
follows it to the end. Reported:

- **end to end**: from the trigger to the run's end, as the API gives the run's start and
  end (and as the benchmark saw it);
- **per task** (from the API's task instances): count, total, median and longest
  duration of each task id over its mapped instances, and how long tasks waited queued;
- **busy**: the sum of task durations over (end-to-end × worker concurrency), how full the
  worker's slots were;
- **CPU**: user + system seconds of each component's process tree during the run (with
  the task processes the worker has waited for), the worker's apart;
- **peak memory**: the largest sum of resident memory over the deployment's processes
  (scheduler, DAG processor, API server, worker and its task processes), sampled every
  0.5 s, and the largest of the worker with its task processes alone;
- the machine's load average before and after.

Everything also goes to `<out>/celery_network_<centres>x<patients>.json`. Services absent
(PostgreSQL on 127.0.0.1:5432, Redis on 127.0.0.1:6379): exit 2 with the reason.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import psutil

from benchmarks.deployment import Deployment, Unavailable, broker, celery_deployment, metadata_db

DAG_ID = "her2_network_audit"
TARGET_SECONDS = 300



def _process_tree(pid: int) -> list[psutil.Process]:
    """The process and all its descendants (none when it has ended)."""
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []

class MemorySampler(threading.Thread):
    """Peak resident memory of the deployment's process trees, sampled in the background."""

    def __init__(self, dep: Deployment, every: float = 0.5):
        super().__init__(daemon=True)
        self.dep, self.every = dep, every
        self.peak_total = self.peak_worker = 0
        self.done = threading.Event()

    @staticmethod
    def tree_cpu(pid: int) -> float:
        """CPU seconds (user + system) of a process tree so far, with the children it has
        waited for (a Celery pool process waits for each task process it starts)."""
        total = 0.0
        for process in _process_tree(pid):
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                t = process.cpu_times()
                total += t.user + t.system + t.children_user + t.children_system
        return total

    @staticmethod
    def _tree_rss(pid: int) -> int:
        total = 0
        for process in _process_tree(pid):
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                total += process.memory_info().rss
        return total

    def run(self) -> None:
        while not self.done.wait(self.every):
            sizes = {name: self._tree_rss(p.pid) for name, p in self.dep.processes.items()}
            self.peak_total = max(self.peak_total, sum(sizes.values()))
            self.peak_worker = max(self.peak_worker, sizes.get("celery-worker", 0))


def _time(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


def task_summary(tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per task id: instances, states, total / median / longest duration, queued waits."""
    by_task: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for t in tasks:
        by_task[t["task_id"]].append(t)
    out = []
    for task_id, instances in by_task.items():
        durations = [t["duration"] or 0.0 for t in instances]
        waits = [(_time(t["start_date"]) - _time(t["queued_when"])).total_seconds()
                 for t in instances if t.get("queued_when") and t.get("start_date")]
        out.append({
            "task": task_id, "instances": len(instances),
            "states": sorted({t["state"] for t in instances}),
            "total_s": sum(durations), "median_s": statistics.median(durations),
            "max_s": max(durations),
            "median_queued_s": statistics.median(waits) if waits else None,
            "first_start": min(t["start_date"] for t in instances if t["start_date"]),
        })
    return sorted(out, key=lambda r: r["first_start"])


def make_registries(root: Path, centres: int, patients: int, seed: int) -> list[dict[str, str]]:
    from her2audit.synth import write_registry

    sources = []
    for i in range(centres):
        name = f"centre_{i + 1:02d}"
        registry = root / "registries" / name
        write_registry(registry, patients=patients, seed=seed + i, fmt="csv")
        sources.append({"centre": name, "registry": str(registry),
                        "db": str(root / "warehouses" / f"{name}.duckdb")})
    (root / "warehouses").mkdir(exist_ok=True)
    return sources


def run(root: Path, args: argparse.Namespace) -> dict[str, Any]:
    print(f"writing {args.centres} registries of {args.patients:,} patients …", flush=True)
    sources = make_registries(root, args.centres, args.patients, args.seed)
    conf = {"centres": sources, "packages": str(root / "packages"),
            "network_db": str(root / "network_audit.duckdb"),
            "reports": str(root / "network_reports")}
    url = broker()
    home = root / "airflow_home"
    home.mkdir()
    with metadata_db() as database, celery_deployment(
            home, database, url, concurrency=args.concurrency) as dep:
        started = time.monotonic()
        dep.sign_in()
        dep.unpause(DAG_ID)
        ready = time.monotonic() - started
        print(f"deployment ready in {ready:.0f} s; triggering {DAG_ID}", flush=True)
        sampler = MemorySampler(dep)
        sampler.start()
        load_before = os.getloadavg()
        cpu_before = {n: sampler.tree_cpu(p.pid) for n, p in dep.processes.items()}
        triggered = time.monotonic()
        run_path = dep.trigger(DAG_ID, conf)
        state = dep.wait_for_run(run_path, args.timeout, every=1)
        seen = time.monotonic() - triggered
        load_after = os.getloadavg()
        cpu = {n: sampler.tree_cpu(p.pid) - cpu_before[n] for n, p in dep.processes.items()}
        sampler.done.set()
        sampler.join()
        dag_run = dep.request("GET", run_path)[1]
        tasks = dep.task_instances(run_path)
        worker_log = dep.log_tail("celery-worker", 60) if state != "success" else ""
    wall = (_time(dag_run["end_date"]) - _time(dag_run["start_date"])).total_seconds()
    durations = sum(t["duration"] or 0.0 for t in tasks)
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "memory_gib": round(psutil.virtual_memory().total / 2**30, 1)},
        "centres": args.centres, "patients_per_centre": args.patients, "seed": args.seed,
        "worker_concurrency": args.concurrency, "state": state,
        "deployment_ready_s": ready, "end_to_end_s": wall, "seen_by_benchmark_s": seen,
        "target_s": TARGET_SECONDS, "task_instances": len(tasks),
        "sum_task_durations_s": durations,
        "busy": durations / (wall * args.concurrency) if wall else None,
        "cpu_s": cpu,
        "peak_rss_mib": sampler.peak_total / 2**20,
        "peak_worker_rss_mib": sampler.peak_worker / 2**20,
        "load_before": load_before, "load_after": load_after,
        "tasks": task_summary(tasks), "worker_log_tail": worker_log,
    }


def report(result: dict[str, Any]) -> None:
    print(f"\n{DAG_ID}: {result['centres']} centres × {result['patients_per_centre']:,} "
          f"patients, worker concurrency {result['worker_concurrency']}: {result['state']}")
    print(f"{'task':<20} {'n':>3} {'total s':>8} {'median s':>9} {'max s':>7} "
          f"{'queued s':>9}")
    for t in result["tasks"]:
        queued = "" if t["median_queued_s"] is None else f"{t['median_queued_s']:.1f}"
        print(f"{t['task']:<20} {t['instances']:>3} {t['total_s']:>8.1f} "
              f"{t['median_s']:>9.1f} {t['max_s']:>7.1f} {queued:>9}")
    verdict = "under" if result["end_to_end_s"] < result["target_s"] else "OVER"
    print(f"end to end {result['end_to_end_s']:.0f} s ({verdict} the "
          f"{result['target_s']} s target); {result['task_instances']} task instances, "
          f"{result['sum_task_durations_s']:.0f} s of task time, worker slots "
          f"{result['busy']:.0%} busy")
    cpu = result["cpu_s"]
    print(f"CPU during the run: {sum(cpu.values()):.0f} s (user + sys), of which the worker "
          f"and its tasks {cpu.get('celery-worker', 0):.0f} s; "
          + ", ".join(f"{n} {s:.0f} s" for n, s in cpu.items() if n != "celery-worker"))
    print(f"peak memory: {result['peak_rss_mib']:,.0f} MiB over the deployment, "
          f"{result['peak_worker_rss_mib']:,.0f} MiB the worker and its tasks")
    print("load average before {:.1f} {:.1f} {:.1f}, after {:.1f} {:.1f} {:.1f}".format(
        *result["load_before"], *result["load_after"]))
    if result["worker_log_tail"]:
        print(result["worker_log_tail"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--centres", type=int, default=10)
    parser.add_argument("--patients", type=int, default=10_000, help="patients per centre")
    parser.add_argument("--seed", type=int, default=1, help="seed of the first centre")
    parser.add_argument("--concurrency", type=int, default=2, help="worker task processes")
    parser.add_argument("--timeout", type=float, default=1800, help="give up after, s")
    parser.add_argument("--out", type=Path, default=Path("bench_output"))
    parser.add_argument("--work", type=Path, default=None,
                        help="folder for registries and warehouses (default: a temporary one)")
    args = parser.parse_args(argv)
    try:
        with contextlib.ExitStack() as stack:
            root = args.work or Path(stack.enter_context(
                tempfile.TemporaryDirectory(prefix="her2audit-celery-")))
            root.mkdir(parents=True, exist_ok=True)
            result = run(root, args)
    except Unavailable as exc:
        print(f"celery_network: cannot start the deployment: {exc}", file=sys.stderr)
        return 2
    report(result)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"celery_network_{args.centres}x{args.patients}.json"
    path.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"written: {path}")
    return 0 if result["state"] == "success" else 1


if __name__ == "__main__":
    sys.exit(main())
