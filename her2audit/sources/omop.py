"""OMOP CDM v5.4 adapter: an OMOP database (PostgreSQL) or a folder of OMOP tables
(`person.csv`, `drug_exposure.parquet`, …) lands in the same `raw` tables as the
canonical reader (SPEC §2).

1. The OMOP columns the audit needs are copied, typed, into the warehouse schema
   `omop_src` (PostgreSQL: Arrow record batches streamed over ADBC into DuckDB, so
   memory stays flat whatever the table size; files: DuckDB's CSV/Parquet readers).
2. `sql/sources/omop/*.sql` maps them to canonical rows with the codes of
   `rules/omop_mapping.yaml` (set-based, in DuckDB).
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
        "concept",
        {
            "concept_id": "bigint",
            "concept_name": "varchar",
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
)
TABLES = {t.name: t for t in OMOP_TABLES}
VOCABULARY_TABLES = ("concept", "concept_ancestor")
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
    _map_to_raw(con, prefix="", fingerprint=digest)
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


def _pg_select(table: OmopTable, schema: str, columns: set[str], where: str = "") -> str:
    pg_types = {
        "bigint": "bigint",
        "integer": "integer",
        "date": "date",
        "timestamp": "timestamp",
        "double": "double precision",
        "varchar": "text",
    }
    select = ", ".join(
        f"cast({c if c in columns else 'null'} as {pg_types[t]}) as {c}"
        for c, t in table.columns.items()
    )
    return f"select {select} from {schema}.{table.name} as t {where}"


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


def _vocabulary_filters(
    schema: str, vocab: str, have_vocab: bool, columns: dict[str, set[str]]
) -> dict[str, str]:
    """Server-side filters so only the rows the audit can use travel (a real CDM has
    billions of measurements): measurement/observation rows whose code is one of the
    mapping's LOINC codes; vocabulary rows for the concepts the extract refers to. Only
    columns the source has are named."""
    m = mapping.mapping()
    loinc = [b["loinc"] for b in m["biomarkers"]] + [m["stage"]["loinc"]]
    loinc_list = ", ".join(_lit(c) for c in loinc)
    loinc_concepts = (
        f"(select concept_id from {vocab}.concept "
        f"where vocabulary_id = 'LOINC' and concept_code in ({loinc_list}))"
    )
    filters: dict[str, str] = {}
    for table in ("measurement", "observation"):
        cols = columns.get(table, set())
        conds = []
        if f"{table}_source_value" in cols:
            conds.append(f"trim(t.{table}_source_value) in ({loinc_list})")
        if have_vocab:
            conds += [
                f"t.{c} in {loinc_concepts}"
                for c in (f"{table}_concept_id", f"{table}_source_concept_id")
                if c in cols
            ]
        filters[table] = "where " + (" or ".join(conds) if conds else "false")
    if have_vocab:
        used_columns = [
            (t, c)
            for t, c in (
                ("condition_occurrence", "condition_concept_id"),
                ("condition_occurrence", "condition_source_concept_id"),
                ("drug_exposure", "drug_concept_id"),
            )
            if c in columns.get(t, set())
        ]
        used = " union ".join(f"select {c} from {schema}.{t}" for t, c in used_columns)
        filters["concept_ancestor"] = f"where t.descendant_concept_id in ({used})"
        filters["concept"] = (
            f"where t.concept_id in ({used}) "
            f"or t.concept_id in (select ancestor_concept_id from {vocab}.concept_ancestor "
            f"where descendant_concept_id in ({used})) "
            f"or (t.vocabulary_id = 'LOINC' and t.concept_code in ({loinc_list})) "
            f"or t.domain_id = 'Meas Value'"
        )
    return filters


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
        have_vocab = {"concept", "concept_ancestor"} <= present and (
            "domain_id" in vocab_columns.get("concept", set())
        )
        filters = _vocabulary_filters(
            source.schema, source.vocabulary_schema, have_vocab, columns
        )
        cur.close()
        con.execute(f"create schema if not exists {SRC}")
        for table in OMOP_TABLES:
            if table.name not in present:
                _land_empty(con, table)
                continue
            schema = source.vocabulary_schema if table.name in VOCABULARY_TABLES else source.schema
            cols = vocab_columns if table.name in VOCABULARY_TABLES else columns
            sql = _pg_select(table, schema, cols[table.name], filters.get(table.name, ""))
            try:
                _stream(con, source, sql, f"{SRC}.{table.name}")
            except RegistryError:
                raise
            except Exception as exc:
                raise RegistryError(
                    source.display,
                    f"cannot read {schema}.{table.name}: {_scrub(str(exc), source)}",
                ) from None
            if progress:
                n = _count(con, f"{SRC}.{table.name}")
                progress(f"  omop {schema}.{table.name}: {n:,} rows")
    finally:
        conn.close()
    digest = _content_fingerprint(con, source)
    _map_to_raw(con, prefix=f"{source.schema}.", fingerprint=digest)
    return digest


def _content_fingerprint(con: duckdb.DuckDBPyConnection, source: PostgresSource) -> str:
    """A hash of what was read (row count and an order-free hash of every row per
    table), identical for identical database content."""
    digest = hashlib.sha256(f"{source.display}\n".encode())
    for table in OMOP_TABLES:
        n, h = con.execute(
            f"select count(*), coalesce(bit_xor(hash(t)), 0) from {SRC}.{table.name} as t"
        ).fetchall()[0]
        digest.update(f"{table.name}:{n}:{h}\n".encode())
    return digest.hexdigest()


# --------------------------------------------------------------------------- mapping


def _map_to_raw(con: duckdb.DuckDBPyConnection, prefix: str, fingerprint: str) -> None:
    """Run `sql/sources/omop` over `omop_src` and land the canonical rows in `raw`."""
    mapping.load(con)
    warehouse.set_variables(con, {"omop_prefix": prefix})
    warehouse.run_sql_stage(con, "sources/omop")
    tables = registry_tables()
    raw.reset_raw(con, list(tables))
    raw.land_adapter_outputs(con, SRC, OUTPUTS, fingerprint)
