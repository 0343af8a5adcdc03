"""Benchmark: extract an OMOP CDM registry of N synthetic patients from PostgreSQL.

    python -m benchmarks.omop_postgres --patients 100000 \
        --uri postgresql://postgres@127.0.0.1:5432/test

Writes the synthetic registry as OMOP CSV (`her2audit.synth` + the OMOP exporter),
loads it into a fresh schema with COPY, then times `land_registry` on the URI in a
child process and reports its wall time and peak resident memory. The schema is
dropped at the end.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

CHILD = r"""
import json, resource, sys, time
import duckdb
from her2audit import warehouse
from her2audit.sources.dispatch import land_registry
db, uri, memory_limit = sys.argv[1], sys.argv[2], sys.argv[3]
con = warehouse.connect(db)
if memory_limit:
    con.execute(f"set memory_limit = '{memory_limit}'")
started = time.perf_counter()
land_registry(con, uri, progress=lambda m: None)
seconds = time.perf_counter() - started
counts = {t: con.execute(f"select count(*) from raw.{t}").fetchall()[0][0]
          for t in ("patients", "diagnoses", "biomarkers", "metastases", "treatments")}
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "peak_rss_mib": peak, "rows": counts}))
"""


# OMOP vocabulary columns named *_id that hold text
VOCABULARY_TEXT_IDS = ("domain_id", "vocabulary_id", "concept_class_id", "relationship_id")

def _pg_type(col: str) -> str:
    if col.endswith("_date"):
        return "date"
    if col.endswith("_datetime"):
        return "timestamp"
    if col == "value_as_number":
        return "numeric"
    if (col.endswith("_id") and col not in VOCABULARY_TEXT_IDS) or col in (
            "year_of_birth", "month_of_birth", "day_of_birth", "concept_id_1", "concept_id_2"):
        return "bigint"
    return "varchar(255)"


def load_into_postgres(folder: Path, uri: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute(f"create schema {schema}")
        for path in sorted(folder.glob("*.csv")):
            with open(path, encoding="utf-8") as f:
                header = next(csv.reader(f))
            cols = ", ".join(f"{c} {_pg_type(c)}" for c in header)
            conn.execute(f"create table {schema}.{path.stem} ({cols})")
            with conn.cursor().copy(
                f"copy {schema}.{path.stem} from stdin with (format csv, header true)"
            ) as copy, open(path, "rb") as f:
                while block := f.read(1 << 20):
                    copy.write(block)
            conn.execute(f"analyze {schema}.{path.stem}")


def _extract(tmp: str, uri: str, memory_limit: str | None) -> dict:
    """Time land_registry in a child process (so its peak memory is its own)."""
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(Path(tmp) / "bench.duckdb"), uri, memory_limit or ""],
        check=True, capture_output=True, text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--uri", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--schema", help="reuse this already loaded OMOP schema (kept)")
    parser.add_argument("--load-only", metavar="SCHEMA",
                        help="write and load the registry into SCHEMA, keep it, do not extract")
    parser.add_argument("--memory-limit", help="DuckDB memory_limit for the extraction")
    args = parser.parse_args(argv)
    if args.schema:
        with tempfile.TemporaryDirectory(prefix="her2audit-bench-") as tmp:
            result = _extract(tmp, f"{args.uri}?schema={args.schema}", args.memory_limit)
        print(json.dumps(result, indent=2))
        return 0

    import psycopg

    from her2audit import synth

    schema = args.load_only or f"her2audit_bench_{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory(prefix="her2audit-bench-") as tmp:
        folder = Path(tmp) / "omop"
        t0 = time.perf_counter()
        synth.write_registry(folder, patients=args.patients, seed=args.seed, fmt="omop")
        t1 = time.perf_counter()
        try:
            load_into_postgres(folder, args.uri, schema)
            t2 = time.perf_counter()
            if args.load_only:
                print(f"loaded {args.patients:,} patients into schema {schema}")
                return 0
            result = _extract(tmp, f"{args.uri}?schema={schema}", args.memory_limit)
        finally:
            if not args.load_only:
                with psycopg.connect(args.uri, autocommit=True) as conn:
                    conn.execute(f"drop schema if exists {schema} cascade")
    result.update(patients=args.patients, synth_and_export_seconds=round(t1 - t0, 1),
                  postgres_load_seconds=round(t2 - t1, 1))
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
