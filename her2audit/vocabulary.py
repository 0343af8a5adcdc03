"""Drug vocabulary (SPEC §3): map every treatment row to canonical ingredients.

The vocabulary is data (`rules/vocabulary.yaml`). `load_vocabulary` checks it and
`map_drugs` (called at the end of the extract stage) loads it into `staging.drug_*`
tables and runs `sql/10_extract/20_drugs/`, which writes

- `staging.administrations`: one row per treatment row × ingredient (Phesgo gives two),
- `build.unmapped_drugs(drug, n_records)`: spellings that map to nothing, with counts,
- `build.drug_mapping_summary`: per ingredient, how many rows were mapped by code and
  by name, and from how many spellings.

Name normalisation (lower case, non-alphanumerics to one space, noise words removed in
a second pass) is done in SQL only, for the vocabulary and the data alike, so both sides
are always normalised the same way.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Any

import duckdb
import yaml

from her2audit import warehouse
from her2audit.errors import RuleFileError
from her2audit.paths import RULES_DIR

VOCABULARY_FILE = RULES_DIR / "vocabulary.yaml"
CODE_SYSTEMS = ("rxnorm", "atc", "hemonc", "local")


@dataclasses.dataclass(frozen=True)
class Vocabulary:
    version: str
    classes: dict[str, bool]  # class -> her2_directed
    ingredients: dict[str, str]  # ingredient -> class
    names: list[tuple[str, str, str, int]]  # (spelling, product, ingredient, position)
    codes: list[tuple[str, str, str, str]]  # (code_system, code, ingredient, source)
    noise_words: list[str]


def _fail(path: Path, message: str) -> RuleFileError:
    return RuleFileError(f"{path}: {message}")


def load_vocabulary(path: Path = VOCABULARY_FILE) -> Vocabulary:
    """Read and check the vocabulary file."""
    try:
        spec: dict[str, Any] = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise _fail(path, f"cannot read the drug vocabulary ({exc})") from None
    if not isinstance(spec, dict) or not {"version", "classes", "ingredients"} <= spec.keys():
        raise _fail(path, "expected keys version, classes, ingredients")
    classes = {name: bool(d.get("her2_directed", False)) for name, d in spec["classes"].items()}
    if "supportive" not in classes:
        raise _fail(path, "class 'supportive' must be defined")
    ingredients: dict[str, str] = {}
    names: list[tuple[str, str, str, int]] = []
    codes: list[tuple[str, str, str, str]] = []
    for ingredient, d in spec["ingredients"].items():
        cls = d.get("class")
        if cls not in classes:
            raise _fail(path, f"ingredient {ingredient!r} has unknown class {cls!r}")
        ingredients[ingredient] = cls
        for name in [ingredient, *d.get("names", [])]:
            names.append((str(name), ingredient, ingredient, 1))
        for code in d.get("codes", []) or []:
            if code.get("system") not in CODE_SYSTEMS or not code.get("code"):
                raise _fail(path, f"ingredient {ingredient!r}: bad code {code!r}")
            if not code.get("source"):
                raise _fail(path, f"ingredient {ingredient!r}: code {code['code']} has no source")
            codes.append((code["system"], str(code["code"]), ingredient, code["source"]))
    for combo in spec.get("combinations", []) or []:
        parts = combo.get("ingredients") or []
        unknown = [p for p in parts if p not in ingredients]
        if len(parts) < 2 or unknown:
            raise _fail(path, f"combination {combo!r}: needs two or more known ingredients")
        for name in combo.get("names", []):
            for position, part in enumerate(parts, start=1):
                names.append((str(name), " + ".join(parts), part, position))
    return Vocabulary(
        version=str(spec["version"]),
        classes=classes,
        ingredients=ingredients,
        names=names,
        codes=codes,
        noise_words=[str(w) for w in spec.get("noise_words", [])],
    )


@functools.cache
def default_vocabulary() -> Vocabulary:
    return load_vocabulary()


def load_vocabulary_tables(con: duckdb.DuckDBPyConnection, vocab: Vocabulary) -> None:
    """Write the vocabulary to `staging.drug_ingredients`, `staging.drug_names`,
    `staging.drug_codes` and `staging.drug_noise_words`, then check it in SQL (every
    normalised spelling must name one product)."""
    con.execute(
        "create or replace table staging.drug_ingredients "
        "(ingredient varchar primary key, drug_class varchar, line_forming boolean, "
        "her2_directed boolean, vocabulary_version varchar)"
    )
    con.executemany(
        "insert into staging.drug_ingredients values (?, ?, ?, ?, ?)",
        [
            (ing, cls, cls != "supportive", vocab.classes[cls], vocab.version)
            for ing, cls in vocab.ingredients.items()
        ],
    )
    con.execute(
        "create or replace table staging.drug_names "
        "(spelling varchar, product varchar, ingredient varchar, position integer)"
    )
    con.executemany("insert into staging.drug_names values (?, ?, ?, ?)", vocab.names)
    con.execute(
        "create or replace table staging.drug_codes "
        "(code_system varchar, code varchar, ingredient varchar, source varchar)"
    )
    con.executemany("insert into staging.drug_codes values (?, ?, ?, ?)", vocab.codes)
    con.execute("create or replace table staging.drug_noise_words (word varchar)")
    con.executemany(
        "insert into staging.drug_noise_words values (?)", [(w,) for w in vocab.noise_words]
    )
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
    for path in warehouse.sql_files("10_extract/20_drugs"):
        if path.name != "10_vocabulary.sql":
            warehouse.run_sql_file(con, path)
    mapped, rows, unmapped_rows, unmapped_names = con.execute(
        "select (select count(distinct record_key) from staging.administrations), "
        "(select count(*) from staging.administrations), "
        "(select coalesce(sum(n_records), 0) from build.unmapped_drugs), "
        "(select count(*) from build.unmapped_drugs)"
    ).fetchall()[0]
    ctx.progress(
        f"  drugs: {mapped:,} treatment rows mapped to {rows:,} ingredient administrations; "
        f"{unmapped_rows:,} rows ({unmapped_names:,} spellings) unmapped, see audit.unmapped_drugs"
    )
