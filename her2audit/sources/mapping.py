"""The codes the OMOP and FHIR adapters use (`rules/omop_mapping.yaml`), as DuckDB tables.

`load(con)` writes small temp tables the adapter SQL joins on:
- `map_conditions(category, site, vocabulary, code, prefix, omop_concept_id, rank)`:
  breast cancer and metastasis codes; `rank` orders matches from least to most specific.
- `map_biomarkers(loinc, marker, method)`, `map_stage(loinc)`.
- `map_gender(concept_id, sex)`, `map_fhir_gender(gender, sex)`.
- `map_results(source_key, result)`: result spellings -> canonical result.
- `map_systems(system, vocabulary)`: FHIR system URL -> vocabulary name.
- `map_fhir_status(resource_type, status)`: statuses meaning "did not happen".
- `map_drug_systems(code_system, url, priority)`: treatments.code_system <-> FHIR system.
"""

from __future__ import annotations

import functools
from typing import Any

import duckdb
import yaml

from her2audit.errors import RuleFileError
from her2audit.paths import RULES_DIR

MAPPING_FILE = RULES_DIR / "omop_mapping.yaml"


@functools.cache
def mapping() -> dict[str, Any]:
    try:
        data = yaml.safe_load(MAPPING_FILE.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise RuleFileError(f"{MAPPING_FILE}: cannot be read ({exc})") from None
    for key in ("conditions", "biomarkers", "stage", "gender", "systems", "export_condition_codes"):
        if key not in data:
            raise RuleFileError(f"{MAPPING_FILE}: missing section {key!r}")
    return data


def _rank(entry: dict[str, Any]) -> int:
    """More specific codes win: an exact SNOMED code with a site beats a prefix, a longer
    ICD-10 prefix beats a shorter one, a code with a site beats the unspecified one."""
    if "prefix" in entry:
        return 10 * len(entry["prefix"]) + (1 if entry.get("site") is None else 0)
    if "code" in entry:
        return 100 + (5 if entry.get("site") else 0)
    return 90  # an OMOP standard concept id


def condition_rows() -> list[tuple]:
    rows = []
    for e in mapping()["conditions"]:
        vocabularies = [e.get("vocabulary")]
        # ICD-10 (WHO) and ICD-10-CM share the C77-C79 and C50 structure used here.
        if e.get("vocabulary") in ("ICD10CM", "ICD10"):
            vocabularies = ["ICD10CM", "ICD10"]
        for vocabulary in dict.fromkeys(vocabularies):
            rows.append(
                (
                    e["category"],
                    e.get("site"),
                    vocabulary,
                    e.get("code"),
                    e.get("prefix"),
                    e.get("omop_concept_id"),
                    _rank(e),
                )
            )
    return list(dict.fromkeys(rows))


def load(con: duckdb.DuckDBPyConnection) -> None:
    m = mapping()
    con.execute(
        "create or replace temp table map_conditions (category varchar, site varchar, "
        "vocabulary varchar, code varchar, prefix varchar, omop_concept_id bigint, rank integer)"
    )
    con.executemany("insert into map_conditions values (?, ?, ?, ?, ?, ?, ?)", condition_rows())
    con.execute(
        "create or replace temp table map_biomarkers "
        "(loinc varchar, marker varchar, method varchar)"
    )
    con.executemany(
        "insert into map_biomarkers values (?, ?, ?)",
        [(b["loinc"], b["marker"], b["method"]) for b in m["biomarkers"]],
    )
    con.execute("create or replace temp table map_stage (loinc varchar)")
    con.execute("insert into map_stage values (?)", [m["stage"]["loinc"]])
    con.execute("create or replace temp table map_gender (concept_id bigint, sex varchar)")
    con.executemany(
        "insert into map_gender values (?, ?)", [(int(k), v) for k, v in m["gender"].items()]
    )
    con.execute("create or replace temp table map_fhir_gender (gender varchar, sex varchar)")
    con.executemany(
        "insert into map_fhir_gender values (?, ?)", list(m.get("fhir_gender", {}).items())
    )
    con.execute("create or replace temp table map_results (source_key varchar, result varchar)")
    con.executemany(
        "insert into map_results values (?, ?)",
        [(str(k).strip().lower(), str(v)) for k, v in m.get("result_synonyms", {}).items()],
    )
    con.execute("create or replace temp table map_systems (system varchar, vocabulary varchar)")
    con.executemany("insert into map_systems values (?, ?)", list(m["systems"].items()))
    con.execute(
        "create or replace temp table map_fhir_status (resource_type varchar, status varchar)"
    )
    con.executemany(
        "insert into map_fhir_status values (?, ?)",
        [
            (rtype, status)
            for rtype, statuses in m.get("fhir_rejected_status", {}).items()
            for status in statuses
        ],
    )
    con.execute(
        "create or replace temp table map_drug_systems (code_system varchar, url varchar, "
        "priority integer)"
    )
    con.executemany(
        "insert into map_drug_systems values (?, ?, ?)",
        [(k, v, i) for i, (k, v) in enumerate(m.get("drug_code_systems", {}).items())],
    )
    drugs = m.get("drugs", {})
    con.execute(
        "create or replace temp table map_ingredient_vocabularies (vocabulary varchar, "
        "concept_class varchar)"
    )
    con.executemany(
        "insert into map_ingredient_vocabularies values (?, ?)",
        [
            (v, drugs.get("ingredient_class", "Ingredient"))
            for v in drugs.get("ingredient_vocabularies", ["RxNorm", "RxNorm Extension"])
        ],
    )
