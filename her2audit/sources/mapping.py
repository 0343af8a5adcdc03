"""The codes the OMOP and FHIR adapters use (`rules/omop_mapping.yaml`), as DuckDB tables,
and the population filter as SQL text for a database source.

`load(con)` writes small temp tables the adapter SQL joins on:
- `map_conditions(category, site, vocabulary, code, prefix, pattern, omop_concept_id, rank)`:
  breast cancer and metastasis codes; `rank` orders matches from least to most specific.
- `map_biomarkers(loinc, marker, method)`, `map_staging(loinc, kind)`.
- `map_stage_groups(token, stage)`, `map_m_codes(vocabulary, code, m_category)`,
  `map_site_words(site, word, priority)`, `map_none_words(word)`,
  `map_method_words(method, word)`.
- `map_gender(concept_id, sex)`, `map_fhir_gender(gender, sex)`.
- `map_systems(system, vocabulary)`: FHIR system URL -> vocabulary name.
- `map_fhir_status(resource_type, status)`: statuses meaning "did not happen".
- `map_drug_systems(code_system, url, priority)`: treatments.code_system <-> FHIR system.
- `map_ingredient_vocabularies(vocabulary, concept_class)`, `map_code_vocabularies(vocabulary)`,
  `map_oncology_atc(prefix)`.
- `map_known_drug_terms(term)`, `map_known_drug_codes(code_system, code)`: the spellings
  and codes of the drug vocabulary (`rules/vocabulary.yaml`), for the drug scope rule.
Then `sql/sources/common/` defines the macros both adapters read clinical text with.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import duckdb
import yaml

from her2audit import warehouse, yaml_file
from her2audit.errors import RuleFileError
from her2audit.paths import RULES_DIR

MAPPING_FILE = RULES_DIR / "omop_mapping.yaml"
REQUIRED_SECTIONS = (
    "conditions", "biomarkers", "stage", "gender", "systems", "export_condition_codes",
    "staging_observations", "stage_values", "m_category", "metastasis_site_words",
    "metastasis_none_words", "drugs",
)


@functools.cache
def mapping() -> dict[str, Any]:
    try:
        data = yaml_file.load(MAPPING_FILE.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise RuleFileError(f"{MAPPING_FILE}: cannot be read ({exc})") from None
    for key in REQUIRED_SECTIONS:
        if key not in data:
            raise RuleFileError(f"{MAPPING_FILE}: missing section {key!r}")
    return data


def _rank(entry: dict[str, Any]) -> int:
    """More specific codes win: an exact SNOMED code with a site beats a prefix, a longer
    ICD-10 prefix beats a shorter one, a code with a site beats the unspecified one."""
    if "prefix" in entry:
        return 10 * len(entry["prefix"]) + (1 if entry.get("site") is None else 0)
    if "code" in entry or "codes" in entry:
        return 100 + (5 if entry.get("site") else 0)
    if "pattern" in entry:
        return 80
    return 90  # an OMOP standard concept id


def _vocabularies(entry: dict[str, Any]) -> list[str | None]:
    # ICD-10 (WHO) and ICD-10-CM share the C50 and C77-C79 structure used here.
    if entry.get("vocabulary") in ("ICD10CM", "ICD10"):
        return ["ICD10CM", "ICD10"]
    return [entry.get("vocabulary")]


def condition_rows() -> list[tuple]:
    rows = []
    for e in mapping()["conditions"]:
        codes = [str(c) for c in e.get("codes", [])] or [e.get("code")]
        for vocabulary in dict.fromkeys(_vocabularies(e)):
            for code in codes:
                rows.append(
                    (
                        e["category"],
                        e.get("site"),
                        vocabulary,
                        code,
                        e.get("prefix"),
                        e.get("pattern"),
                        e.get("omop_concept_id"),
                        _rank(e),
                    )
                )
    return list(dict.fromkeys(rows))


def _table(con: duckdb.DuckDBPyConnection, name: str, columns: str, rows: list[tuple]) -> None:
    con.execute(f"create or replace temp table {name} ({columns})")
    warehouse.insert_rows(con, name, rows)


def known_drug_terms() -> tuple[list[str], list[tuple[str, str]]]:
    """Spellings (as lower-case words) and (code_system, code) pairs of the drug vocabulary."""
    from her2audit.vocabulary import default_vocabulary

    vocab = default_vocabulary()
    terms = sorted({
        key
        for spelling, *_ in vocab.names
        if len(key := " ".join(re.findall(r"[a-z0-9]+", spelling.lower()))) >= 3
    })
    codes = sorted({(str(c[0]).lower(), str(c[1]).strip().lower()) for c in vocab.codes})
    return terms, codes


def load(con: duckdb.DuckDBPyConnection) -> None:
    m = mapping()
    _table(
        con, "map_conditions",
        "category varchar, site varchar, vocabulary varchar, code varchar, prefix varchar, "
        "pattern varchar, omop_concept_id bigint, rank integer",
        condition_rows(),
    )
    _table(
        con, "map_biomarkers", "loinc varchar, marker varchar, method varchar",
        [(b["loinc"], b["marker"], b["method"]) for b in m["biomarkers"]],
    )
    _table(
        con, "map_staging", "loinc varchar, kind varchar",
        [(s["loinc"], s["kind"]) for s in m["staging_observations"]],
    )
    _table(
        con, "map_stage_groups", "token varchar, stage varchar",
        [(str(k), str(v)) for k, v in m["stage_values"]["groups"].items()],
    )
    mc = m["m_category"]
    _table(
        con, "map_m_codes", "vocabulary varchar, code varchar, m_category varchar",
        [(c["vocabulary"], str(c["code"]), "M1") for c in mc.get("m1_codes", [])]
        + [(c["vocabulary"], str(c["code"]), "M0") for c in mc.get("m0_codes", [])],
    )
    _table(
        con, "map_site_words", "site varchar, word varchar, priority integer",
        [
            (entry["site"], str(word).lower(), i)
            for i, entry in enumerate(m["metastasis_site_words"])
            for word in entry["words"]
        ],
    )
    _table(
        con, "map_method_words", "method varchar, word varchar",
        [(method, str(w).lower()) for method, words in m.get("method_words", {}).items()
         for w in words],
    )
    _table(
        con, "map_none_words", "word varchar",
        [(str(w).lower(),) for w in m["metastasis_none_words"]],
    )
    _table(
        con, "map_gender", "concept_id bigint, sex varchar",
        [(int(k), v) for k, v in m["gender"].items()],
    )
    _table(con, "map_fhir_gender", "gender varchar, sex varchar",
           list(m.get("fhir_gender", {}).items()))
    _table(con, "map_systems", "system varchar, vocabulary varchar", list(m["systems"].items()))
    _table(
        con, "map_fhir_status", "resource_type varchar, status varchar",
        [
            (rtype, status)
            for rtype, statuses in m.get("fhir_rejected_status", {}).items()
            for status in statuses
        ],
    )
    _table(
        con, "map_drug_systems", "code_system varchar, url varchar, priority integer",
        [(k, v, i) for i, (k, v) in enumerate(m.get("drug_code_systems", {}).items())],
    )
    drugs = m["drugs"]
    _table(
        con, "map_ingredient_vocabularies", "vocabulary varchar, concept_class varchar",
        [(v, drugs.get("ingredient_class", "Ingredient"))
         for v in drugs.get("ingredient_vocabularies", ["RxNorm", "RxNorm Extension"])],
    )
    _table(con, "map_code_vocabularies", "vocabulary varchar",
           [(v,) for v in drugs.get("code_vocabularies", [])])
    _table(con, "map_oncology_atc", "prefix varchar",
           [(str(p),) for p in drugs.get("oncology_atc_prefixes", [])])
    terms, codes = known_drug_terms()
    _table(con, "map_known_drug_terms", "term varchar", [(t,) for t in terms])
    _table(con, "map_known_drug_codes", "code_system varchar, code varchar", codes)
    onc = m.get("oncology_extension", {})
    warehouse.set_variables(
        con,
        {
            "stage_within_days": int(m.get("stage_at_diagnosis_within_days", 90)),
            "stage_strip_pattern": m["stage_values"]["strip_pattern"],
            "stage_name_pattern": m["stage_values"]["name_pattern"],
            "m1_pattern": mc["m1_pattern"],
            "m0_pattern": mc["m0_pattern"],
            "m1_word_pattern": mc["m1_word_pattern"],
            "m0_word_pattern": mc["m0_word_pattern"],
            "cancer_modifier_vocabulary": onc.get("cancer_modifier_vocabulary", ""),
            "cancer_modifier_metastasis_class": onc.get("metastasis_concept_class", ""),
            "cancer_modifier_staging_class": onc.get("staging_concept_class", ""),
            "metastatic_episode_pattern": "|".join(
                re.escape(w) for w in onc.get("metastatic_episode_words", [])
            ) or "$^",
        },
    )
    warehouse.run_sql_stage(con, "sources/common")


# --------------------------------------------------------------------------- SQL text


def lit(text: str) -> str:
    return "'" + str(text).replace("'", "''") + "'"


def _code_key(expr: str) -> str:
    return f"upper(replace(trim({expr}), '.', ''))"


def breast_cancer_code_predicate(vocabulary: str | None, code: str) -> str:
    """SQL (PostgreSQL and DuckDB alike) true when the code expression `code` (of
    vocabulary expression `vocabulary`, or any vocabulary when None) is a breast cancer
    code of the mapping."""
    by_vocabulary: dict[str, list[str]] = {}
    for row in condition_rows():
        category, _site, vocab, one_code, prefix, pattern, _omop, _rank = row
        if category != "breast_cancer" or vocab is None:
            continue
        tests = by_vocabulary.setdefault(vocab, [])
        if one_code is not None:
            tests.append(lit(one_code))
        elif prefix is not None:
            tests.append(f"{_code_key(code)} like {lit(prefix + '%')}")
        else:
            tests.append(f"{_code_key(code)} ~ {lit(pattern)}")
    parts = []
    for vocab, tests in by_vocabulary.items():
        codes = [t for t in tests if t.startswith("'")]
        other = [t for t in tests if not t.startswith("'")]
        ors = ([f"trim({code}) in ({', '.join(codes)})"] if codes else []) + other
        test = "(" + " or ".join(ors) + ")"
        parts.append(test if vocabulary is None else f"({vocabulary} = {lit(vocab)} and {test})")
    return "(" + " or ".join(dict.fromkeys(parts)) + ")"


def breast_cancer_concepts_sql(vocab_schema: str | None) -> str:
    """A query of the concept ids that are breast cancer: the listed OMOP concept ids and,
    with the vocabulary tables, every concept with a listed code and their descendants."""
    listed = sorted({
        int(e["omop_concept_id"]) for e in mapping()["conditions"]
        if e["category"] == "breast_cancer" and e.get("omop_concept_id")
    })
    ids = ", ".join(str(i) for i in listed) or "null"
    if vocab_schema is None:
        return f"select unnest(array[{ids}]::bigint[]) as concept_id"
    coded = (
        f"select c.concept_id from {vocab_schema}.concept as c "
        f"where {breast_cancer_code_predicate('c.vocabulary_id', 'c.concept_code')} "
        f"or c.concept_id in ({ids})"
    )
    return (
        f"{coded} union select ca.descendant_concept_id from {vocab_schema}.concept_ancestor "
        f"as ca where ca.ancestor_concept_id in ({coded})"
    )
