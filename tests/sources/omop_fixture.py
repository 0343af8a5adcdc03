"""The population of `population_fixture` as an OMOP CDM v5.4 with a vocabulary subset.

`write_omop_cdm(folder)` writes person, observation_period, condition_occurrence,
measurement, observation, drug_exposure and episode (the oncology extension), and the
vocabulary rows for what they name: concept, concept_ancestor (ingredients and ATC
classes above every drug, SNOMED parents above conditions) and concept_relationship
('Maps to' from NDC to RxNorm). The codings vary as ETLs write them: standard concepts
with the source value a code (ETL-Synthea writes the RxNorm code in
`drug_source_value`), a concept only an ancestor makes breast cancer, concept 0 with the
code in the source value, an NDC source concept, ICD-O-3 conditions, Cancer Modifier
measurements. Concept ids of the test vocabulary are local (2 000 000 000 and up) except
4112853 (Malignant tumor of breast) and the gender concepts.
"""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

from population_fixture import (
    BREAST_CANCER,
    DRUGS,
    EVERYDAY_OBSERVATIONS,
    others,
)

BREAST_CANCER_CONCEPT = 4112853  # SNOMED 254837009
GENDER = {"F": 8532, "M": 8507}
# RxNorm ingredient codes (checked ones: trastuzumab, pertuzumab, tucatinib,
# capecitabine, cyclophosphamide; the others illustrative)
INGREDIENT_CODES = {
    "trastuzumab": "224905", "pertuzumab": "1298944", "tucatinib": "2361285",
    "capecitabine": "194000", "docetaxel": "72962", "paclitaxel": "56946",
    "fam-trastuzumab deruxtecan": "2267582", "ado-trastuzumab emtansine": "1371041",
    "letrozole": "72965", "hyaluronidase-oysk": "2119711", "lisinopril": "29046",
    "acetaminophen": "161", "simvastatin": "36567", "amlodipine": "17767",
    "oxaliplatin": "32592",
}
LOINC_TESTS = ("85319-2", "85318-4", "48676-1", "85337-4", "85339-0", "16112-5", "16113-3")
# how each breast cancer patient's facts are coded (variety, as ETLs write them)
CODING = {
    "bc-denovo": "drug code in source value",
    "bc-recurrence": "tests by source value only; drug names in source value",
    "bc-sc-trastuzumab": "breast cancer only through concept_ancestor; drug code only",
    "bc-stage-iv-later": "ICD-10-CM source concept; drugs by NDC source concept",
    "bc-icdo3": "ICD-O-3 condition; branded drug",
}


@dataclasses.dataclass
class Vocabulary:
    concepts: dict[tuple[str, str], list] = dataclasses.field(default_factory=dict)
    ancestors: set[tuple[int, int]] = dataclasses.field(default_factory=set)
    relationships: set[tuple[int, int, str]] = dataclasses.field(default_factory=set)
    next_id: int = 2_000_000_000

    def concept(self, vocabulary: str, code: str, name: str, domain: str,
                concept_class: str, concept_id: int | None = None) -> int:
        key = (vocabulary, code)
        if key not in self.concepts:
            if concept_id is None:
                self.next_id += 1
                concept_id = self.next_id
            self.concepts[key] = [concept_id, name, domain, vocabulary, concept_class, code]
        return self.concepts[key][0]

    def ancestor(self, ancestor: int, descendant: int) -> None:
        self.ancestors.add((ancestor, descendant))

    def drug(self, key: str) -> int:
        """The drug product's concept, with its ingredients and ATC classes as ancestors."""
        drug = DRUGS[key]
        product = self.concept("RxNorm", drug.rxnorm, drug.display, "Drug",
                               "Branded Drug" if key == "kadcyla" else "Clinical Drug")
        for name in drug.ingredients:
            ingredient = self.concept("RxNorm", INGREDIENT_CODES[name], name, "Drug",
                                      "Ingredient")
            self.ancestor(ingredient, product)
            self.ancestor(ingredient, ingredient)
        if drug.atc:
            for code, cls in ((drug.atc, "ATC 5th"), (drug.atc[:3], "ATC 2nd")):
                atc = self.concept("ATC", code, f"ATC {code}", "Drug", cls)
                self.ancestor(atc, product)
                for name in drug.ingredients:
                    self.ancestor(atc, self.concepts[("RxNorm", INGREDIENT_CODES[name])][0])
        return product


