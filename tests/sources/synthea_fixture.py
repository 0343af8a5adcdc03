"""The population of `population_fixture` as a Synthea-style FHIR R4 export.

`write_fhir_export(folder, shape="bundles")` writes one transaction Bundle per patient
(`Given_Family_<uuid>.json`), every entry with a `urn:uuid:` fullUrl and every
reference in that form, as Synthea does; `shape="ndjson"` writes the same resources as a
bulk export (`Patient.ndjson`, … with `Type/id` references). Drugs are MedicationRequests
coded in RxNorm with the clinical-drug names Synthea writes; one patient's drugs are
Medication resources referenced by `medicationReference`. Encounters and Claims are
written too (resource types the audit does not read).
"""

from __future__ import annotations

import json
import random
import uuid
from pathlib import Path

from population_fixture import (
    BREAST_CANCER,
    DRUGS,
    BreastCancerPatient,
    OtherPerson,
    others,
)

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
ICDO3 = "http://terminology.hl7.org/CodeSystem/icd-o-3"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
AJCC = "http://cancerstaging.org"
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
CONDITION_SYSTEMS = {"SNOMED": SNOMED, "ICD10CM": ICD10CM, "ICDO3": ICDO3}
# the patient whose drugs are Medication resources referenced by medicationReference
BY_REFERENCE = "bc-stage-iv-later"


class _Writer:
    """Collects one patient's resources with deterministic ids."""

    def __init__(self, rng: random.Random, bundles: bool):
        self.rng = rng
        self.bundles = bundles
        self.resources: list[dict] = []

    def new_id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128)))

    def ref(self, resource: dict) -> dict:
        if self.bundles:
            return {"reference": f"urn:uuid:{resource['id']}"}
        return {"reference": f"{resource['resourceType']}/{resource['id']}"}

    def add(self, resource: dict) -> dict:
        resource.setdefault("id", self.new_id())
        self.resources.append(resource)
        return resource


def _patient(w: _Writer, patient_id: str, sex: str, birth: str) -> dict:
    return w.add({
        "resourceType": "Patient", "id": patient_id,
        "identifier": [{"system": "https://github.com/synthetichealth/synthea",
                        "value": patient_id}],
        "name": [{"use": "official", "family": "Doe" + patient_id[:4], "given": ["Pat"]}],
        "gender": {"F": "female", "M": "male"}[sex], "birthDate": birth,
    })


def _encounter(w: _Writer, patient: dict, day: str) -> dict:
    encounter = w.add({
        "resourceType": "Encounter", "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "type": [{"coding": [{"system": SNOMED, "code": "185349003",
                              "display": "Encounter for check up (procedure)"}]}],
        "subject": w.ref(patient), "period": {"start": f"{day}T09:00:00-05:00",
                                              "end": f"{day}T09:30:00-05:00"},
    })
    w.add({"resourceType": "Claim", "status": "active", "patient": w.ref(patient),
           "created": f"{day}T09:30:00-05:00"})
    return encounter


def _condition(w: _Writer, patient: dict, day: str, system: str, code: str, display: str,
               verification: str = "confirmed", stage: str | None = None) -> dict:
    resource = {
        "resourceType": "Condition",
        "clinicalStatus": {"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
            "code": "active"}]},
        "verificationStatus": {"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
            "code": verification}]},
        "category": [{"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/condition-category",
            "code": "encounter-diagnosis"}]}],
        "code": {"coding": [{"system": system, "code": code, "display": display}],
                 "text": display},
        "subject": w.ref(patient),
        "encounter": w.ref(_encounter(w, patient, day)),
        "onsetDateTime": f"{day}T10:00:00-05:00",
        "recordedDate": f"{day}T10:00:00-05:00",
    }
    if stage:
        resource["stage"] = [{"summary": {"text": stage}}]
    return w.add(resource)


def _observation(w: _Writer, patient: dict, day: str, loinc: str, display: str,
                 category: str, value: dict) -> dict:
    return w.add({
        "resourceType": "Observation", "status": "final",
        "category": [{"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/observation-category",
            "code": category}]}],
        "code": {"coding": [{"system": LOINC, "code": loinc, "display": display}],
                 "text": display},
        "subject": w.ref(patient),
        "effectiveDateTime": f"{day}T11:00:00-05:00",
        "issued": f"{day}T11:00:00.000-05:00",
        **value,
    })


def _test_value(value: dict) -> dict:
    if "snomed" in value:
        return {"valueCodeableConcept": {"coding": [{"system": SNOMED, "code": value["snomed"],
                                                     "display": value["display"]}],
                                         "text": value["display"]}}
    if "quantity" in value:
        return {"valueQuantity": {"value": value["quantity"], "unit": value["unit"],
                                  "system": "http://unitsofmeasure.org", "code": value["unit"]}}
    if "interpretation" in value:
        return {"interpretation": [{"coding": [{"system": INTERPRETATION,
                                                "code": value["interpretation"]}]}]}
    if value["text"][:1].isalpha() and " " not in value["text"]:
        return {"valueCodeableConcept": {"text": value["text"]}}
    return {"valueString": value["text"]}


