"""Benchmark and output check of the drug-mapping step of `extract` (the drug vocabulary).

    python benchmarks/drug_mapping.py prepare REGISTRY_DIR DB     # land + stage, untimed
    python benchmarks/drug_mapping.py time DB [--repeat 3] [--vocabulary FILE]  # map_drugs, timed
    python benchmarks/drug_mapping.py dump DB OUT_DIR             # its three outputs, sorted
    python benchmarks/drug_mapping.py compare DIR_A DIR_B         # identical or not

`time` prints wall time and the process's CPU time (user + system, all DuckDB threads)
of `vocabulary.map_drugs` on an already staged warehouse, under the extract stage's memory
limit. To compare two versions of the code, run the same commands with `PYTHONPATH`
pointing at the other checkout (its `her2audit` package and `sql/` are then used).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
import types
from pathlib import Path

import duckdb

OUTPUTS = {
    "administrations": "select * from staging.administrations order by all",
    "unmapped_drugs": "select * from build.unmapped_drugs order by all",
    "drug_mapping_summary": "select * from build.drug_mapping_summary order by all",
}
MEMORY_LIMIT = "1500MB"


def _quiet(_message: str) -> None:
    return None


def prepare(registry: Path, db: Path) -> None:
    from her2audit import warehouse
    from her2audit.sources.dispatch import land_registry
    from her2audit.sources.schema import load_allowed_values

    db.unlink(missing_ok=True)
    con = warehouse.connect(db)
    land_registry(con, str(registry), _quiet)
    load_allowed_values(con)
    warehouse.run_sql_stage(con, "10_extract/10_staging")
    n = con.execute("select count(*) from staging.treatments").fetchall()[0][0]
    print(f"staged {n:,} treatment rows in {db}")
    con.close()


def time_mapping(db: Path, repeat: int, vocabulary_file: Path | None) -> None:
    from her2audit import vocabulary, warehouse

    con = warehouse.connect(db)
    ctx = types.SimpleNamespace(con=con, progress=_quiet)
    # parsing the YAML is not the step being measured
    vocab = (vocabulary.load_vocabulary(vocabulary_file) if vocabulary_file
             else vocabulary.default_vocabulary())
    for n in range(1, repeat + 1):
        t0, c0 = time.perf_counter(), os.times()
        with warehouse.settings(con, memory_limit=MEMORY_LIMIT):
            vocabulary.map_drugs(ctx, vocab)
        c1 = os.times()
        wall = time.perf_counter() - t0
        cpu = (c1.user - c0.user) + (c1.system - c0.system)
        print(f"run {n}: map_drugs wall {wall:.2f} s, cpu {cpu:.2f} s "
              f"(user {c1.user - c0.user:.2f}, sys {c1.system - c0.system:.2f})")
    con.close()


def dump(db: Path, out: Path) -> None:
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    con = duckdb.connect(str(db), read_only=True)
    for name, query in OUTPUTS.items():
        con.execute(f"copy ({query}) to '{out / name}.parquet' (format parquet)")
        print(f"{name}: {con.execute(f'select count(*) from ({query})').fetchall()[0][0]:,} rows")
    con.close()


def compare(a: Path, b: Path) -> int:
    con = duckdb.connect()
    differing = 0
    for name in OUTPUTS:
        fa, fb = a / f"{name}.parquet", b / f"{name}.parquet"
        only_a, only_b, rows = con.execute(
            f"select (select count(*) from (from '{fa}' except all from '{fb}')), "
            f"(select count(*) from (from '{fb}' except all from '{fa}')), "
            f"(select count(*) from '{fa}')"
        ).fetchall()[0]
        same = only_a == 0 and only_b == 0
        differing += not same
        print(f"{name}: {rows:,} rows; {'identical' if same else 'DIFFERENT'}"
              f" ({only_a} only in {a.name}, {only_b} only in {b.name})")
    return 1 if differing else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("registry", type=Path)
    p.add_argument("db", type=Path)
    t = sub.add_parser("time")
    t.add_argument("db", type=Path)
    t.add_argument("--repeat", type=int, default=3)
    t.add_argument("--vocabulary", type=Path, help="a vocabulary file other than the default")
    d = sub.add_parser("dump")
    d.add_argument("db", type=Path)
    d.add_argument("out", type=Path)
    c = sub.add_parser("compare")
    c.add_argument("a", type=Path)
    c.add_argument("b", type=Path)
    args = parser.parse_args(argv)
    if args.command == "prepare":
        prepare(args.registry, args.db)
    elif args.command == "time":
        time_mapping(args.db, args.repeat, args.vocabulary)
    elif args.command == "dump":
        dump(args.db, args.out)
    else:
        return compare(args.a, args.b)
    return 0


if __name__ == "__main__":
    sys.exit(main())
