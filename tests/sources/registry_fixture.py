"""A small canonical registry written by hand (plus a seeded generator for a few hundred
patients), used by the adapter round-trip tests until `her2audit.synth` is available."""

from __future__ import annotations

import csv
import datetime as dt
import random
from pathlib import Path

PATIENTS = ["patient_id", "site_id", "birth_date", "sex", "death_date", "last_contact_date"]
DIAGNOSES = ["patient_id", "diagnosis_date", "stage_at_diagnosis", "metastatic_date"]
BIOMARKERS = ["patient_id", "test_date", "marker", "method", "result"]
METASTASES = ["patient_id", "diagnosis_date", "site"]
TREATMENTS = ["record_id", "patient_id", "drug", "drug_code", "code_system", "start_date",
              "end_date", "setting", "route"]

# Hand-written: every kind of fact the adapters carry.
HAND = {
    "patients": [
        ["P001", "site_a", "1960-03-14", "F", "", "2024-06-30"],
        ["P002", "site_b", "1955-11-02", "F", "2023-02-10", ""],
        ["P003", "site_a", "1970-01-20", "F", "", "2024-05-01"],
        ["P004", "", "1948-07-07", "M", "", "2024-01-15"],
        ["P005", "site_b", "", "U", "", ""],
    ],
    "diagnoses": [
        ["P001", "2018-04-10", "II", "2020-09-01"],
        ["P002", "2019-01-15", "IV", "2019-01-15"],
        ["P003", "2016-06-01", "III", "2021-03-03"],
        ["P004", "2020-02-02", "unknown", "2020-12-12"],
        ["P005", "2021-05-05", "I", ""],
    ],
    "biomarkers": [
        ["P001", "2018-04-12", "HER2", "IHC", "3+"],
        ["P001", "2018-04-12", "ER", "IHC", "80%"],
        ["P001", "2018-04-12", "PR", "IHC", "negative"],
        ["P002", "2019-01-20", "HER2", "IHC", "2+"],
        ["P002", "2019-01-20", "HER2", "ISH", "amplified"],
        ["P002", "2019-01-20", "ER", "IHC", "negative"],
        ["P003", "2016-06-05", "HER2", "", "positive"],
        ["P003", "2016-06-05", "PR", "IHC", "5%"],
        ["P004", "2020-02-10", "HER2", "ISH", "amplified"],
        ["P005", "2021-05-10", "HER2", "IHC", "1+"],
    ],
    "metastases": [
        ["P001", "2020-09-01", "bone"],
        ["P001", "2022-01-10", "brain"],
        ["P002", "2019-01-15", "liver"],
        ["P003", "2021-03-03", "leptomeningeal"],
        ["P003", "2021-03-03", "lung"],
        ["P004", "2020-12-12", "lymph_node"],
    ],
    "treatments": [
        ["T1", "P001", "docetaxel", "", "", "2020-09-10", "", "metastatic", "IV"],
        ["T2", "P001", "Herceptin", "224905", "rxnorm", "2020-09-10", "", "metastatic", "IV"],
        ["T3", "P001", "pertuzumab", "", "", "2020-09-10", "", "metastatic", "IV"],
        ["T4", "P001", "trastuzumab", "", "", "2020-10-01", "", "metastatic", "IV"],
        ["T5", "P001", "Enhertu", "", "", "2022-02-01", "", "metastatic", "IV"],
        ["T6", "P001", "tucatinib", "", "", "2023-03-01", "2023-09-01", "metastatic", "oral"],
        ["T7", "P001", "capecitabine", "", "", "2023-03-01", "2023-09-01", "metastatic", "oral"],
        ["T8", "P002", "paclitaxel", "", "", "2019-02-01", "", "", "IV"],
        ["T9", "P002", "trastuzumab", "", "", "2019-02-01", "", "", "IV"],
        ["T10", "P003", "trastuzumab", "", "", "2016-07-01", "", "adjuvant", "IV"],
        ["T11", "P003", "Kadcyla", "", "", "2021-04-01", "", "metastatic", "IV"],
        ["T12", "P004", "Phesgo", "", "", "2021-01-05", "", "metastatic", "SC"],
        ["T13", "P004", "letrozole", "", "", "2021-06-01", "2022-06-01", "metastatic", "oral"],
    ],
}


