"""OMOP CDM v5.4 adapter: an OMOP database (PostgreSQL) or a folder of OMOP tables
(`person.csv`, `drug_exposure.parquet`, …) lands in the same `raw` tables as the
canonical reader.

A CDM holds a whole health system; the audit's population is the persons with a breast
cancer condition (`rules/omop_mapping.yaml`: ICD-10(-CM) C50, ICD-O-3 C50, SNOMED CT
malignant neoplasm of breast and, with the vocabulary tables, every descendant).

1. The OMOP columns the audit needs are copied, typed, into the warehouse schema
   `omop_src`. PostgreSQL: the SQL sent selects the population on the server, so only
   the population's rows cross the wire (Arrow record batches streamed over ADBC), the
   rows left behind are counted there (`omop_src.server_counts`), and vocabulary rows
   are fetched for the concepts those rows name. Files: DuckDB's CSV/Parquet readers.
2. `sql/sources/omop/*.sql` maps them to canonical rows with the codes of
   `rules/omop_mapping.yaml` (set-based, in DuckDB) and accounts for every other row
   (`omop_src.dispositions` -> `raw.source_dispositions`: out of scope with a reason, or
   combined into the patient's diagnosis).
3. `raw.land` writes `raw.<table>`; each row's `_source_file` names its OMOP table
   (e.g. `cdm.drug_exposure`) and `_row_number` its OMOP id, so a quarantined row can
   be found in the source. `omop_src` is dropped afterwards.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import urllib.parse
from collections.abc import Callable
from pathlib import Path

import duckdb

from her2audit import warehouse
from her2audit.errors import RegistryError
from her2audit.sources import mapping, raw
from her2audit.sources.schema import registry_tables

SRC = "omop_src"
# DuckDB's buffer limit while an OMOP source is landed and mapped: large sorts and joins
# spill to disk instead of growing the process (a 100,000-patient CDM has ~10 million
# drug exposures). The previous setting is restored afterwards.
ADAPTER_MEMORY_LIMIT = "1GB"


@dataclasses.dataclass(frozen=True)
class OmopTable:
    name: str
    columns: dict[str, str]  # column -> DuckDB type
    required: bool
    key_columns: tuple[str, ...] = ()  # must exist in the source for it to count as OMOP


OMOP_TABLES: tuple[OmopTable, ...] = (
    OmopTable(
        "person",
        {
            "person_id": "bigint",
            "gender_concept_id": "bigint",
            "year_of_birth": "integer",
            "month_of_birth": "integer",
            "day_of_birth": "integer",
            "birth_datetime": "timestamp",
            "care_site_id": "bigint",
            "person_source_value": "varchar",
            "gender_source_value": "varchar",
        },
        True,
        ("person_id", "gender_concept_id", "year_of_birth"),
    ),
    OmopTable(
        "condition_occurrence",
        {
            "condition_occurrence_id": "bigint",
            "person_id": "bigint",
            "condition_concept_id": "bigint",
            "condition_start_date": "date",
            "condition_source_value": "varchar",
            "condition_source_concept_id": "bigint",
        },
        True,
        ("condition_occurrence_id", "person_id", "condition_concept_id", "condition_start_date"),
    ),
    OmopTable(
        "drug_exposure",
        {
            "drug_exposure_id": "bigint",
            "person_id": "bigint",
            "drug_concept_id": "bigint",
            "drug_exposure_start_date": "date",
            "drug_exposure_end_date": "date",
            "route_source_value": "varchar",
            "drug_source_value": "varchar",
            "drug_source_concept_id": "bigint",
        },
        True,
        ("drug_exposure_id", "person_id", "drug_concept_id", "drug_exposure_start_date"),
    ),
    OmopTable(
        "measurement",
        {
            "measurement_id": "bigint",
            "person_id": "bigint",
            "measurement_concept_id": "bigint",
            "measurement_date": "date",
            "value_as_number": "double",
            "value_as_concept_id": "bigint",
            "unit_source_value": "varchar",
            "value_source_value": "varchar",
            "measurement_source_value": "varchar",
            "measurement_source_concept_id": "bigint",
        },
        False,
        ("measurement_id", "person_id", "measurement_concept_id", "measurement_date"),
    ),
    OmopTable(
        "observation",
        {
            "observation_id": "bigint",
            "person_id": "bigint",
            "observation_concept_id": "bigint",
            "observation_date": "date",
            "value_as_number": "double",
            "value_as_string": "varchar",
            "value_as_concept_id": "bigint",
            "unit_source_value": "varchar",
            "value_source_value": "varchar",
            "observation_source_value": "varchar",
            "observation_source_concept_id": "bigint",
        },
        False,
        ("observation_id", "person_id", "observation_concept_id", "observation_date"),
    ),
    OmopTable(
        "death",
        {"person_id": "bigint", "death_date": "date"},
        False,
        ("person_id", "death_date"),
    ),
    OmopTable(
        "observation_period",
        {
            "person_id": "bigint",
            "observation_period_start_date": "date",
            "observation_period_end_date": "date",
        },
        False,
        ("person_id", "observation_period_end_date"),
    ),
    OmopTable(
        "care_site",
        {
            "care_site_id": "bigint",
            "care_site_name": "varchar",
            "care_site_source_value": "varchar",
        },
        False,
        ("care_site_id",),
    ),
    OmopTable(
        "episode",  # OMOP oncology extension
        {
            "episode_id": "bigint",
            "person_id": "bigint",
            "episode_concept_id": "bigint",
            "episode_start_date": "date",
            "episode_object_concept_id": "bigint",
        },
        False,
        ("episode_id", "person_id", "episode_concept_id", "episode_start_date"),
    ),
    OmopTable(
        "concept",
        {
            "concept_id": "bigint",
            "concept_name": "varchar",
            "domain_id": "varchar",
            "vocabulary_id": "varchar",
            "concept_class_id": "varchar",
            "concept_code": "varchar",
        },
        False,
        ("concept_id", "vocabulary_id", "concept_code"),
    ),
    OmopTable(
        "concept_ancestor",
        {"ancestor_concept_id": "bigint", "descendant_concept_id": "bigint"},
        False,
        ("ancestor_concept_id", "descendant_concept_id"),
    ),
    OmopTable(
        "concept_relationship",
        {"concept_id_1": "bigint", "concept_id_2": "bigint", "relationship_id": "varchar"},
        False,
        ("concept_id_1", "concept_id_2", "relationship_id"),
    ),
)
TABLES = {t.name: t for t in OMOP_TABLES}
VOCABULARY_TABLES = ("concept", "concept_ancestor", "concept_relationship")
# Clinical tables whose rows are accounted for (landed, combined or out of scope); the
# others (death, observation_period, care_site) only fill columns of the patients row.
COUNTED_TABLES = ("person", "condition_occurrence", "measurement", "observation",
                  "drug_exposure", "episode")
SERVER_COUNTS_DDL = (
    "create or replace table {src}.server_counts "
    "(source_name varchar, n_all bigint, n_selected bigint)"
)
# Canonical tables the adapter fills, and the temp table the mapping SQL writes for each.
OUTPUTS = ("patients", "diagnoses", "biomarkers", "metastases", "treatments")


def _count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    # fetchall: a result must be finished before DuckDB runs the next statement
    return con.execute(f"select count(*) from {table}").fetchall()[0][0]


def _describe(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# --------------------------------------------------------------------------- files


def omop_folder_tables(folder: Path) -> dict[str, Path]:
    """OMOP table files in a folder (`person.csv`, `person.parquet`, case-insensitive)."""
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        stem, suffix = path.stem.lower(), path.suffix.lower()
        if stem in TABLES and suffix in (".csv", ".parquet") and path.is_file():
            if stem in found:
                raise RegistryError(
                    str(folder / stem), f"both {found[stem].name} and {path.name} exist; keep one"
                )
            found[stem] = path
    return found


def is_omop_folder(folder: Path) -> bool:
    return folder.is_dir() and any(
        (folder / f"person{s}").exists() or (folder / f"PERSON{s}").exists()
        for s in (".csv", ".parquet")
    )


def _file_columns(con: duckdb.DuckDBPyConnection, scan: str, path: Path) -> list[str]:
    try:
        return [d[0] for d in con.execute(f"select * from {scan} limit 0").description]
    except duckdb.Error as exc:
        raise RegistryError(str(path), f"cannot be read ({_describe(exc)})") from None


def _land_file(con: duckdb.DuckDBPyConnection, table: OmopTable, path: Path) -> None:
    if path.suffix.lower() == ".csv":
        scan = f"read_csv({_lit(str(path))}, header = true, all_varchar = true)"
    else:
        scan = f"read_parquet({_lit(str(path))})"
    names = {c.lower(): c for c in _file_columns(con, scan, path)}
    missing = [c for c in table.key_columns if c not in names]
    if missing:
        raise RegistryError(
            str(path),
            f"is not an OMOP CDM {table.name} table: column(s) {', '.join(missing)} missing",
        )
    select = ", ".join(
        f"try_cast({raw.quote_ident(names[c])} as {t}) as {c}" if c in names
        else f"null::{t} as {c}"
        for c, t in table.columns.items()
    )
    try:
        con.execute(f"create or replace table {SRC}.{table.name} as select {select} from {scan}")
    except duckdb.Error as exc:
        raise RegistryError(str(path), f"cannot be read ({_describe(exc)})") from None


def _land_empty(con: duckdb.DuckDBPyConnection, table: OmopTable) -> None:
    cols = ", ".join(f"{c} {t}" for c, t in table.columns.items())
    con.execute(f"create or replace table {SRC}.{table.name} ({cols})")


def read_folder(
    con: duckdb.DuckDBPyConnection, folder: Path, progress: Callable[[str], None] | None = None
) -> str:
    """Land an OMOP folder (CSV or Parquet tables) into `raw`; returns the fingerprint."""
    with bounded_memory(con):
        return _read_folder(con, folder, progress)


def _read_folder(
    con: duckdb.DuckDBPyConnection, folder: Path, progress: Callable[[str], None] | None
) -> str:
    files = omop_folder_tables(folder)
    _check_required(
        str(folder), set(files), [p.name for p in folder.iterdir() if p.is_file()]
    )
    con.execute(f"create schema if not exists {SRC}")
    fingerprint = hashlib.sha256()
    for table in OMOP_TABLES:
        path = files.get(table.name)
        if path is None:
            _land_empty(con, table)
            continue
        try:
            sha = raw.file_sha256(path)
        except OSError as exc:
            raise RegistryError(str(path), f"cannot be opened ({exc.strerror})") from None
        fingerprint.update(f"{path.name}:{sha}\n".encode())
        _land_file(con, table, path)
        if progress:
            progress(f"  omop {path.name}: {_count(con, f'{SRC}.{table.name}'):,} rows")
    digest = fingerprint.hexdigest()
    con.execute(SERVER_COUNTS_DDL.format(src=SRC))  # every row is here: nothing left behind
    _map_to_raw(con, prefix="", fingerprint=digest, progress=progress)
    return digest


def _check_required(where: str, present: set[str], found_tables: list[str]) -> None:
    missing = [t.name for t in OMOP_TABLES if t.required and t.name not in present]
    if not ({"measurement", "observation"} & present):
        missing.append("measurement (or observation)")
    if missing:
        shown = sorted(found_tables)
        found = ", ".join(shown[:12]) + (", …" if len(shown) > 12 else "") or "no tables"
        raise RegistryError(
            where,
            f"is not an OMOP CDM v5.4 source: table(s) {', '.join(missing)} missing "
            f"(found: {found})",
        )


# --------------------------------------------------------------------------- PostgreSQL


@dataclasses.dataclass(frozen=True)
class PostgresSource:
    uri: str  # libpq URI without our own query parameters (has the password, if any)
    schema: str
    vocabulary_schema: str
    display: str  # the URI with the password replaced by ***

    @property
    def password(self) -> str | None:
        return urllib.parse.urlsplit(self.uri).password


def redact(uri: str) -> str:
    """The URI with any password replaced by `***` (also `password=` query values)."""
    try:
        parts = urllib.parse.urlsplit(uri)
    except ValueError:
        return re.sub(r"//([^:/@]*):[^@]*@", r"//\1:***@", uri)
    netloc = parts.netloc
    if parts.password is not None:
        userinfo, _, hostinfo = netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:***@{hostinfo}"
    query = re.sub(r"(?i)(password=)[^&]*", r"\1***", parts.query)
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def parse_postgres_uri(uri: str) -> PostgresSource:
    """`postgresql://user:password@host:port/db?schema=cdm[&vocabulary_schema=vocab]`."""
    display = redact(uri)
    parts = urllib.parse.urlsplit(uri)
    params = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    ours = {k: v for k, v in params if k in ("schema", "vocabulary_schema")}
    rest = [(k, v) for k, v in params if k not in ours]
    schema = ours.get("schema") or "public"
    vocabulary_schema = ours.get("vocabulary_schema") or schema
    for name in (schema, vocabulary_schema):
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_$]*", name):
            raise RegistryError(display, f"schema name {name!r} is not a plain SQL identifier")
    if not parts.path.strip("/"):
        raise RegistryError(display, "no database name in the URI (postgresql://host:port/DB)")
    clean = urllib.parse.urlunsplit(
        (parts.scheme, parts.netloc, parts.path, urllib.parse.urlencode(rest), parts.fragment)
    )
    return PostgresSource(clean, schema, vocabulary_schema, display)


def _scrub(message: str, source: PostgresSource) -> str:
    text = _describe(Exception(message))
    if source.password:
        text = text.replace(source.password, "***")
        text = text.replace(urllib.parse.quote(source.password, safe=""), "***")
    return text


def _pg_connect(source: PostgresSource):
    import adbc_driver_postgresql.dbapi as pg  # imported here: only this adapter needs it

    try:
        return pg.connect(source.uri)
    except Exception as exc:  # the driver raises several classes; all mean "cannot connect"
        raise RegistryError(
            source.display, f"cannot connect to PostgreSQL: {_scrub(str(exc), source)}"
        ) from None


def _pg_fetch(cur, sql: str, args: tuple = ()) -> list[tuple]:
    cur.execute(sql, args) if args else cur.execute(sql)
    return cur.fetchall()


def _pg_columns(cur, schema: str) -> dict[str, set[str]]:
    rows = _pg_fetch(
        cur,
        "select lower(table_name), lower(column_name) from information_schema.columns "
        f"where table_schema = {_lit(schema)}",
    )
    tables: dict[str, set[str]] = {}
    for table, column in rows:
        tables.setdefault(table, set()).add(column)
    return tables


def _pg_select(table: OmopTable, schema: str, columns: set[str], where: str = "",
               cte: str = "") -> str:
    pg_types = {
        "bigint": "bigint",
        "integer": "integer",
        "date": "date",
        "timestamp": "timestamp",
        "double": "double precision",
        "varchar": "text",
    }
    select = ", ".join(
        f"cast({'t.' + c if c in columns else 'null'} as {pg_types[t]}) as {c}"
        for c, t in table.columns.items()
    )
    return f"{cte} select {select} from {schema}.{table.name} as t {where}"


def _stream(con: duckdb.DuckDBPyConnection, source: PostgresSource, sql: str, target: str) -> None:
    """Run `sql` on PostgreSQL and stream its Arrow record batches into `target`. Each
    table gets its own connection: the driver wants a result finished before the next."""
    conn = _pg_connect(source)
    try:
        cur = conn.cursor()
        cur.execute(sql)
        reader = cur.fetch_record_batch()
        con.register("_pg_stream", reader)
        try:
            con.execute(f"create or replace table {target} as select * from _pg_stream")
        finally:
            con.unregister("_pg_stream")
    finally:
        conn.close()


@dataclasses.dataclass(frozen=True)
class ServerQueries:
    """The SQL sent to PostgreSQL. The population (the persons with a breast cancer
    condition) is selected once, on the server; every clinical table is then read for
    those persons only (`person_id in (select unnest(array[...]))`: a hash or index
    join whether or not person_id is indexed), and counted whole."""

    schema: str
    vocab: str
    have_vocab: bool
    columns: dict[str, set[str]]

    def population_sql(self) -> str:
        bc = mapping.breast_cancer_concepts_sql(self.vocab if self.have_vocab else None)
        cols = self.columns["condition_occurrence"]
        tests = [
            f"co.{c} in (select concept_id from bc)"
            for c in ("condition_concept_id", "condition_source_concept_id") if c in cols
        ]
        if "condition_source_value" in cols:
            tests.append(mapping.breast_cancer_code_predicate(None, "co.condition_source_value"))
        return (
            f"with bc as ({bc}) select distinct cast(co.person_id as bigint) as person_id "
            f"from {self.schema}.condition_occurrence as co where {' or '.join(tests)}"
        )

    def _used_codes(self, table: str) -> str:
        """Measurement / observation rows the audit reads: a LOINC code of the mapping (as
        concept, source concept or source value) or an oncology-extension concept."""
        m = mapping.mapping()
        loinc = sorted({b["loinc"] for b in m["biomarkers"]}
                       | {o["loinc"] for o in m["staging_observations"]})
        loinc_list = ", ".join(mapping.lit(c) for c in loinc)
        onc = m.get("oncology_extension", {})
        cols = self.columns.get(table, set())
        tests = []
        if f"{table}_source_value" in cols:
            tests.append(f"trim(t.{table}_source_value) in ({loinc_list})")
        if self.have_vocab:
            classes = ", ".join(mapping.lit(onc.get(k, "")) for k in
                                ("metastasis_concept_class", "staging_concept_class"))
            concepts = (
                f"(select concept_id from {self.vocab}.concept where (vocabulary_id = 'LOINC' "
                f"and concept_code in ({loinc_list})) or (vocabulary_id = "
                f"{mapping.lit(onc.get('cancer_modifier_vocabulary', ''))} "
                f"and concept_class_id in ({classes})))"
            )
            tests += [f"t.{c} in {concepts}"
                      for c in (f"{table}_concept_id", f"{table}_source_concept_id") if c in cols]
        return "(" + (" or ".join(tests) or "false") + ")"

    def table_sql(self, table: OmopTable, population: str) -> str:
        """Read a table for the population (`population`: an SQL array of person ids)."""
        cols = self.columns[table.name]
        in_population = f"t.person_id in (select unnest({population}))"
        if table.name == "care_site":
            where = (f"where t.care_site_id in (select care_site_id from {self.schema}.person "
                     f"where person_id in (select unnest({population})))")
        elif table.name in ("measurement", "observation"):
            where = f"where {in_population} and {self._used_codes(table.name)}"
        else:
            where = f"where {in_population}"
        return _pg_select(table, self.schema, cols, where)

    def count_sql(self, table: str, population: str | None = None) -> str:
        """All rows of a table, or the population's rows, counted on the server."""
        where = f" where person_id in (select unnest({population}))" if population else ""
        return f"select count(*) from {self.schema}.{table}{where}"


