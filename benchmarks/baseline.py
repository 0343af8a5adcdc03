"""The floor a registry's size puts under the pipeline: what DuckDB alone spends on the same
CSV files, measured in the same benchmark run as the stages (so a busy machine slows both).

Three steps, each timed (wall and CPU, user + system, of this process and its threads):

- `load`: every `*.csv` of the registry read as text into a table (`all_varchar`);
- `type`: the treatment rows typed (dates parsed, text trimmed and lower-cased);
- `sort`: the typed treatment rows sorted by patient and start date.

    python -m benchmarks.baseline REGISTRY_FOLDER WORK_FOLDER    # prints JSON
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

import duckdb

STEPS = {
    "load": None,  # one statement per CSV file, built in `measure`
    "type": """
        create table typed_treatments as
        select
            trim(patient_id) as patient_id,
            lower(trim(drug)) as drug,
            try_strptime(start_date, '%Y-%m-%d')::date as start_date,
            try_strptime(end_date, '%Y-%m-%d')::date as end_date,
            lower(trim(setting)) as setting
        from text_treatments
    """,
    "sort": """
        create table sorted_treatments as
        select * from typed_treatments order by patient_id, start_date
    """,
}


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(registry: Path, work: Path) -> list[dict[str, object]]:
    """Run the three steps in a fresh DuckDB file under `work`; one record per step."""
    work.mkdir(parents=True, exist_ok=True)
    db = work / "baseline.duckdb"
    db.unlink(missing_ok=True)
    con = duckdb.connect(str(db))
    results = []
    try:
        files = sorted(registry.glob("*.csv"))
        for step, sql in STEPS.items():
            statements = [sql] if sql else [
                f"create table text_{path.stem} as select * from read_csv("
                f"'{path.as_posix()}', header = true, all_varchar = true)"
                for path in files
            ]
            wall, cpu = time.perf_counter(), _cpu()
            for statement in statements:
                con.execute(statement)
            wall, cpu = time.perf_counter() - wall, _cpu() - cpu
            table = "typed_treatments" if step != "load" else None
            rows = (con.execute(f"select count(*) from {table}").fetchone()[0] if table else
                    sum(con.execute(f"select count(*) from text_{p.stem}").fetchone()[0]
                        for p in files))
            results.append({"step": step, "wall_s": wall, "cpu_s": cpu, "rows": rows})
    finally:
        con.close()
        db.unlink(missing_ok=True)
    return results


if __name__ == "__main__":
    print(json.dumps(measure(Path(sys.argv[1]), Path(sys.argv[2]))))
