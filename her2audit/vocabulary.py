"""Drug vocabulary (SPEC §3): map every treatment row to canonical ingredients.

The vocabulary is data (`rules/vocabulary.yaml`). `load_vocabulary` checks it and
`map_drugs` (called at the end of the extract stage) loads it into `staging.drug_*`
tables and runs `sql/10_extract/20_drugs/`, which writes

- `staging.administrations`: one row per treatment row × ingredient (Phesgo gives two),
- `build.unmapped_drugs(drug, n_records)`: spellings that map to nothing, with counts,
- `build.drug_mapping_summary`: per ingredient, how many rows were mapped by code and
  by name, and from how many spellings.

Names are normalised in SQL only (`sql/10_extract/20_drugs/10_vocabulary.sql`: case, punctuation,
dose expressions, biosimilar suffixes, noise words, word order, bracketed and /-separated
pieces), by the same macros for the vocabulary and the data, so both sides are always
normalised the same way. The distinct source values are normalised and mapped once; the
treatment rows are then joined to that small mapping.

Every ingredient carries its RxNorm ingredient code (`tty: IN`) with the public source it
was checked against, or an `rxnorm_note` saying why it has none.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from pathlib import Path
from typing import Any

import duckdb
import yaml

from her2audit import warehouse, yaml_file
from her2audit.errors import RuleFileError
from her2audit.paths import RULES_DIR

VOCABULARY_FILE = RULES_DIR / "vocabulary.yaml"
CODE_SYSTEMS = ("rxnorm", "atc", "hemonc", "local")
RXNORM_TTYS = ("IN", "PIN", "MIN", "SCD", "SBD", "GPCK", "BPCK")


@dataclasses.dataclass(frozen=True)
class Vocabulary:
    version: str
    classes: dict[str, bool]  # class -> her2_directed
    ingredients: dict[str, str]  # ingredient -> class
    names: list[tuple[str, str, str, int]]  # (spelling, product, ingredient, position)
    # (code_system, code, product, ingredient, position, name, source)
    codes: list[tuple[str, str, str, str, int, str, str]]
    noise_words: list[str]
    dose_units: list[str]
    refinements: list[tuple[str, str]]  # (ingredient, the ingredient it refines)
    rxnorm_ingredient_codes: dict[str, str]  # ingredient -> its RxNorm code (tty IN)
    rxnorm_notes: dict[str, str]  # ingredient -> why it has no RxNorm ingredient code


def _fail(path: Path, message: str) -> RuleFileError:
    return RuleFileError(f"{path}: {message}")


def load_vocabulary(path: Path = VOCABULARY_FILE) -> Vocabulary:
    """Read and check the vocabulary file."""
    try:
        spec: dict[str, Any] = yaml_file.load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise _fail(path, f"cannot read the drug vocabulary ({exc})") from None
    if not isinstance(spec, dict) or not {"version", "classes", "ingredients"} <= spec.keys():
        raise _fail(path, "expected keys version, classes, ingredients")
    classes = {name: bool(d.get("her2_directed", False)) for name, d in spec["classes"].items()}
    if "supportive" not in classes:
        raise _fail(path, "class 'supportive' must be defined")
    ingredients: dict[str, str] = {}
    names: list[tuple[str, str, str, int]] = []
    codes: list[tuple[str, str, str, str, int, str, str]] = []
    refinements: list[tuple[str, str]] = []
    rxnorm_in: dict[str, str] = {}
    rxnorm_notes: dict[str, str] = {}
    for ingredient, d in spec["ingredients"].items():
        cls = d.get("class")
        if cls not in classes:
            raise _fail(path, f"ingredient {ingredient!r} has unknown class {cls!r}")
        ingredients[ingredient] = cls
        for name in [ingredient, *d.get("names", [])]:
            names.append((str(name), ingredient, ingredient, 1))
    for ingredient, d in spec["ingredients"].items():
        for code in d.get("codes", []) or []:
            codes.append(_code(path, ingredient, [ingredient], code))
        for refined in d.get("refines", []) or []:
            if refined not in ingredients:
                raise _fail(path, f"ingredient {ingredient!r} refines unknown {refined!r}")
            refinements.append((ingredient, refined))
        in_codes = [c[1] for c in codes if c[0] == "rxnorm" and c[4] == "IN" and c[2] == ingredient]
        if in_codes:
            rxnorm_in[ingredient] = in_codes[0]
        if d.get("rxnorm_note"):
            rxnorm_notes[ingredient] = str(d["rxnorm_note"])
        elif not in_codes:
            raise _fail(path, f"ingredient {ingredient!r} has neither an RxNorm ingredient "
                              "code (tty IN) nor an rxnorm_note saying why")
    for combo in spec.get("combinations", []) or []:
        parts = combo.get("ingredients") or []
        unknown = [p for p in parts if p not in ingredients]
        if len(parts) < 2 or unknown:
            raise _fail(path, f"combination {combo!r}: needs two or more known ingredients")
        for name in combo.get("names", []):
            for position, part in enumerate(parts, start=1):
                names.append((str(name), " + ".join(parts), part, position))
        for code in combo.get("codes", []) or []:
            codes.append(_code(path, " + ".join(parts), parts, code))
    units = [str(u).lower() for u in spec.get("dose_units", [])]
    bad_units = [u for u in units if not re.fullmatch(r"[a-z0-9%]+", u)]
    if bad_units:
        raise _fail(path, f"dose_units must be letters, digits or %: {bad_units}")
    return Vocabulary(
        version=str(spec["version"]),
        classes=classes,
        ingredients=ingredients,
        names=names,
        codes=[c for group in _expand(codes) for c in group],
        noise_words=[str(w) for w in spec.get("noise_words", [])],
        dose_units=units,
        refinements=refinements,
        rxnorm_ingredient_codes=rxnorm_in,
        rxnorm_notes=rxnorm_notes,
    )


def _code(path: Path, product: str, parts: list[str], code: dict[str, Any]) -> tuple:
    """One code entry -> (system, code, product, parts, tty-or-'', name, source)."""
    if code.get("system") not in CODE_SYSTEMS or not code.get("code"):
        raise _fail(path, f"{product!r}: bad code {code!r}")
    if not code.get("source"):
        raise _fail(path, f"{product!r}: code {code['code']} has no source")
    tty = str(code.get("tty", ""))
    if code["system"] == "rxnorm" and tty not in RXNORM_TTYS:
        raise _fail(path, f"{product!r}: RxNorm code {code['code']} needs tty, one of "
                          f"{', '.join(RXNORM_TTYS)}")
    if tty == "IN" and len(parts) != 1:
        raise _fail(path, f"{product!r}: an ingredient code (tty IN) names one ingredient")
    name = str(code.get("name") or (parts[0] if tty == "IN" else product))
    return (code["system"], str(code["code"]), product, tuple(parts), tty, name, code["source"])


def _expand(codes: list[tuple]) -> list[list[tuple[str, str, str, str, int, str, str]]]:
    """A code of a combination product names each of its ingredients (one row each)."""
    return [
        [(system, code, product, part, position, name, source)
         for position, part in enumerate(parts, start=1)]
        for system, code, product, parts, _tty, name, source in codes
    ]


@functools.cache
def default_vocabulary() -> Vocabulary:
    return load_vocabulary()


def load_vocabulary_tables(con: duckdb.DuckDBPyConnection, vocab: Vocabulary) -> None:
    """Write the vocabulary to `staging.drug_*` tables (ingredients, names, codes, noise
    words, dose units, refinements), build the normalised name map, and check it in SQL
    (every normalised key must name one product)."""
    tables: dict[str, tuple[str, list[tuple[Any, ...]]]] = {
        "drug_ingredients": (
            "ingredient varchar primary key, drug_class varchar, line_forming boolean, "
            "her2_directed boolean, vocabulary_version varchar",
            [(ing, cls, cls != "supportive", vocab.classes[cls], vocab.version)
             for ing, cls in vocab.ingredients.items()],
        ),
        "drug_names": (
            "spelling varchar, product varchar, ingredient varchar, position integer",
            vocab.names,
        ),
        "drug_codes": (
            "code_system varchar, code varchar, product varchar, ingredient varchar, "
            "position integer, name varchar, source varchar",
            vocab.codes,
        ),
        "drug_noise_words": ("word varchar", [(w,) for w in vocab.noise_words]),
        "drug_dose_units": ("unit varchar", [(u,) for u in vocab.dose_units]),
        "drug_refinements": ("ingredient varchar, refined varchar", vocab.refinements),
    }
    for table, (columns, rows) in tables.items():
        con.execute(f"create or replace table staging.{table} ({columns})")
        warehouse.insert_rows(con, f"staging.{table}", rows)
    warehouse.run_sql_file(con, _sql("10_vocabulary.sql"))
    clashes = con.execute(
        "select name_key, list(distinct product order by product) from staging.drug_name_map "
        "group by name_key having count(distinct product) > 1 order by name_key"
    ).fetchall()
    if clashes:
        detail = "; ".join(f"{k!r} -> {', '.join(v)}" for k, v in clashes[:5])
        raise RuleFileError(f"{VOCABULARY_FILE}: spellings name more than one product: {detail}")


def _sql(name: str) -> Path:
    return next(p for p in warehouse.sql_files("10_extract/20_drugs") if p.name == name)


def map_drugs(ctx: Any, vocab: Vocabulary | None = None) -> None:
    """Extract step: vocabulary -> `staging.administrations`, `build.unmapped_drugs`."""
    con = ctx.con
    load_vocabulary_tables(con, vocab or default_vocabulary())
    if con.execute(
        "select 1 from information_schema.tables where table_catalog = current_database() "
        "and table_schema = 'staging' and table_name = 'administrations' "
        "and table_type = 'BASE TABLE'"
    ).fetchall():  # written as a table by an earlier version (or a benchmark); a view now
        con.execute("drop table staging.administrations")
    for path in warehouse.sql_files("10_extract/20_drugs"):
        if path.name != "10_vocabulary.sql":
            warehouse.run_sql_file(con, path)
    # counted on the distinct source values, not on the administrations
    mapped, rows, unmapped_rows, unmapped_names = con.execute(
        "with mapped as (select sources.n_records, count(*) as n_ingredients "
        "from staging.drug_sources as sources join staging.drug_mapping as mapping "
        "on mapping.drug is not distinct from sources.drug "
        "and mapping.code_system is not distinct from sources.code_system "
        "and mapping.drug_code is not distinct from sources.drug_code "
        "group by sources.drug, sources.code_system, sources.drug_code, sources.n_records) "
        "select (select coalesce(sum(n_records), 0) from mapped), "
        "(select coalesce(sum(n_records * n_ingredients), 0) from mapped), "
        "(select coalesce(sum(n_records), 0) from build.unmapped_drugs), "
        "(select count(*) from build.unmapped_drugs)"
    ).fetchall()[0]
    ctx.progress(
        f"  drugs: {mapped:,} treatment rows mapped to {rows:,} ingredient administrations; "
        f"{unmapped_rows:,} rows ({unmapped_names:,} spellings) unmapped, see audit.unmapped_drugs"
    )