def _id_array(ids: list[int]) -> str:
    return f"array[{', '.join(str(int(i)) for i in ids)}]::bigint[]"


def _local_ids(con: duckdb.DuckDBPyConnection, sql: str) -> list[int]:
    return [r[0] for r in con.execute(sql).fetchall()]


def _stream_vocabulary(
    con: duckdb.DuckDBPyConnection, source: PostgresSource, vocab: str,
    columns: dict[str, set[str]],
) -> None:
    """Fetch the vocabulary rows the transferred rows need: the concepts they name (and
    the RxNorm/NDC concepts whose code a drug_source_value is), their 'Maps to' targets,
    the ancestors of all of these, and the LOINC concepts of the mapping."""
    used = _local_ids(con, f"""
        select distinct id from (
            select unnest([condition_concept_id, condition_source_concept_id]) as id
            from {SRC}.condition_occurrence
            union all select unnest([measurement_concept_id, measurement_source_concept_id,
                value_as_concept_id]) from {SRC}.measurement
            union all select unnest([observation_concept_id, observation_source_concept_id,
                value_as_concept_id]) from {SRC}.observation
            union all select unnest([drug_concept_id, drug_source_concept_id])
            from {SRC}.drug_exposure
            union all select unnest([episode_concept_id, episode_object_concept_id])
            from {SRC}.episode
        ) where id is not null and id <> 0 order by id""")
    codes = [r[0] for r in con.execute(
        f"select distinct trim(drug_source_value) from {SRC}.drug_exposure "
        "where regexp_full_match(trim(drug_source_value), '[0-9A-Za-z-]{1,50}') order by 1"
    ).fetchall()]
    m = mapping.mapping()
    code_vocabularies = ", ".join(mapping.lit(v) for v in m["drugs"].get("code_vocabularies", []))
    code_list = ", ".join(mapping.lit(c) for c in codes) or "null"
    named = (f"select concept_id from {vocab}.concept where vocabulary_id in "
             f"({code_vocabularies}) and concept_code in ({code_list})")
    first = f"select unnest({_id_array(used)}) as id union {named}"
    if "concept_relationship" in columns:
        _stream(con, source, _pg_select(
            TABLES["concept_relationship"], vocab, columns["concept_relationship"],
            f"where t.relationship_id = 'Maps to' and t.concept_id_1 in ({first})",
        ), f"{SRC}.concept_relationship")
    else:
        _land_empty(con, TABLES["concept_relationship"])
    targets = _local_ids(con, f"select distinct concept_id_2 from {SRC}.concept_relationship")
    descendants = f"select unnest({_id_array(targets)}) as id union {first}"
    _stream(con, source, _pg_select(
        TABLES["concept_ancestor"], vocab, columns["concept_ancestor"],
        f"where t.descendant_concept_id in ({descendants})",
    ), f"{SRC}.concept_ancestor")
    ancestors = _local_ids(con, f"select distinct ancestor_concept_id from {SRC}.concept_ancestor")
    loinc = sorted({b["loinc"] for b in m["biomarkers"]}
                   | {o["loinc"] for o in m["staging_observations"]})
    _stream(con, source, _pg_select(
        TABLES["concept"], vocab, columns["concept"],
        f"where t.concept_id in (select unnest({_id_array(ancestors)}) as id union {descendants})"
        f" or (t.vocabulary_id = 'LOINC' and t.concept_code in "
        f"({', '.join(mapping.lit(c) for c in loinc)}))",
    ), f"{SRC}.concept")