def _write(path: Path, header: list[str], rows: list[list]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


class _Tables:
    def __init__(self) -> None:
        self.rows: dict[str, list[list]] = {name: [] for name in HEADERS}

    def add(self, table: str, *values) -> None:
        row = [len(self.rows[table]) + 1, *values] if table in NUMBERED else list(values)
        self.rows[table].append(row)


HEADERS = {
    "person": ["person_id", "gender_concept_id", "year_of_birth", "month_of_birth",
               "day_of_birth", "person_source_value"],
    "observation_period": ["observation_period_id", "person_id",
                           "observation_period_start_date", "observation_period_end_date"],
    "condition_occurrence": ["condition_occurrence_id", "person_id", "condition_concept_id",
                             "condition_start_date", "condition_source_value",
                             "condition_source_concept_id"],
    "measurement": ["measurement_id", "person_id", "measurement_concept_id", "measurement_date",
                    "value_as_number", "value_as_concept_id", "unit_source_value",
                    "value_source_value", "measurement_source_value",
                    "measurement_source_concept_id"],
    "observation": ["observation_id", "person_id", "observation_concept_id", "observation_date",
                    "value_as_string", "observation_source_value"],
    "drug_exposure": ["drug_exposure_id", "person_id", "drug_concept_id",
                      "drug_exposure_start_date", "drug_exposure_end_date", "drug_source_value",
                      "drug_source_concept_id"],
    "episode": ["episode_id", "person_id", "episode_concept_id", "episode_start_date",
                "episode_object_concept_id"],
}
NUMBERED = {"observation_period", "condition_occurrence", "measurement", "observation",
            "drug_exposure", "episode"}


def _loinc(v: Vocabulary, code: str, name: str = "") -> int:
    return v.concept("LOINC", code, name or f"LOINC {code}", "Measurement", "Lab Test")


def _breast_cancer(t: _Tables, v: Vocabulary, person_id: int, p) -> None:
    coding = CODING.get(p.name, "")
    vocabulary, code = p.diagnosis_code
    if "only through concept_ancestor" in coding:
        concept = v.concept("SNOMED", "T-000001", "Carcinoma of breast (test descendant)",
                            "Condition", "Clinical Finding")
        v.ancestor(BREAST_CANCER_CONCEPT, concept)
        t.add("condition_occurrence", person_id, concept, p.diagnosis_date, "", 0)
    elif vocabulary == "ICD10CM":
        source = v.concept("ICD10CM", code, "Malignant neoplasm of breast", "Condition",
                           "5-char billing code")
        t.add("condition_occurrence", person_id, BREAST_CANCER_CONCEPT, p.diagnosis_date, code,
              source)
    elif vocabulary == "ICDO3":
        concept = v.concept("ICDO3", code, "Infiltrating duct carcinoma of breast",
                            "Condition", "ICDO Condition")
        t.add("condition_occurrence", person_id, concept, p.diagnosis_date, code, concept)
    else:
        t.add("condition_occurrence", person_id, BREAST_CANCER_CONCEPT, p.diagnosis_date, code, 0)
    # the condition is recorded again at follow-up visits, as EHRs do
    t.add("condition_occurrence", person_id, BREAST_CANCER_CONCEPT, p.last_contact, "", 0)
    hypertension = v.concept("SNOMED", "59621000", "Essential hypertension", "Condition",
                             "Clinical Finding")
    t.add("condition_occurrence", person_id, hypertension, "2012-04-01", "59621000", 0)
    weight = _loinc(v, "29463-7", "Body Weight")
    t.add("measurement", person_id, weight, p.diagnosis_date, 68.2, 0, "kg", "", "29463-7", 0)

    if p.condition_stage:  # the stage a FHIR Condition carries: a staging measurement here
        t.add("measurement", person_id, _loinc(v, "21908-9"), p.diagnosis_date, "", 0, "",
              p.condition_stage, "21908-9", 0)
    secondary = v.concept("SNOMED", "128462008", "Secondary malignant neoplastic disease",
                          "Condition", "Clinical Finding")
    for e in p.evidence:
        if e.kind == "stage_group":
            t.add("measurement", person_id, _loinc(v, "21908-9"), e.date, "", 0, "", e.value,
                  "21908-9", 0)
        elif e.kind == "m_category":
            value = {"M1": ("55440008", "M1 category"), "M0": ("30893008", "M0 category")}
            if e.value in value:
                vc = v.concept("SNOMED", value[e.value][0], value[e.value][1], "Meas Value",
                               "Qualifier Value")
                t.add("measurement", person_id, _loinc(v, "21907-1"), e.date, "", vc, "", "",
                      "21907-1", 0)
            else:
                t.add("measurement", person_id, _loinc(v, "21907-1"), e.date, "", 0, "", e.value,
                      "21907-1", 0)
        elif e.kind == "site_observation":
            concept = v.concept("LOINC", "44667-4", "Site of distant metastasis in Breast tumor",
                                "Observation", "Clinical Observation")
            t.add("observation", person_id, concept, e.date, e.value, "44667-4")
        elif e.kind == "secondary_condition":
            if e.site == "lung":  # a concept the mapping does not list: found by its parent
                concept = v.concept("SNOMED", "T-000002", "Secondary malignant neoplasm of lung",
                                    "Condition", "Clinical Finding")
            else:
                concept = v.concept("SNOMED", e.value, f"Secondary malignant neoplasm of {e.site}",
                                    "Condition", "Clinical Finding")
            v.ancestor(secondary, concept)
            t.add("condition_occurrence", person_id, concept, e.date, "", 0)
        elif e.kind == "cancer_modifier":
            concept = v.concept("Cancer Modifier", "OMOP-T-MET-BONE", e.value, "Measurement",
                                "Metastasis")
            t.add("measurement", person_id, concept, e.date, "", 0, "", "", "", 0)
        elif e.kind == "episode":
            concept = v.concept("Episode", "T-EP-MET", e.value, "Episode", "Disease Extent")
            t.add("episode", person_id, concept, e.date, BREAST_CANCER_CONCEPT)

    by_source_value = "tests by source value" in coding
    for test in p.tests:
        concept = 0 if by_source_value else _loinc(v, test.loinc)
        number, value_concept, unit, text = "", 0, "", ""
        if "snomed" in test.value:
            value_concept = v.concept("SNOMED", test.value["snomed"],
                                      test.value["display"].replace(" (qualifier value)", ""),
                                      "Meas Value", "Qualifier Value")
        elif "quantity" in test.value:
            number, unit = test.value["quantity"], test.value["unit"]
        elif "interpretation" in test.value:
            text = test.value["interpretation"]
        else:
            text = test.value["text"]
        t.add("measurement", person_id, concept, test.date, number, value_concept, unit, text,
              test.loinc, 0)

    for key, start, end in p.treatments:
        drug = DRUGS[key]
        last = end or start
        if drug.rxnorm is None:
            t.add("drug_exposure", person_id, 0, start, last, drug.display, 0)
            continue
        product = v.drug(key)
        if "drug code only" in coding:
            t.add("drug_exposure", person_id, 0, start, last, drug.rxnorm, 0)
        elif "NDC" in coding:
            ndc_code = f"00000-{drug.rxnorm[-4:]}-01"
            ndc = v.concept("NDC", ndc_code, drug.display, "Drug", "11-digit NDC")
            v.relationships.add((ndc, product, "Maps to"))
            t.add("drug_exposure", person_id, 0, start, last, ndc_code, ndc)
        elif "names in source value" in coding:
            t.add("drug_exposure", person_id, product, start, last, drug.display, 0)
        else:
            t.add("drug_exposure", person_id, product, start, last, drug.rxnorm, 0)


def _other(t: _Tables, v: Vocabulary, person_id: int, o, index: int) -> None:
    for day, code, display in o.conditions:
        concept = v.concept("SNOMED", code, display, "Condition", "Clinical Finding")
        t.add("condition_occurrence", person_id, concept, day, code, 0)
    if index == 11:  # ductal carcinoma in situ (behaviour /2): not a malignant neoplasm
        concept = v.concept("ICDO3", "8500/2-C50.9", "Intraductal carcinoma, breast",
                            "Condition", "ICDO Condition")
        t.add("condition_occurrence", person_id, concept, "2019-01-01", "8500/2-C50.9", concept)
    for day, loinc, display, unit, value in o.observations:
        t.add("measurement", person_id, _loinc(v, loinc, display), day, value, 0, unit, "",
              loinc, 0)
    for key, start, end in o.drugs:
        t.add("drug_exposure", person_id, v.drug(key), start, end or start, DRUGS[key].rxnorm, 0)


def write_omop_cdm(folder: Path, n_others: int = 293, seed: int = 2024) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    t, v = _Tables(), Vocabulary()
    v.concept("SNOMED", "254837009", "Malignant tumor of breast", "Condition",
              "Clinical Finding", concept_id=BREAST_CANCER_CONCEPT)
    v.ancestor(BREAST_CANCER_CONCEPT, BREAST_CANCER_CONCEPT)
    for code in LOINC_TESTS:
        _loinc(v, code)
    for code, display, *_ in EVERYDAY_OBSERVATIONS:
        _loinc(v, code, display)
    people = [(p.patient_id, p.sex, p.birth, p.last_contact, p) for p in BREAST_CANCER]
    people += [(o.patient_id, o.sex, o.birth, "2025-12-31", o) for o in others(n_others, seed)]
    for person_id, (patient_id, sex, birth, last, record) in enumerate(people, start=1):
        year, month, day = (int(x) for x in birth.split("-"))
        t.add("person", person_id, GENDER[sex], year, month, day, patient_id)
        t.add("observation_period", person_id, "2010-01-01", last)
        if person_id <= len(BREAST_CANCER):
            _breast_cancer(t, v, person_id, record)
        else:
            _other(t, v, person_id, record, person_id - len(BREAST_CANCER) - 1)
    for name, header in HEADERS.items():
        _write(folder / f"{name}.csv", header, t.rows[name])
    _write(folder / "concept.csv",
           ["concept_id", "concept_name", "domain_id", "vocabulary_id", "concept_class_id",
            "concept_code"], sorted(v.concepts.values()))
    _write(folder / "concept_ancestor.csv", ["ancestor_concept_id", "descendant_concept_id"],
           sorted(v.ancestors))
    _write(folder / "concept_relationship.csv",
           ["concept_id_1", "concept_id_2", "relationship_id"], sorted(v.relationships))
    return folder


def n_rows(folder: Path, table: str) -> int:
    with open(folder / f"{table}.csv", encoding="utf-8") as f:
        return sum(1 for _ in f) - 1


def population_rows(folder: Path) -> dict[str, int]:
    """Rows per clinical table of the breast cancer patients (persons 1..7)."""
    counts = {}
    for table in ("person", "condition_occurrence", "measurement", "observation",
                  "drug_exposure", "episode"):
        with open(folder / f"{table}.csv", encoding="utf-8") as f:
            rows = csv.DictReader(f)
            counts[table] = sum(1 for r in rows if int(r["person_id"]) <= len(BREAST_CANCER))
    return counts