def _write(folder: Path, name: str, header: list[str], rows: list[list[str]]) -> None:
    with open(folder / f"{name}.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


def write_hand_registry(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, header in (("patients", PATIENTS), ("diagnoses", DIAGNOSES),
                         ("biomarkers", BIOMARKERS), ("metastases", METASTASES),
                         ("treatments", TREATMENTS)):
        _write(folder, name, header, HAND[name])
    return folder


DRUG_SPELLINGS = [
    ("docetaxel", "IV"), ("paclitaxel", "IV"), ("trastuzumab", "IV"), ("Herceptin", "IV"),
    ("pertuzumab", "IV"), ("Phesgo", "SC"), ("trastuzumab deruxtecan", "IV"),
    ("Kadcyla", "IV"), ("capecitabine", "oral"), ("tucatinib", "oral"), ("lapatinib", "oral"),
    ("letrozole", "oral"), ("zoledronic acid", "IV"), ("vinorelbine", "IV"),
]


def write_random_registry(folder: Path, patients: int, seed: int) -> Path:
    """A seeded registry of `patients` patients with plausible, valid rows."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    rows: dict[str, list[list[str]]] = {k: [] for k in HAND}
    sites = ["s01", "s02", "s03", "s04"]
    sites_met = ["brain", "leptomeningeal", "bone", "liver", "lung", "lymph_node", "pleura",
                 "skin", "other"]
    record = 0
    for i in range(patients):
        pid = f"R{i:05d}"
        birth = dt.date(1940, 1, 1) + dt.timedelta(days=rng.randrange(0, 40 * 365))
        dx = dt.date(2012, 1, 1) + dt.timedelta(days=rng.randrange(0, 9 * 365))
        metastatic = rng.random() < 0.8
        delay = rng.choice([0, rng.randrange(120, 2000)])
        met = dx + dt.timedelta(days=delay) if metastatic else None
        dead = met is not None and rng.random() < 0.4
        death = met + dt.timedelta(days=rng.randrange(200, 2500)) if dead else None
        last = (death or dt.date(2025, 6, 30)) if rng.random() < 0.9 else None
        rows["patients"].append([
            pid, rng.choice(sites + [""]), birth.isoformat(), rng.choice("FFFFFFFMU"),
            death.isoformat() if death else "", last.isoformat() if last and not death else "",
        ])
        rows["diagnoses"].append([
            pid, dx.isoformat(), rng.choice(["I", "II", "III", "IV", "unknown", ""]),
            met.isoformat() if met else "",
        ])
        test = dx + dt.timedelta(days=rng.randrange(0, 20))
        score = rng.choice(["3+", "3+", "2+", "1+", "0"])
        rows["biomarkers"].append([pid, test.isoformat(), "HER2", "IHC", score])
        if score == "2+":
            rows["biomarkers"].append([pid, test.isoformat(), "HER2", "ISH",
                                       rng.choice(["amplified", "not amplified"])])
        er = rng.choice(["positive", "negative", f"{rng.randrange(0, 101)}%"])
        rows["biomarkers"].append([pid, test.isoformat(), "ER", "IHC", er])
        rows["biomarkers"].append([pid, test.isoformat(), "PR", "IHC",
                                   rng.choice(["positive", "negative"])])
        if met is None:
            continue
        for site in rng.sample(sites_met, rng.randrange(0, 3)):
            rows["metastases"].append(
                [pid, (met + dt.timedelta(days=rng.randrange(0, 400))).isoformat(), site])
        start = met + dt.timedelta(days=rng.randrange(5, 40))
        for _ in range(rng.randrange(0, 4)):
            regimen = rng.sample(DRUG_SPELLINGS, rng.randrange(1, 4))
            for _ in range(rng.randrange(1, 6)):
                for drug, route in regimen:
                    record += 1
                    oral = route == "oral"
                    end = start + dt.timedelta(days=rng.randrange(20, 120)) if oral else None
                    rows["treatments"].append([
                        f"X{record}", pid, drug, "", "", start.isoformat(),
                        end.isoformat() if end else "", "metastatic", route,
                    ])
                start += dt.timedelta(days=21)
            start += dt.timedelta(days=rng.randrange(30, 200))
    for name, header in (("patients", PATIENTS), ("diagnoses", DIAGNOSES),
                         ("biomarkers", BIOMARKERS), ("metastases", METASTASES),
                         ("treatments", TREATMENTS)):
        _write(folder, name, header, rows[name])
    return folder