def bounded_memory(con: duckdb.DuckDBPyConnection, keep_order: bool = False):
    """Cap DuckDB's memory and let it reorder rows while an OMOP source is landed (OMOP
    rows carry their own ids; nothing depends on arrival order)."""
    current = con.execute("select current_setting('memory_limit')").fetchall()[0][0]
    values: dict[str, object] = {}
    if _bytes(current) > _bytes(ADAPTER_MEMORY_LIMIT):
        values["memory_limit"] = ADAPTER_MEMORY_LIMIT
    if not keep_order:
        values["preserve_insertion_order"] = False
    return warehouse.settings(con, **values)


def _bytes(size: str) -> float:
    m = re.fullmatch(r"\s*([\d.]+)\s*([KMGT]i?B)?\s*", size or "", re.IGNORECASE)
    if not m:
        return float("inf")
    unit = (m.group(2) or "B").upper().replace("I", "")
    return float(m.group(1)) * {"B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12}[unit]


def read_postgres(
    con: duckdb.DuckDBPyConnection, uri: str, progress: Callable[[str], None] | None = None
) -> str:
    """Land an OMOP CDM schema on PostgreSQL into `raw`; returns the source fingerprint."""
    with bounded_memory(con):
        return _read_postgres(con, uri, progress)


def _read_postgres(
    con: duckdb.DuckDBPyConnection, uri: str, progress: Callable[[str], None] | None
) -> str:
    source = parse_postgres_uri(uri)
    conn = _pg_connect(source)
    try:
        cur = conn.cursor()
        try:
            columns = _pg_columns(cur, source.schema)
            vocab_columns = (
                _pg_columns(cur, source.vocabulary_schema)
                if source.vocabulary_schema != source.schema
                else columns
            )
        except Exception as exc:
            raise RegistryError(
                source.display, f"cannot read the catalog: {_scrub(str(exc), source)}"
            ) from None
        if not columns:
            raise RegistryError(
                source.display,
                f"schema {source.schema!r} does not exist or has no tables this user can see; "
                "give the OMOP CDM schema with ?schema=NAME",
            )
        present = {
            name
            for name in TABLES
            if name in (vocab_columns if name in VOCABULARY_TABLES else columns)
        }
        _check_required(f"{source.display} (schema {source.schema})", present, list(columns))
        for name in present:
            cols = vocab_columns if name in VOCABULARY_TABLES else columns
            missing = [c for c in TABLES[name].key_columns if c not in cols[name]]
            if missing:
                raise RegistryError(
                    source.display,
                    f"table {name} is not an OMOP CDM table: column(s) {', '.join(missing)} "
                    "missing",
                )
        have_vocab = {"concept", "concept_ancestor"} <= present
        all_columns = {**columns, **{t: vocab_columns[t] for t in VOCABULARY_TABLES
                                     if t in vocab_columns}}
        queries = ServerQueries(source.schema, source.vocabulary_schema, have_vocab, all_columns)
        con.execute(f"create schema if not exists {SRC}")
        con.execute(SERVER_COUNTS_DDL.format(src=SRC))
        n_all = {}
        try:
            for name in COUNTED_TABLES:
                if name in present:
                    n_all[name] = _pg_fetch(cur, queries.count_sql(name))[0][0]
        except Exception as exc:
            raise RegistryError(
                source.display, f"cannot count the rows of {name}: {_scrub(str(exc), source)}"
            ) from None
        cur.close()
    finally:
        conn.close()
    try:
        _stream(con, source, queries.population_sql(), f"{SRC}.server_population")
    except Exception as exc:
        raise RegistryError(
            source.display, f"cannot select the breast cancer population from "
            f"{source.schema}.condition_occurrence: {_scrub(str(exc), source)}",
        ) from None
    population = _id_array(_local_ids(
        con, f"select person_id from {SRC}.server_population order by person_id"))
    for table in OMOP_TABLES:
        if table.name not in present or table.name in VOCABULARY_TABLES:
            _land_empty(con, table)
            continue
        _stream_table(con, source, queries.table_sql(table, population), table.name,
                      source.schema, progress)
    _count_selected(con, source, queries, population, n_all)
    if not have_vocab:
        for table in VOCABULARY_TABLES:
            _land_empty(con, TABLES[table])
    else:
        try:
            _stream_vocabulary(con, source, source.vocabulary_schema, all_columns)
        except RegistryError:
            raise
        except Exception as exc:
            raise RegistryError(
                source.display,
                f"cannot read the vocabulary tables of {source.vocabulary_schema}: "
                f"{_scrub(str(exc), source)}",
            ) from None
    digest = _content_fingerprint(con, source)
    _map_to_raw(con, prefix=f"{source.schema}.", fingerprint=digest, progress=progress)
    return digest


def _count_selected(
    con: duckdb.DuckDBPyConnection, source: PostgresSource, queries: ServerQueries,
    population: str, n_all: dict[str, int],
) -> None:
    """`omop_src.server_counts`: per table, all rows and the population's rows. A table
    read whole for the population was counted by the transfer; measurement and
    observation (read only for the codes the audit uses) are counted on the server."""
    conn = _pg_connect(source)
    try:
        cur = conn.cursor()
        for name, total in n_all.items():
            if name in ("measurement", "observation"):
                n_selected = _pg_fetch(cur, queries.count_sql(name, population))[0][0]
            else:
                n_selected = _count(con, f"{SRC}.{name}")
            con.execute(f"insert into {SRC}.server_counts values (?, ?, ?)",
                        [name, total, n_selected])
        cur.close()
    except Exception as exc:
        raise RegistryError(
            source.display, f"cannot count the population's rows: {_scrub(str(exc), source)}"
        ) from None
    finally:
        conn.close()


def _stream_table(
    con: duckdb.DuckDBPyConnection, source: PostgresSource, sql: str, name: str, schema: str,
    progress: Callable[[str], None] | None,
) -> None:
    try:
        _stream(con, source, sql, f"{SRC}.{name}")
    except RegistryError:
        raise
    except Exception as exc:
        raise RegistryError(
            source.display, f"cannot read {schema}.{name}: {_scrub(str(exc), source)}"
        ) from None
    if progress:
        n = _count(con, f"{SRC}.{name}")
        progress(f"  omop {schema}.{name}: {n:,} rows of the population transferred")


def _content_fingerprint(con: duckdb.DuckDBPyConnection, source: PostgresSource) -> str:
    """A hash of what was read (row count and an order-free hash of every row per table,
    and the counts of the rows left on the server), identical for identical content."""
    digest = hashlib.sha256(f"{source.display}\n".encode())
    for name in [*TABLES, "server_counts"]:
        n, h = con.execute(
            f"select count(*), coalesce(bit_xor(hash(t)), 0) from {SRC}.{name} as t"
        ).fetchall()[0]
        digest.update(f"{name}:{n}:{h}\n".encode())
    return digest.hexdigest()


# --------------------------------------------------------------------------- mapping


def _map_to_raw(
    con: duckdb.DuckDBPyConnection, prefix: str, fingerprint: str,
    progress: Callable[[str], None] | None = None,
) -> None:
    """Run `sql/sources/omop` over `omop_src` and land the canonical rows in `raw`, and
    the accounting of every other source row in `raw.source_dispositions`."""
    mapping.load(con)
    warehouse.set_variables(con, {"omop_prefix": prefix})
    warehouse.run_sql_stage(con, "sources/omop")
    if progress:
        n_population, n_persons = con.execute(
            f"select (select count(*) from {SRC}.population), "
            f"(select count(*) from {SRC}.person) "
            f"+ coalesce((select n_all - n_selected from {SRC}.server_counts "
            "where source_name = 'person'), 0)"
        ).fetchall()[0]
        progress(f"  omop population: {n_population:,} of {n_persons:,} persons have a "
                 "breast cancer condition")
    tables = registry_tables()
    raw.reset_raw(con, list(tables))
    con.execute(f"insert into raw.source_dispositions select * from {SRC}.dispositions")
    raw.land_adapter_outputs(con, SRC, OUTPUTS, fingerprint)
