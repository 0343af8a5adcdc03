"""A whole-population registry as real exports hold it, written three ways from one spec:
a Synthea-style FHIR export (`synthea_fixture`), an OMOP CDM with a vocabulary subset
(`omop_fixture`) and, for comparison, the canonical registry of the breast cancer
patients alone (`write_canonical`), whose audit the adapters must reproduce.

A few hundred persons; seven have breast cancer, four of them HER2-positive metastatic.
Everyone has the ordinary facts of a health record (conditions, vital signs and
laboratory observations, everyday drugs). Deterministic: the same seed writes the same
files.

Codes are those real systems write (checked in rules/omop_mapping.yaml and Synthea's
breast cancer module) where the adapters rely on them; RxNorm codes of drugs the
adapters resolve by name only are illustrative.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import random
import uuid
from pathlib import Path

NAMESPACE = uuid.UUID("6f1c1d0e-4f5b-4a39-9a43-2f7b8b7e9c11")


def patient_uuid(name: str) -> str:
    return str(uuid.uuid5(NAMESPACE, name))


@dataclasses.dataclass(frozen=True)
class Drug:
    """A drug product as EHRs order it."""

    display: str  # the RxNorm clinical / branded drug name (FHIR display, OMOP concept name)
    rxnorm: str | None  # its RxNorm code (None: free text only)
    ingredients: tuple[str, ...]  # the RxNorm ingredients the OMOP vocabulary resolves it to
    atc: str | None  # the ATC class it falls under
    oncology: bool  # the audit keeps it (a known or oncology drug, or unjudgeable)


DRUGS: dict[str, Drug] = {
    "docetaxel": Drug("Docetaxel 20 MG/ML Injectable Solution", "1790100",
                      ("docetaxel",), "L01CD02", True),
    "paclitaxel": Drug("paclitaxel 6 MG/ML Injectable Solution", "583214",
                       ("paclitaxel",), "L01CD01", True),
    "trastuzumab": Drug("trastuzumab 150 MG Injection", "1922509",
                        ("trastuzumab",), "L01FD01", True),
    "pertuzumab": Drug("pertuzumab 30 MG/ML Injectable Solution", "1298949",
                       ("pertuzumab",), "L01FD02", True),
    # subcutaneous trastuzumab as Synthea writes it: RxNorm 2119714
    "trastuzumab_sc": Drug("hyaluronidase-oysk / trastuzumab", "2119714",
                           ("hyaluronidase-oysk", "trastuzumab"), "L01FD01", True),
    "t_dxd": Drug("fam-trastuzumab deruxtecan-nxki 100 MG Injection", "2267586",
                  ("fam-trastuzumab deruxtecan",), "L01FD04", True),
    "kadcyla": Drug("Kadcyla", "1371046", ("ado-trastuzumab emtansine",), "L01FD03", True),
    "tucatinib": Drug("tucatinib 150 MG Oral Tablet", "2361292", ("tucatinib",), "L01EH03",
                      True),
    "capecitabine": Drug("capecitabine 500 MG Oral Tablet", "200328", ("capecitabine",),
                         "L01BC06", True),
    "letrozole": Drug("letrozole 2.5 MG Oral Tablet", "200064", ("letrozole",), "L02BG04", True),
    # an investigational drug no vocabulary knows, ordered for the breast cancer
    "study_drug": Drug("ABC-0815", None, (), None, True),
    # everyday drugs (Synthea's common modules)
    "lisinopril": Drug("lisinopril 10 MG Oral Tablet", "314076", ("lisinopril",), "C09AA03",
                       False),
    "acetaminophen": Drug("Acetaminophen 325 MG Oral Tablet", "313782", ("acetaminophen",),
                          "N02BE01", False),
    "simvastatin": Drug("Simvastatin 20 MG Oral Tablet", "312961", ("simvastatin",), "C10AA01",
                        False),
    "amlodipine": Drug("amLODIPine 5 MG Oral Tablet", "197361", ("amlodipine",), "C08CA01",
                       False),
    # colon cancer chemotherapy of patients outside the population
    "oxaliplatin": Drug("oxaliplatin 5 MG/ML Injectable Solution", "1736854", ("oxaliplatin",),
                        "L01XA03", True),
}
EVERYDAY_DRUGS = ("lisinopril", "acetaminophen", "simvastatin", "amlodipine")

# ordinary conditions and observations (SNOMED / LOINC codes Synthea writes)
EVERYDAY_CONDITIONS = [
    ("59621000", "Essential hypertension (disorder)"),
    ("444814009", "Viral sinusitis (disorder)"),
    ("10509002", "Acute bronchitis (disorder)"),
    ("15777000", "Prediabetes (finding)"),
    ("195662009", "Acute viral pharyngitis (disorder)"),
]
EVERYDAY_OBSERVATIONS = [
    ("8302-2", "Body Height", "cm", 150.0, 190.0),
    ("29463-7", "Body Weight", "kg", 50.0, 110.0),
    ("8480-6", "Systolic blood pressure", "mm[Hg]", 100.0, 160.0),
    ("2339-0", "Glucose [Mass/volume] in Blood", "mg/dL", 70.0, 140.0),
    ("72514-3", "Pain severity - 0-10 verbal numeric rating [Score] - Reported", "{score}",
     0.0, 6.0),
]


@dataclasses.dataclass(frozen=True)
class Test:
    date: str
    marker: str  # HER2, ER, PR
    loinc: str
    value: dict  # how the value is written: {"snomed": code, "display": ...} | {"text": ...}
    #              | {"quantity": n, "unit": ..., "comparator": ...} | {"interpretation": ...}
    canonical: str  # the result as the canonical registry writes it
    method: str  # the canonical method (the one the LOINC code implies, or Observation.method)
    fhir_method: str | None = None  # Observation.method text, when written


@dataclasses.dataclass(frozen=True)
class Evidence:
    """A fact of staging or metastatic disease, and how the sources write it."""

    date: str
    kind: str  # stage_group, m_category, site_observation, secondary_condition,
    #            cancer_modifier (OMOP; FHIR: a site observation), episode (OMOP only)
    value: str  # stage text, M text, site text, or the secondary malignancy SNOMED code
    site: str | None = None  # the canonical site it documents


@dataclasses.dataclass(frozen=True)
class BreastCancerPatient:
    name: str
    sex: str
    birth: str
    last_contact: str
    diagnosis_date: str
    diagnosis_code: tuple[str, str]  # (vocabulary, code): SNOMED 254837009, ICD10CM C50.x, ICDO3
    condition_stage: str | None  # Condition.stage summary (FHIR) as written
    stage: str  # the canonical stage_at_diagnosis
    metastatic_date: str | None  # the truth the adapters must find
    evidence: tuple[Evidence, ...]
    tests: tuple[Test, ...]
    treatments: tuple[tuple[str, str, str | None], ...]  # (drug key, start, end)
    her2_positive_metastatic: bool

    @property
    def patient_id(self) -> str:
        return patient_uuid(self.name)


def _cycles(drug: str, start: str, n: int, every: int = 21) -> list[tuple[str, str, None]]:
    day = dt.date.fromisoformat(start)
    return [(drug, (day + dt.timedelta(days=every * i)).isoformat(), None) for i in range(n)]


def _regimen(drugs: tuple[str, ...], start: str, n: int) -> list[tuple[str, str, None]]:
    return [row for drug in drugs for row in _cycles(drug, start, n)]


POSITIVE = {"snomed": "10828004", "display": "Positive (qualifier value)"}
NEGATIVE = {"snomed": "260385009", "display": "Negative (qualifier value)"}

BREAST_CANCER: tuple[BreastCancerPatient, ...] = (
    # de novo stage IV (stage group IVA, M1 and a liver site at diagnosis); Synthea's
    # HER2 results: IHC "Positive", FISH "greater than 2.2"; THP, then T-DXd
    BreastCancerPatient(
        name="bc-denovo", sex="F", birth="1962-04-18", last_contact="2025-11-03",
        diagnosis_date="2022-06-01", diagnosis_code=("SNOMED", "254837009"),
        condition_stage=None, stage="IV", metastatic_date="2022-06-01",
        evidence=(
            Evidence("2022-06-01", "stage_group", "IVA"),
            Evidence("2022-06-01", "m_category", "M1"),
            Evidence("2022-06-01", "site_observation", "Liver structure (body structure)",
                     "liver"),
        ),
        tests=(
            Test("2022-06-03", "HER2", "85319-2", POSITIVE, "Positive (qualifier value)", "IHC"),
            Test("2022-06-03", "HER2", "85318-4", {"text": "greater than 2.2"},
                 "greater than 2.2", "ISH"),
            Test("2022-06-03", "ER", "85337-4", NEGATIVE, "Negative (qualifier value)", "IHC"),
            Test("2022-06-03", "PR", "85339-0", NEGATIVE, "Negative (qualifier value)", "IHC"),
        ),
        treatments=tuple(
            _regimen(("docetaxel", "trastuzumab", "pertuzumab"), "2022-06-20", 6)
            + _regimen(("trastuzumab", "pertuzumab"), "2022-10-03", 7)
            + _cycles("t_dxd", "2023-04-10", 8)
            + [("lisinopril", "2022-01-10", "2023-01-10")]
        ),
        her2_positive_metastatic=True,
    ),
    # recurrence: ICD-10-CM coded, stage IIA on the Condition, IHC 2+ with an ISH ratio
    # of 2.6 (a quantity), adjuvant trastuzumab, bone metastasis as a Condition in 2021
    BreastCancerPatient(
        name="bc-recurrence", sex="F", birth="1958-09-30", last_contact="2025-10-20",
        diagnosis_date="2018-03-10", diagnosis_code=("ICD10CM", "C50.412"),
        condition_stage="Stage IIA", stage="II", metastatic_date="2021-09-15",
        evidence=(
            Evidence("2021-09-15", "secondary_condition", "94222008", "bone"),
        ),
        tests=(
            Test("2018-03-15", "HER2", "85319-2", {"text": "2+"}, "2+", "IHC"),
            Test("2018-03-15", "HER2", "85318-4", {"quantity": 2.6, "unit": "{ratio}"}, "2.6",
                 "ISH"),
            Test("2018-03-15", "ER", "85337-4", {"quantity": 90, "unit": "%"}, "90%", "IHC"),
            Test("2018-03-15", "PR", "16113-3", {"interpretation": "POS"}, "POS", "unknown"),
        ),
        treatments=tuple(
            _cycles("trastuzumab", "2018-05-07", 17)
            + _regimen(("paclitaxel", "trastuzumab", "pertuzumab"), "2021-10-04", 6)
            + [("letrozole", "2022-02-01", "2023-06-30")]
            + [("acetaminophen", "2021-09-20", "2021-10-20")]
        ),
        her2_positive_metastatic=True,
    ),
    # subcutaneous trastuzumab (RxNorm 2119714); HER2 as an interpretation (48676-1)
    # without a method; M1 written as AJCC cM1; a brain metastasis site
    BreastCancerPatient(
        name="bc-sc-trastuzumab", sex="F", birth="1970-01-12", last_contact="2025-09-01",
        diagnosis_date="2022-09-05", diagnosis_code=("SNOMED", "254837009"),
        condition_stage=None, stage="unknown", metastatic_date="2022-09-05",
        evidence=(
            Evidence("2022-09-05", "m_category", "cM1"),
            Evidence("2022-09-05", "site_observation", "Brain structure (body structure)",
                     "brain"),
        ),
        tests=(
            Test("2022-09-07", "HER2", "48676-1", {"text": "Positive"}, "Positive", "unknown"),
            Test("2022-09-07", "ER", "16112-5", {"text": "negative"}, "negative", "unknown"),
        ),
        treatments=tuple(
            _regimen(("trastuzumab_sc", "pertuzumab", "docetaxel"), "2022-09-26", 6)
        ),
        her2_positive_metastatic=True,
    ),
    # HER2-negative (Negative / "less than 1.8"), lung metastasis later: not in the cohort
    BreastCancerPatient(
        name="bc-her2-negative", sex="F", birth="1949-12-01", last_contact="2025-08-15",
        diagnosis_date="2020-01-10", diagnosis_code=("SNOMED", "254837009"),
        condition_stage=None, stage="III", metastatic_date="2023-02-01",
        evidence=(
            Evidence("2020-01-10", "stage_group", "IIIB"),
            Evidence("2023-02-01", "secondary_condition", "94391008", "lung"),
        ),
        tests=(
            Test("2020-01-14", "HER2", "85319-2", NEGATIVE, "Negative (qualifier value)", "IHC"),
            Test("2020-01-14", "HER2", "85318-4", {"text": "less than 1.8"}, "less than 1.8",
                 "ISH"),
            Test("2020-01-14", "ER", "85337-4", POSITIVE, "Positive (qualifier value)", "IHC"),
        ),
        treatments=tuple([("capecitabine", "2023-02-20", "2023-08-20")]
                         + [("simvastatin", "2019-05-01", "2024-05-01")]),
        her2_positive_metastatic=False,
    ),
    # HER2-positive, stage IIB, M0 and no metastasis site: never metastatic
    BreastCancerPatient(
        name="bc-early", sex="F", birth="1975-07-22", last_contact="2025-12-10",
        diagnosis_date="2021-05-05", diagnosis_code=("SNOMED", "254837009"),
        condition_stage=None, stage="II", metastatic_date=None,
        evidence=(
            Evidence("2021-05-05", "stage_group", "IIB"),
            Evidence("2021-05-05", "m_category", "M0"),
            Evidence("2021-05-05", "site_observation", "None (qualifier value)"),
        ),
        tests=(
            Test("2021-05-07", "HER2", "85319-2", POSITIVE, "Positive (qualifier value)", "IHC"),
        ),
        treatments=tuple(_cycles("trastuzumab", "2021-06-14", 17)),
        her2_positive_metastatic=False,
    ),
    # ICD-10-CM, stage IIIA on the Condition; IHC 2+ and ISH ">= 2.0" (method FISH);
    # stage IV documented in November 2022; tucatinib, capecitabine, trastuzumab; a
    # study drug no vocabulary knows; everyday drugs
    BreastCancerPatient(
        name="bc-stage-iv-later", sex="F", birth="1966-02-14", last_contact="2025-07-30",
        diagnosis_date="2019-08-19", diagnosis_code=("ICD10CM", "C50.911"),
        condition_stage="IIIA", stage="III", metastatic_date="2022-11-20",
        evidence=(Evidence("2022-11-20", "stage_group", "Stage IV"),),
        tests=(
            Test("2019-08-21", "HER2", "85319-2", {"text": "2+"}, "2+", "IHC"),
            Test("2019-08-21", "HER2", "85318-4", {"text": ">= 2.0"}, ">= 2.0", "ISH", "FISH"),
            Test("2019-08-21", "ER", "85337-4", NEGATIVE, "Negative (qualifier value)", "IHC"),
        ),
        treatments=tuple(
            [("tucatinib", "2022-12-05", "2023-08-31"),
             ("capecitabine", "2022-12-05", "2023-08-31")]
            + _cycles("trastuzumab", "2022-12-05", 13)
            + [("study_drug", "2023-10-02", None), ("study_drug", "2023-10-23", None)]
            + [("lisinopril", "2020-03-01", "2024-03-01"), ("acetaminophen", "2023-01-05", None)]
        ),
        her2_positive_metastatic=True,
    ),
    # ICD-O-3 coded (8500/3-C50.4); IHC 3+; a bone metastasis written as the oncology
    # extension writes it (Cancer Modifier concept; a metastatic-disease episode); T-DM1
    BreastCancerPatient(
        name="bc-icdo3", sex="F", birth="1955-05-05", last_contact="2025-06-01",
        diagnosis_date="2017-02-02", diagnosis_code=("ICDO3", "8500/3-C50.4"),
        condition_stage=None, stage="unknown", metastatic_date="2023-01-15",
        evidence=(
            Evidence("2023-01-15", "cancer_modifier", "Metastasis to bone", "bone"),
            Evidence("2023-01-15", "episode", "Metastatic Disease"),
        ),
        tests=(Test("2017-02-06", "HER2", "85319-2", {"text": "3+"}, "3+", "IHC"),),
        treatments=tuple(_cycles("kadcyla", "2023-02-06", 6)),
        her2_positive_metastatic=True,
    ),
)


@dataclasses.dataclass(frozen=True)
class OtherPerson:
    """Anyone else: everyday conditions, observations and drugs; some have another
    cancer (colon, with chemotherapy), one a breast cancer diagnosis later refuted."""

    patient_id: str
    sex: str
    birth: str
    conditions: tuple[tuple[str, str, str], ...]  # (date, snomed, display)
    observations: tuple[tuple[str, str, str, str, float], ...]  # (date, loinc, display, unit, v)
    drugs: tuple[tuple[str, str, str | None], ...]
    refuted_breast_cancer: str | None = None  # date of a refuted breast cancer Condition


def others(n: int, seed: int) -> list[OtherPerson]:
    rng = random.Random(seed)
    people = []
    for i in range(n):
        birth = dt.date(1930, 1, 1) + dt.timedelta(days=rng.randrange(0, 70 * 365))
        day = lambda: (dt.date(2015, 1, 1) + dt.timedelta(days=rng.randrange(0, 3650))).isoformat()  # noqa: E731
        conditions = [(day(), *rng.choice(EVERYDAY_CONDITIONS)) for _ in range(rng.randint(1, 4))]
        drugs = [(rng.choice(EVERYDAY_DRUGS), day(), None) for _ in range(rng.randint(1, 4))]
        if i % 97 == 5:  # colon cancer with oxaliplatin
            start = day()
            conditions.append((start, "93761005", "Primary malignant neoplasm of colon"))
            drugs += _cycles("oxaliplatin", start, 4, every=14)
        observations = []
        for _ in range(rng.randint(3, 8)):
            loinc, display, unit, low, high = rng.choice(EVERYDAY_OBSERVATIONS)
            observations.append((day(), loinc, display, unit, round(rng.uniform(low, high), 1)))
        people.append(OtherPerson(
            patient_id=str(uuid.UUID(int=rng.getrandbits(128))),
            sex=rng.choice("FFM"),
            birth=birth.isoformat(),
            conditions=tuple(sorted(conditions)),
            observations=tuple(sorted(observations)),
            drugs=tuple(sorted(drugs, key=lambda d: (d[1], d[0]))),
            refuted_breast_cancer=day() if i == 11 else None,
        ))
    return people


# ------------------------------------------------------------------- canonical registry


def _write(path: Path, header: list[str], rows: list[list]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


def write_canonical(folder: Path, source: str) -> Path:
    """The breast cancer patients as the canonical registry writes them: what the
    adapter of `source` (`fhir` or `omop`) must stage. Drugs are named as that source
    names them (FHIR: the product's display; OMOP: the ingredients its vocabulary
    resolves the product to, those the drug vocabulary knows); everyday drugs, out of
    scope, are not written."""
    from her2audit.sources import mapping

    folder.mkdir(parents=True, exist_ok=True)
    patients, diagnoses, biomarkers, metastases, treatments = [], [], [], [], []
    terms, _codes = mapping.known_drug_terms()
    for p in BREAST_CANCER:
        # FHIR has no element for the last contact; OMOP's is the observation period's end
        last_contact = p.last_contact if source == "omop" else ""
        patients.append([p.patient_id, "", p.birth, p.sex, "", last_contact])
        diagnoses.append([p.patient_id, p.diagnosis_date, p.stage, p.metastatic_date or ""])
        for t in p.tests:
            biomarkers.append([p.patient_id, t.date, t.marker, t.method, t.canonical])
        for e in p.evidence:
            if e.site:
                metastases.append([p.patient_id, e.date, e.site])
        for key, start, end in p.treatments:
            drug = DRUGS[key]
            if not drug.oncology:
                continue
            if source == "fhir" or not drug.ingredients:
                names = [drug.display]
            else:
                known = [i for i in drug.ingredients
                         if any(f" {t} " in f" {' '.join(i.replace('-', ' ').split())} "
                                for t in terms)]
                names = known or list(drug.ingredients)
            for name in names:
                treatments.append(["", p.patient_id, name, "", "", start, end or "", "", ""])
    _write(folder / "patients.csv",
           ["patient_id", "site_id", "birth_date", "sex", "death_date", "last_contact_date"],
           patients)
    _write(folder / "diagnoses.csv",
           ["patient_id", "diagnosis_date", "stage_at_diagnosis", "metastatic_date"], diagnoses)
    _write(folder / "biomarkers.csv", ["patient_id", "test_date", "marker", "method", "result"],
           biomarkers)
    _write(folder / "metastases.csv", ["patient_id", "diagnosis_date", "site"], metastases)
    _write(folder / "treatments.csv",
           ["record_id", "patient_id", "drug", "drug_code", "code_system", "start_date",
            "end_date", "setting", "route"], treatments)
    return folder