def _evidence(w: _Writer, patient: dict, e) -> None:
    if e.kind == "stage_group":
        value = {"text": e.value}
        if e.value == "IVA":  # AJCC code 4A, as mCODE-derived Synthea data writes it
            value = {"coding": [{"system": AJCC, "code": "4A", "display": "IVA"}]}
        _observation(w, patient, e.date, "21908-9", "Stage group.clinical Cancer", "survey",
                     {"valueCodeableConcept": value})
    elif e.kind == "m_category":
        value = {
            "M1": {"coding": [{"system": SNOMED, "code": "55440008",
                               "display": "M1 category (finding)"}]},
            "M0": {"coding": [{"system": SNOMED, "code": "30893008",
                               "display": "M0 category (finding)"}]},
        }.get(e.value, {"coding": [{"system": AJCC, "code": e.value}], "text": e.value})
        _observation(w, patient, e.date, "21907-1",
                     "Distant metastases.clinical [Class] Cancer", "imaging",
                     {"valueCodeableConcept": value})
    elif e.kind in ("site_observation", "cancer_modifier"):
        _observation(w, patient, e.date, "44667-4",
                     "Site of distant metastasis in Breast tumor", "imaging",
                     {"valueCodeableConcept": {"text": e.value}})
    elif e.kind == "secondary_condition":
        _condition(w, patient, e.date, SNOMED, e.value,
                   f"Secondary malignant neoplasm ({e.site})")
    # an oncology-extension episode has no FHIR resource of its own


def _medication(w: _Writer, patient: dict, key: str, start: str, end: str | None,
                reason: dict | None, by_reference: bool) -> None:
    drug = DRUGS[key]
    concept = ({"coding": [{"system": RXNORM, "code": drug.rxnorm, "display": drug.display}],
                "text": drug.display} if drug.rxnorm else {"text": drug.display})
    resource = {
        "resourceType": "MedicationRequest", "status": "stopped" if end else "completed",
        "intent": "order", "subject": w.ref(patient),
        "encounter": w.ref(_encounter(w, patient, start)),
        "authoredOn": f"{start}T10:30:00-05:00",
    }
    if by_reference:
        medication = w.add({"resourceType": "Medication", "status": "active", "code": concept})
        resource["medicationReference"] = w.ref(medication)
    else:
        resource["medicationCodeableConcept"] = concept
    if end:
        resource["dosageInstruction"] = [{"timing": {"repeat": {"boundsPeriod": {
            "start": start, "end": end}}}}]
    if reason is not None:
        resource["reasonReference"] = [w.ref(reason)]
    w.add(resource)


def _breast_cancer_patient(w: _Writer, p: BreastCancerPatient) -> None:
    patient = _patient(w, p.patient_id, p.sex, p.birth)
    vocabulary, code = p.diagnosis_code
    diagnosis = _condition(w, patient, p.diagnosis_date, CONDITION_SYSTEMS[vocabulary], code,
                           "Malignant neoplasm of breast (disorder)", stage=p.condition_stage)
    _condition(w, patient, "2012-04-01", SNOMED, "59621000", "Essential hypertension (disorder)")
    _observation(w, patient, p.diagnosis_date, "29463-7", "Body Weight", "vital-signs",
                 {"valueQuantity": {"value": 68.2, "unit": "kg"}})
    for e in p.evidence:
        _evidence(w, patient, e)
    for t in p.tests:
        value = _test_value(t.value)
        if t.fhir_method:
            value["method"] = {"text": t.fhir_method}
        _observation(w, patient, t.date, t.loinc, f"{t.marker} test", "laboratory", value)
    for key, start, end in p.treatments:
        drug = DRUGS[key]
        # Synthea gives cancer drugs the breast cancer as reason; everyday drugs none
        reason = diagnosis if drug.oncology else None
        _medication(w, patient, key, start, end, reason, by_reference=p.name == BY_REFERENCE)


def _other_person(w: _Writer, o: OtherPerson) -> None:
    patient = _patient(w, o.patient_id, o.sex, o.birth)
    for day, code, display in o.conditions:
        _condition(w, patient, day, SNOMED, code, display)
    if o.refuted_breast_cancer:
        _condition(w, patient, o.refuted_breast_cancer, SNOMED, "254837009",
                   "Malignant neoplasm of breast (disorder)", verification="refuted")
    for day, loinc, display, unit, value in o.observations:
        _observation(w, patient, day, loinc, display, "vital-signs",
                     {"valueQuantity": {"value": value, "unit": unit}})
    for key, start, end in o.drugs:
        _medication(w, patient, key, start, end, None, by_reference=False)


def write_fhir_export(folder: Path, shape: str = "bundles", n_others: int = 293,
                      seed: int = 2024) -> Path:
    """Write the population as Bundles (one per patient) or as bulk NDJSON."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    people: list[tuple[str, list[dict]]] = []
    for p in BREAST_CANCER:
        w = _Writer(rng, shape == "bundles")
        _breast_cancer_patient(w, p)
        people.append((p.patient_id, w.resources))
    for o in others(n_others, seed):
        w = _Writer(rng, shape == "bundles")
        _other_person(w, o)
        people.append((o.patient_id, w.resources))
    if shape == "bundles":
        for patient_id, resources in people:
            bundle = {
                "resourceType": "Bundle", "type": "transaction",
                "entry": [{"fullUrl": f"urn:uuid:{r['id']}", "resource": r,
                           "request": {"method": "POST", "url": r["resourceType"]}}
                          for r in resources],
            }
            name = f"Pat{patient_id[:4]}_Doe{patient_id[4:8]}_{patient_id}.json"
            (folder / name).write_text(json.dumps(bundle, indent=1), encoding="utf-8")
    else:
        by_type: dict[str, list[str]] = {}
        for _, resources in people:
            for r in resources:
                by_type.setdefault(r["resourceType"], []).append(json.dumps(r))
        for rtype, lines in by_type.items():
            (folder / f"{rtype}.ndjson").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder
