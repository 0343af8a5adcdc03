"""Concordance stage alone on generated lines: `python -m benchmarks.concordance --bench N`
(N patients with 1-4 lines each; default 1,000,000) prints wall and CPU time of judging
every line and computing the quality indicators."""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from her2audit import warehouse
from her2audit.stages import concordance

_BENCH_LINES = """
create or replace table build.patients as
select
    'P' || lpad(i::varchar, 8, '0') as patient_id,
    'S' || (i % 25 + 1)::varchar as site_id,
    date '2008-01-01' + (hash(i, 1) % 5600)::integer as metastatic_date,
    hash(i, 2) % 100 < 55 as hr_positive,
    hash(i, 3) % 100 < 12 as early_relapse,
    hash(i, 4) % 100 < 30 as de_novo,
    case when hash(i, 5) % 100 < 35
        then date '2008-01-01' + (hash(i, 1) % 5600)::integer + (hash(i, 6) % 2000)::integer
    end as death_date
from range(getvariable('bench_patients')) as t(i);

create or replace table staging.metastases as
select patient_id, metastatic_date + (hash(patient_id, 7) % 900)::integer as diagnosis_date,
    'brain' as site
from build.patients
where hash(patient_id, 8) % 100 < 25;

create or replace table staging.regimen_pool as
select * from (values
    (0, 'THP', 'taxane_trastuzumab_pertuzumab', true, 'docetaxel + pertuzumab + trastuzumab'),
    (1, 'T-DXd', 'trastuzumab_deruxtecan', true, 'trastuzumab deruxtecan'),
    (2, 'T-DM1', 'trastuzumab_emtansine', true, 'trastuzumab emtansine'),
    (3, 'Tucatinib + trastuzumab + capecitabine', 'tucatinib_trastuzumab_capecitabine', true,
        'capecitabine + trastuzumab + tucatinib'),
    (4, 'Neratinib + capecitabine', 'neratinib_capecitabine', true, 'capecitabine + neratinib'),
    (5, 'Lapatinib + capecitabine', 'lapatinib_capecitabine', true, 'capecitabine + lapatinib'),
    (6, 'Trastuzumab + other chemotherapy', 'trastuzumab_chemotherapy', true,
        'trastuzumab + vinorelbine'),
    (7, 'Anti-HER2 + endocrine', 'her2_endocrine', true, 'letrozole + trastuzumab'),
    (8, 'Chemotherapy, no anti-HER2', 'chemotherapy_only', false, 'capecitabine'),
    (9, 'Investigational', 'investigational', true, 'zanidatamab'),
    (10, 'HP', 'trastuzumab_pertuzumab', true, 'pertuzumab + trastuzumab'),
    (11, 'Other', 'other', false, 'everolimus + exemestane'),
    (12, 'T-DXd + pertuzumab', 'trastuzumab_deruxtecan_pertuzumab', true,
        'pertuzumab + trastuzumab deruxtecan'),
    (13, 'Tucatinib + T-DM1', 'tucatinib_trastuzumab_emtansine', true,
        'trastuzumab emtansine + tucatinib')
) as t(k, regimen, regimen_group, her2_directed, ingredients);

create or replace table build.lines_of_therapy as
with line_counts as (
    select patient_id, metastatic_date, 1 + (hash(patient_id, 9) % 4)::integer as n_lines
    from build.patients
),

lines as (
    select patient_id, metastatic_date, unnest(range(1, n_lines + 1)) as line_number
    from line_counts
)

select
    lines.patient_id,
    lines.line_number::integer as line_number,
    lines.metastatic_date + ((lines.line_number - 1) * 240 + 10)::integer as start_date,
    lines.metastatic_date + (lines.line_number * 240)::integer as end_date,
    'next_line' as end_reason,
    pool.ingredients,
    pool.regimen,
    pool.regimen_group,
    pool.her2_directed,
    false as has_maintenance_addition,
    10 as n_administrations
from lines
inner join staging.regimen_pool as pool
    on pool.k = case
        when lines.line_number = 1 and hash(lines.patient_id, 10) % 100 < 70 then 0
        else (hash(lines.patient_id, lines.line_number) % 14)::integer
    end;

-- each line's ingredients given on its first day
create or replace table staging.administrations as
select patient_id, unnest(string_split(ingredients, ' + ')) as ingredient, start_date
from build.lines_of_therapy;
"""


def benchmark(patients: int, db: Path | None = None) -> dict[str, float]:
    """Time the concordance stage on generated lines (patients x 1-4 lines)."""
    with tempfile.TemporaryDirectory() as tmp:
        con = warehouse.connect(db or Path(tmp) / "bench.duckdb")
        try:
            warehouse.set_variables(
                con, {"pinned_guideline": None, "data_cutoff": None, "bench_patients": patients}
            )
            started = time.perf_counter()
            con.execute(_BENCH_LINES)
            generated = time.perf_counter()
            cpu_before = time.process_time()
            concordance.judge(con, None, None)
            finished = time.perf_counter()
            cpu = time.process_time() - cpu_before
            n_lines = warehouse.row_count(con, "build.line_concordance")
        finally:
            con.close()
    return {
        "patients": patients,
        "lines": n_lines,
        "generate_s": generated - started,
        "concordance_s": finished - generated,
        "concordance_cpu_s": cpu,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bench", type=int, default=1_000_000, help="number of patients")
    args = parser.parse_args(argv)
    result = benchmark(args.bench)
    print(
        f"concordance + indicators: {result['patients']:,} patients, {result['lines']:,} lines "
        f"in {result['concordance_s']:.1f} s wall, {result['concordance_cpu_s']:.1f} s CPU "
        f"(generating the lines took {result['generate_s']:.1f} s)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
