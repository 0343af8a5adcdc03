"""Stage `concordance`: judge every line and every patient's sequence against the guideline
rulebooks (SPEC §6) and compute the quality indicators.

The rulebooks (YAML, `rules/guidelines/`, plus `--rulebooks DIR`) are checked and
flattened into staging tables by `her2audit.guidelines`; the judging is set-based SQL in
`sql/60_concordance/` (lines x matching rules, the most specific rule wins).

Reads `build.lines_of_therapy`, `build.patients`, `staging.metastases`,
`staging.administrations` (which ingredients a patient was given before a line, for
groups listed `if_never_given`), `staging.data_cutoff` (if present). Writes
`build.line_context`, `build.line_concordance`, `build.patient_sequences`,
`build.quality_indicators`, `build.quality_indicator_definitions`,
`build.guideline_versions`, `build.guideline_rules`.

`python -m her2audit.concordance --bench N` times the stage on N synthetic patients' lines
generated directly in DuckDB (no registry, no line inference).
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from pathlib import Path

import duckdb

from her2audit import guidelines, warehouse
from her2audit.pipeline import RunContext

SQL_STAGE = "60_concordance"
REQUIRED = ("build.lines_of_therapy", "build.patients", "staging.metastases",
            "staging.administrations")


def _exists(con: duckdb.DuckDBPyConnection, qualified: str) -> bool:
    schema, table = qualified.split(".")
    return table in warehouse.table_names(con, schema)


def data_cutoff(con: duckdb.DuckDBPyConnection) -> dt.date | None:
    """The run's data cut-off: staging.data_cutoff (cohort stage), else the `data_cutoff`
    run variable, else the latest date in the lines and patients tables."""
    if _exists(con, "staging.data_cutoff"):
        row = con.execute("select max(data_cutoff) from staging.data_cutoff").fetchone()
        if row and row[0] is not None:
            return row[0]
    given = con.execute("select getvariable('data_cutoff')::date").fetchone()[0]
    if given is not None:
        return given
    return con.execute(
        "select max(d) from (select max(greatest(start_date, end_date)) as d "
        "from build.lines_of_therapy union all "
        "select max(greatest(metastatic_date, death_date)) from build.patients)"
    ).fetchone()[0]


def judge(con: duckdb.DuckDBPyConnection, rulebooks_dir: str | Path | None,
          pinned: str | None) -> list[guidelines.Rulebook]:
    """Load and check the rulebooks, then run the concordance SQL. Returns the rulebooks."""
    missing = [t for t in REQUIRED if not _exists(con, t)]
    if missing:
        raise RuntimeError(
            f"{', '.join(missing)} missing: run the extract, cohort and lines stages first"
        )
    books = guidelines.load_rulebooks(rulebooks_dir)
    guidelines.write_tables(con, books, pinned)
    warehouse.set_variables(con, {"concordance_data_cutoff": data_cutoff(con)})
    warehouse.run_sql_stage(con, SQL_STAGE)
    return books


def run(ctx: RunContext) -> None:
    pinned = ctx.params.guideline
    rulebooks_dir = getattr(ctx.params, "rulebooks", None)
    judge(ctx.con, rulebooks_dir, pinned)
    by_category = dict(
        ctx.con.execute(
            "select category, count(*) from build.line_concordance group by all"
        ).fetchall()
    )
    n_lines = sum(by_category.values())
    used = ctx.con.execute(
        "select guideline_id, n_lines from build.guideline_versions where n_lines > 0 "
        "order by effective_from"
    ).fetchall()
    counts = ", ".join(
        f"{by_category.get(c, 0):,} {c}"
        for c in ("preferred", "alternative", "not_recommended", "trial", "not_evaluable")
    )
    rulebooks = ", ".join(f"{g} ({n:,})" for g, n in used) or "none"
    how = f"pinned to {pinned}" if pinned else "rulebook in force at each line's start"
    ctx.progress(f"  concordance: {n_lines:,} lines judged ({how}): {counts}")
    ctx.progress(f"  rulebooks used: {rulebooks}")


# --- micro-benchmark -------------------------------------------------------------------

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
            judge(con, None, None)
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
