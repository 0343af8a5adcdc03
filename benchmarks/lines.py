"""Focused benchmark of the `lines` stage: N patients' administrations generated directly
in DuckDB (no CSV, no extract), then the line inference timed in its own process (wall
time, peak resident memory, administrations per second).

    python -m benchmarks.lines --patients 100000
    python -m benchmarks.lines --patients 1000000     # about 30 million administrations

The generated histories are realistic in shape (1–6 lines per patient from the SPEC §5
regimens, 3-weekly cycles, continuous oral courses, maintenance endocrine additions,
taxane switches, treatment gaps, supportive drugs, exact duplicates); `make bench` times
the stage on the full pipeline as well (benchmarks.pipeline).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from her2audit import warehouse
from her2audit.parameters import RunParameters
from her2audit.stages import lines

# (regimen, ingredients given every cycle) – lines are drawn from these.
REGIMENS = [
    ["docetaxel", "trastuzumab", "pertuzumab"],
    ["paclitaxel", "trastuzumab", "pertuzumab"],
    ["trastuzumab", "pertuzumab"],
    ["trastuzumab deruxtecan"],
    ["trastuzumab emtansine"],
    ["tucatinib", "trastuzumab", "capecitabine"],
    ["lapatinib", "capecitabine"],
    ["trastuzumab", "vinorelbine"],
    ["letrozole", "palbociclib"],
]

GENERATE_SQL = """
create or replace table staging.administrations as
with regimens as (
    select * from (values {regimen_rows}) as r(regimen_id, ingredient)
),
patients as (
    select
        pid,
        'P' || lpad(pid::varchar, 8, '0') as patient_id,
        date '2014-01-01' + (hash(pid, 'm') % 3650)::integer as metastatic_date,
        1 + (hash(pid, 'n') % 5)::integer + (hash(pid, 'x') % 10 = 0)::integer as n_lines
    from range(1, {patients} + 1) as t(pid)
),
patient_lines as (
    select
        patients.pid, patients.patient_id, patients.metastatic_date, k as line_number,
        (hash(pid, k, 'r') % {n_regimens})::integer as regimen_id,
        3 + (hash(pid, k, 'c') % 5)::integer as n_cycles,
        -- a treatment gap longer than max_gap_days before 5% of later lines
        case when k > 1 and hash(pid, k, 'g') % 20 = 0 then 150 else 10 end as gap_before
    from patients, range(1, patients.n_lines + 1) as l(k)
),
placed as (
    select
        *,
        metastatic_date - 10 + coalesce(sum(n_cycles * 21 + gap_before) over (
            partition by pid order by line_number
            rows between unbounded preceding and 1 preceding), 0)::integer as line_start
    from patient_lines
),
cycles as (
    select placed.*, regimens.ingredient, c as cycle
    from placed
    join regimens using (regimen_id),
    range(0, placed.n_cycles) as cy(c)
),
rows as (
    select patient_id, ingredient, line_start + (cycle * 21)::integer as start_date,
        case when ingredient in ('tucatinib', 'lapatinib', 'capecitabine', 'letrozole',
            'palbociclib') then line_start + (cycle * 21 + 13)::integer end as end_date,
        pid, line_number, cycle
    from cycles
    union all  -- supportive drugs on the first cycle days
    select patient_id, 'zoledronic acid', line_start + (cycle * 21)::integer, null,
        pid, line_number, cycle
    from cycles where ingredient in ('docetaxel', 'trastuzumab deruxtecan')
    union all  -- maintenance endocrine added to HP after 5 cycles
    select patient_id, 'letrozole', line_start + (cycle * 21)::integer,
        line_start + (cycle * 21 + 20)::integer, pid, line_number, cycle
    from cycles where regimen_id = 2 and cycle >= 5 and ingredient = 'pertuzumab'
        and hash(pid) % 2 = 0
),
with_duplicates as (
    select * from rows
    union all
    select * from rows where hash(pid, line_number, cycle, ingredient) % 100 = 0
)
select
    'bench:' || row_number() over () as record_key,
    with_duplicates.patient_id,
    with_duplicates.ingredient as source_drug,
    with_duplicates.ingredient,
    ingredients.drug_class,
    ingredients.line_forming,
    ingredients.her2_directed,
    with_duplicates.start_date,
    with_duplicates.end_date,
    'metastatic' as setting,
    null::varchar as route,
    'name' as mapped_by
from with_duplicates
join staging.drug_ingredients as ingredients using (ingredient);

create or replace table build.patients as
select patient_id, metastatic_date, null::date as death_date
from (
    select 'P' || lpad(pid::varchar, 8, '0') as patient_id,
        date '2014-01-01' + (hash(pid, 'm') % 3650)::integer as metastatic_date
    from range(1, {patients} + 1) as t(pid)
);

create or replace table staging.data_cutoff as select date '2026-01-01' as data_cutoff;
"""


def generate(db: Path, patients: int) -> int:
    from her2audit import vocabulary

    con = warehouse.connect(db)
    try:
        vocabulary.load_vocabulary_tables(con, vocabulary.default_vocabulary())
        regimen_rows = ", ".join(
            f"({n}, '{ing}')" for n, r in enumerate(REGIMENS) for ing in r
        )
        con.execute(GENERATE_SQL.format(regimen_rows=regimen_rows, patients=patients,
                                        n_regimens=len(REGIMENS)))
        return con.execute("select count(*) from staging.administrations").fetchall()[0][0]
    finally:
        con.close()


def infer(db: Path) -> None:
    con = warehouse.connect(db)
    try:
        warehouse.set_variables(con, RunParameters().sql_variables())
        started, cpu = time.perf_counter(), time.process_time()
        timings = lines.infer_lines(con, progress=print)
        print("  steps: " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items())
              + f"; total {time.perf_counter() - started:.1f} s wall, "
              f"{time.process_time() - cpu:.1f} s CPU", flush=True)
    finally:
        con.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--infer", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--db", type=Path, default=None,
                        help="keep the generated warehouse here and reuse it if it exists")
    args = parser.parse_args(argv)
    if args.infer:
        infer(args.infer)
        return 0
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        db = args.db or Path(tmp) / "lines_bench.duckdb"
        started = time.perf_counter()
        if db.exists():
            con = warehouse.connect(db, read_only=True)
            n = con.execute("select count(*) from staging.administrations").fetchall()[0][0]
            con.close()
        else:
            n = generate(db, args.patients)
        print(f"{n:,} administrations for {args.patients:,} patients ready in "
              f"{time.perf_counter() - started:.1f} s", flush=True)
        started = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "benchmarks.lines", "--infer", str(db)])
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        if os.waitstatus_to_exitcode(status) != 0:
            return 1
        cpu = usage.ru_utime + usage.ru_stime
        print(f"lines stage: {wall:.1f} s wall (process incl. start-up), {cpu:.1f} s CPU, "
              f"peak RSS {usage.ru_maxrss / 1024:,.0f} MiB, {n / wall:,.0f} administrations/s "
              f"(wall; {n / cpu:,.0f} per CPU second)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
