"""Benchmark of `her2audit network`: merge N centre packages (target: 100 under 10 s).

    python -m benchmarks.network --packages DIR --centres 100

DIR holds a few real centre packages (folders written by `her2audit share`). They are
copied, in turn, to N centres: each copy gets its own centre name and its hazard ratios
moved by a random factor (so the meta-analysis sees heterogeneity), its checksums
recomputed. Then `her2audit network` runs on the N packages in its own process; wall and
CPU time (user + sys) are reported, with the time of each step.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


def make_copies(sources: list[Path], out: Path, n: int, seed: int = 1) -> None:
    rng = np.random.default_rng(seed)
    for i in range(n):
        source = sources[i % len(sources)]
        target = Path(shutil.copytree(source, out / f"centre_{i + 1:03d}"))
        manifest = json.loads((target / "manifest.json").read_text())
        manifest["centre"] = target.name
        path = target / "survival_comparisons.parquet"
        table = pq.read_table(path)
        factor = float(np.exp(rng.normal(0, 0.15)))
        for column in ("hazard_ratio", "hr_ci_lower", "hr_ci_upper"):
            moved = pa.compute.multiply(table[column], factor)
            table = table.set_column(table.schema.get_field_index(column), column, moved)
        pq.write_table(table, path)
        entry = next(t for t in manifest["tables"] if t["file"] == path.name)
        entry["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
        (target / "manifest.json").write_text(json.dumps(manifest, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packages", type=Path, required=True,
                        help="folder of a few real centre packages")
    parser.add_argument("--centres", type=int, default=100, help="packages to merge")
    args = parser.parse_args()
    sources = sorted(p for p in args.packages.iterdir() if (p / "manifest.json").is_file())
    with tempfile.TemporaryDirectory() as tmp:
        packages = Path(tmp) / "packages"
        make_copies(sources, packages, args.centres)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "her2audit", "network", "--packages",
                        str(packages), "--db", str(Path(tmp) / "network_audit.duckdb"),
                        "--reports", str(Path(tmp) / "reports")], check=True)
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    print(f"her2audit network over {args.centres} packages: wall {wall:.1f} s, "
          f"CPU {cpu:.1f} s (user + sys), peak RSS {after.ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
