"""Benchmark: extract an OMOP CDM from PostgreSQL.

Two populations:

    # a whole health system, generated inside PostgreSQL with generate_series: 1,000,000
    # persons of whom 20,000 have breast cancer, about 10 million drug exposures
    python -m benchmarks.omop_postgres --persons 1000000 --breast-cancer 20000

    # the synthetic registry (every patient a breast cancer patient), exported to OMOP
    python -m benchmarks.omop_postgres --patients 100000

Either is loaded into a fresh schema (dropped at the end unless --keep), then
`land_registry` runs on the URI in a child process, which reports its wall time, CPU time
(user + system; PostgreSQL's own work is in the wall time only), peak resident memory,
and the rows each query transferred. `--schema NAME` extracts an already loaded schema.
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
from her2audit import warehouse
from her2audit.sources import omop
from her2audit.sources.dispatch import land_registry
db, uri, memory_limit = sys.argv[1], sys.argv[2], sys.argv[3]
transferred, query_seconds = {}, {}
stream, fetch = omop._stream, omop._pg_fetch
def counting_stream(con, source, sql, target):
    t = time.perf_counter()
    stream(con, source, sql, target)
    name = target.split(".")[-1]
    query_seconds[name] = round(time.perf_counter() - t, 1)
    transferred[name] = con.execute(f"select count(*) from {target}").fetchall()[0][0]
def timed_fetch(cur, sql, args=()):
    t = time.perf_counter()
    rows = fetch(cur, sql, args)
    key = "count " + sql.split(" from ")[-1].split()[0] if "count(" in sql else "catalog"
    query_seconds[key] = round(query_seconds.get(key, 0) + time.perf_counter() - t, 1)
    return rows
omop._stream, omop._pg_fetch = counting_stream, timed_fetch
con = warehouse.connect(db)
if memory_limit:
    con.execute(f"set memory_limit = '{memory_limit}'")
started = time.perf_counter()
land_registry(con, uri, progress=lambda m: None)
seconds = time.perf_counter() - started
usage = resource.getrusage(resource.RUSAGE_SELF)
counts = {t: con.execute(f"select count(*) from raw.{t}").fetchall()[0][0]
          for t in ("patients", "diagnoses", "biomarkers", "metastases", "treatments")}
at_source = dict(con.execute(
    "select disposition || ':' || reason, sum(n_rows)::bigint from raw.source_dispositions "
    "group by all order by 1").fetchall())
print(json.dumps({"seconds": round(seconds, 1),
                  "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
                  "peak_rss_mib": round(usage.ru_maxrss / 1024),
                  "rows_transferred": transferred, "query_seconds": query_seconds,
                  "raw_rows": counts,
                  "counted_at_source": at_source}))
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


# ------------------------------------------------------------ a whole health system

# (concept_id, name, domain, vocabulary, class, code): what the generated rows name
VOCABULARY = [
    (4112853, "Malignant tumor of breast", "Condition", "SNOMED", "Clinical Finding",
     "254837009"),
    (2000000001, "Infiltrating duct carcinoma of breast (benchmark)", "Condition", "SNOMED",
     "Clinical Finding", "B-000001"),
    (2000000002, "Secondary malignant neoplasm of bone", "Condition", "SNOMED",
     "Clinical Finding", "94222008"),
    (2000000003, "Secondary malignant neoplastic disease", "Condition", "SNOMED",
     "Clinical Finding", "128462008"),
    (2000000010, "Essential hypertension", "Condition", "SNOMED", "Clinical Finding",
     "59621000"),
    (2000000011, "Viral sinusitis", "Condition", "SNOMED", "Clinical Finding", "444814009"),
    (2000000012, "Acute bronchitis", "Condition", "SNOMED", "Clinical Finding", "10509002"),
    (2000000013, "Prediabetes", "Condition", "SNOMED", "Clinical Finding", "15777000"),
    (2000000014, "Acute viral pharyngitis", "Condition", "SNOMED", "Clinical Finding",
     "195662009"),
    (2000000100, "HER2 by immune stain", "Measurement", "LOINC", "Lab Test", "85319-2"),
    (2000000101, "ER by immune stain", "Measurement", "LOINC", "Lab Test", "85337-4"),
    (2000000102, "PR by immune stain", "Measurement", "LOINC", "Lab Test", "85339-0"),
    (2000000103, "Stage group.clinical Cancer", "Measurement", "LOINC", "Lab Test", "21908-9"),
    (2000000110, "Body Weight", "Measurement", "LOINC", "Lab Test", "29463-7"),
    (2000000111, "Systolic blood pressure", "Measurement", "LOINC", "Lab Test", "8480-6"),
    (2000000112, "Glucose", "Measurement", "LOINC", "Lab Test", "2339-0"),
    (2000000113, "Body Height", "Measurement", "LOINC", "Lab Test", "8302-2"),
    (2000000114, "Pain severity", "Measurement", "LOINC", "Lab Test", "72514-3"),
    (2000000120, "Tobacco smoking status", "Observation", "LOINC", "Clinical Observation",
     "72166-2"),
    (2000000200, "Positive", "Meas Value", "SNOMED", "Qualifier Value", "10828004"),
    (2000000201, "Negative", "Meas Value", "SNOMED", "Qualifier Value", "260385009"),
]
# drugs: (ingredient id, ingredient, RxNorm IN code, SCD id, SCD name, SCD code, ATC id, ATC)
DRUGS = [
    (2000000300, "trastuzumab", "224905", 2000000400, "trastuzumab 150 MG Injection",
     "1922509", 2000000500, "L01FD01"),
    (2000000301, "pertuzumab", "1298944", 2000000401,
     "pertuzumab 30 MG/ML Injectable Solution", "1298949", 2000000501, "L01FD02"),
    (2000000302, "docetaxel", "72962", 2000000402, "Docetaxel 20 MG/ML Injectable Solution",
     "1790100", 2000000502, "L01CD02"),
    (2000000310, "lisinopril", "29046", 2000000410, "lisinopril 10 MG Oral Tablet", "314076",
     2000000510, "C09AA03"),
    (2000000311, "acetaminophen", "161", 2000000411, "Acetaminophen 325 MG Oral Tablet",
     "313782", 2000000511, "N02BE01"),
    (2000000312, "simvastatin", "36567", 2000000412, "Simvastatin 20 MG Oral Tablet", "312961",
     2000000512, "C10AA01"),
    (2000000313, "amlodipine", "17767", 2000000413, "amLODIPine 5 MG Oral Tablet", "197361",
     2000000513, "C08CA01"),
    (2000000314, "metformin", "6809", 2000000414, "metformin 500 MG Oral Tablet", "861007",
     2000000514, "A10BA02"),
]


def generate_population(uri: str, schema: str, persons: int, breast_cancer: int,
                        drugs_per_person: float = 9.5) -> dict[str, int]:
    """Create an OMOP CDM of `persons` in `schema`, inside PostgreSQL (generate_series):
    every person has everyday conditions, measurements, an observation and drugs; every
    (persons // breast_cancer)-th person has breast cancer (its conditions recorded three
    times, HER2/ER/PR and stage measurements, half a bone metastasis) and about 25
    administrations of trastuzumab, pertuzumab and docetaxel. Returns rows per table."""
    import psycopg

    step = max(1, persons // breast_cancer)
    everyday = int(drugs_per_person)
    half = drugs_per_person - everyday  # the share of persons with one more drug row
    s = schema
    statements = [
        f"create schema {s}",
        f"create table {s}.concept (concept_id bigint, concept_name varchar(255), "
        "domain_id varchar(20), vocabulary_id varchar(20), concept_class_id varchar(20), "
        "concept_code varchar(50))",
        f"create table {s}.concept_ancestor (ancestor_concept_id bigint, "
        "descendant_concept_id bigint)",
        f"create table {s}.concept_relationship (concept_id_1 bigint, concept_id_2 bigint, "
        "relationship_id varchar(20))",
        f"""create table {s}.person as
            select g as person_id, case when g % 3 = 0 then 8507 else 8532 end
                as gender_concept_id,
                1930 + g % 60 as year_of_birth, 1 + g % 12 as month_of_birth,
                1 + g % 28 as day_of_birth, null::timestamp as birth_datetime,
                null::bigint as care_site_id, 'P' || g as person_source_value,
                null::varchar(50) as gender_source_value
            from generate_series(1, {persons}) as g""",
        f"""create table {s}.observation_period as
            select g as observation_period_id, g as person_id,
                date '2010-01-01' as observation_period_start_date,
                date '2025-12-31' as observation_period_end_date
            from generate_series(1, {persons}) as g""",
        f"""create table {s}.condition_occurrence as
            select (g - 1) * 3 + k as condition_occurrence_id, g as person_id,
                2000000010 + (g * 7 + k) % 5 as condition_concept_id,
                date '2012-01-01' + ((g * 13 + k * 101) % 4000) as condition_start_date,
                null::varchar(50) as condition_source_value, 0 as condition_source_concept_id
            from generate_series(1, {persons}) as g, generate_series(1, 3) as k
            union all
            select 10 * {persons} + (g - 1) * 3 + k, g,
                case when k = 1 then 2000000001 else 4112853 end,
                date '2018-01-01' + (g % 1000) + (k - 1) * 200,
                case when k = 1 then 'C50.911' end, 0
            from generate_series({step}, {persons}, {step}) as g, generate_series(1, 3) as k
            union all
            select 20 * {persons} + g, g, 2000000002, date '2018-01-01' + (g % 1000) + 400,
                'C79.51', 0
            from generate_series({step}, {persons}, 2 * {step}) as g""",
        f"""create table {s}.measurement as
            select (g - 1) * 5 + k as measurement_id, g as person_id,
                2000000110 + k - 1 as measurement_concept_id,
                date '2012-01-01' + ((g * 17 + k * 37) % 4000) as measurement_date,
                (50 + (g * k) % 100)::numeric as value_as_number, 0 as value_as_concept_id,
                null::varchar(50) as unit_source_value, null::varchar(50) as value_source_value,
                null::varchar(50) as measurement_source_value, 0 as measurement_source_concept_id
            from generate_series(1, {persons}) as g, generate_series(1, 5) as k
            union all
            select 10 * {persons} + (g - 1) * 4 + k, g, 2000000100 + k - 1,
                date '2018-01-03' + (g % 1000), null,
                case when k = 4 then 0 when (g / {step}) % 5 = 0 or k > 1 then 2000000200
                    else 2000000201 end,
                null, case when k = 4 then case when g % (2 * {step}) = 0 then 'IV' else 'II' end
                    end,
                null, 0
            from generate_series({step}, {persons}, {step}) as g, generate_series(1, 4) as k""",
        f"""create table {s}.observation as
            select g as observation_id, g as person_id, 2000000120 as observation_concept_id,
                date '2015-01-01' + (g % 3000) as observation_date,
                null::numeric as value_as_number, 'Never smoked' as value_as_string,
                0 as value_as_concept_id, null::varchar(50) as unit_source_value,
                null::varchar(50) as value_source_value,
                null::varchar(50) as observation_source_value, 0 as observation_source_concept_id
            from generate_series(1, {persons}) as g""",
        f"""create table {s}.drug_exposure as
            select (g - 1) * {everyday + 1} + k as drug_exposure_id, g as person_id,
                2000000410 + (g + k) % 5 as drug_concept_id,
                date '2012-01-01' + ((g * 11 + k * 53) % 4000) as drug_exposure_start_date,
                date '2012-01-01' + ((g * 11 + k * 53) % 4000) + 30 as drug_exposure_end_date,
                null::varchar(50) as route_source_value,
                (array['314076', '313782', '312961', '197361', '861007'])[1 + (g + k) % 5]
                    as drug_source_value,
                0 as drug_source_concept_id
            from generate_series(1, {persons}) as g,
                generate_series(1, {everyday + 1}) as k
            where k <= {everyday} or g % {round(1 / half) if half else persons + 1} = 0
            union all
            select 20 * {persons} + (g - 1) * 25 + k, g, 2000000400 + k % 3,
                date '2019-06-01' + (g % 1000) + (k / 3) * 21,
                date '2019-06-01' + (g % 1000) + (k / 3) * 21, null,
                (array['1922509', '1298949', '1790100'])[1 + k % 3], 0
            from generate_series({step}, {persons}, {step}) as g, generate_series(1, 25) as k""",
    ]
    for table in ("condition_occurrence", "measurement", "observation", "drug_exposure",
                  "observation_period"):
        statements.append(f"create index on {s}.{table} (person_id)")
    with psycopg.connect(uri, autocommit=True) as conn:
        for sql in statements:
            conn.execute(sql)
        with conn.cursor() as cur:
            cur.executemany(f"insert into {s}.concept values (%s, %s, %s, %s, %s, %s)",
                            VOCABULARY + _drug_concepts())
            cur.executemany(f"insert into {s}.concept_ancestor values (%s, %s)", _ancestors())
        for table in ("person", "condition_occurrence", "measurement", "observation",
                      "drug_exposure", "concept", "concept_ancestor", "observation_period"):
            conn.execute(f"analyze {s}.{table}")
        return {t: conn.execute(f"select count(*) from {s}.{t}").fetchone()[0]
                for t in ("person", "condition_occurrence", "measurement", "observation",
                          "drug_exposure")}


def _drug_concepts() -> list[tuple]:
    rows = []
    for ing_id, ing, ing_code, scd_id, scd, scd_code, atc_id, atc in DRUGS:
        rows += [(ing_id, ing, "Drug", "RxNorm", "Ingredient", ing_code),
                 (scd_id, scd, "Drug", "RxNorm", "Clinical Drug", scd_code),
                 (atc_id, f"ATC {atc}", "Drug", "ATC", "ATC 5th", atc)]
    return rows


def _ancestors() -> list[tuple[int, int]]:
    pairs = [(4112853, 4112853), (4112853, 2000000001), (2000000003, 2000000002)]
    for ing_id, _ing, _c, scd_id, _s, _sc, atc_id, _a in DRUGS:
        pairs += [(ing_id, ing_id), (ing_id, scd_id), (atc_id, scd_id), (atc_id, ing_id)]
    return pairs


# ------------------------------------------------------------------------- running


def _extract(tmp: str, uri: str, memory_limit: str | None) -> dict:
    """Time land_registry in a child process (so its peak memory and CPU are its own)."""
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(Path(tmp) / "bench.duckdb"), uri, memory_limit or ""],
        check=True, capture_output=True, text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int,
                        help="generate a whole health system of this many persons in PostgreSQL")
    parser.add_argument("--breast-cancer", type=int, default=20_000,
                        help="of whom this many have breast cancer (with --persons)")
    parser.add_argument("--patients", type=int, default=100_000,
                        help="else: the synthetic registry of this many patients, as OMOP")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--uri", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--schema", help="extract this already loaded OMOP schema (kept)")
    parser.add_argument("--keep", action="store_true", help="keep the schema it loads")
    parser.add_argument("--memory-limit", help="DuckDB memory_limit for the extraction")
    args = parser.parse_args(argv)
    if args.schema:
        with tempfile.TemporaryDirectory(prefix="her2audit-bench-") as tmp:
            result = _extract(tmp, f"{args.uri}?schema={args.schema}", args.memory_limit)
        print(json.dumps(result, indent=2))
        return 0

    import psycopg

    schema = f"her2audit_bench_{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory(prefix="her2audit-bench-") as tmp:
        t0 = time.perf_counter()
        try:
            if args.persons:
                source_rows = generate_population(args.uri, schema, args.persons,
                                                  args.breast_cancer)
            else:
                from her2audit import synth

                folder = Path(tmp) / "omop"
                synth.write_registry(folder, patients=args.patients, seed=args.seed, fmt="omop")
                load_into_postgres(folder, args.uri, schema)
                source_rows = {}
            t1 = time.perf_counter()
            result = _extract(tmp, f"{args.uri}?schema={schema}", args.memory_limit)
        finally:
            if not args.keep:
                with psycopg.connect(args.uri, autocommit=True) as conn:
                    conn.execute(f"drop schema if exists {schema} cascade")
            else:
                print(f"kept schema {schema}", file=sys.stderr)
    result.update(source_rows=source_rows, load_seconds=round(t1 - t0, 1))
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
