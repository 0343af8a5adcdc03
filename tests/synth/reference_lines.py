"""A deliberately plain, per-patient reading of SPEC §4 used only by the tests to check that
the synthetic truth is what the line rules give on the emitted rows. It reads the
registry files as a user would (no generator internals) and maps drug names with
truth/drug_names.csv."""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path

import pandas as pd

SUBSTITUTION = {"docetaxel": "taxane", "paclitaxel": "taxane", "nab-paclitaxel": "taxane",
                "letrozole": "aromatase_inhibitor", "anastrozole": "aromatase_inhibitor"}


def _date(text: str) -> dt.date | None:
    if not isinstance(text, str) or not text.strip():
        return None
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        return None


def load_administrations(registry: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Metastatic-setting, line-forming administrations of cohort patients (one row per
    ingredient), and the truth patients table."""
    read = {"dtype": str, "keep_default_na": False}
    patients = pd.read_csv(registry / "patients.csv", **read)
    diagnoses = pd.read_csv(registry / "diagnoses.csv", **read)
    tr = pd.read_csv(registry / "treatments.csv", **read)
    names = pd.read_csv(registry / "truth" / "drug_names.csv", **read)
    truth_patients = pd.read_csv(registry / "truth" / "patients.csv", **read)
    good = patients[patients["birth_date"].map(lambda s: s == "" or _date(s) is not None)]
    cohort = set(truth_patients.loc[truth_patients["in_cohort"] == "true", "patient_id"])
    cohort &= set(good["patient_id"])
    met = dict(zip(diagnoses["patient_id"], diagnoses["metastatic_date"].map(_date),
                   strict=True))
    tr = tr.drop_duplicates()
    tr = tr[tr["patient_id"].isin(cohort)].copy()
    tr["start"] = tr["start_date"].map(_date)
    tr["end"] = tr["end_date"].map(_date)
    tr = tr[tr["start"].notna() & ~((tr["end_date"] != "") & tr["end"].isna())]
    tr = tr[tr["end"].isna() | (tr["end"] >= tr["start"])]
    key = tr["drug"].str.strip().str.lower().str.replace(r"\s+", " ", regex=True)
    names["key"] = names["drug"].str.lower()
    lookup = names.drop_duplicates("key").set_index("key")
    tr["ingredients"] = key.map(lookup["ingredients"])
    tr["classes"] = key.map(lookup["drug_class"])
    tr = tr[tr["ingredients"].notna() & (tr["ingredients"] != "")]
    tr = tr[tr["classes"] != "supportive"]
    index_from = tr["patient_id"].map(met) - dt.timedelta(days=30)
    metastatic = (tr["start"] >= index_from) & ~tr["setting"].str.strip().str.lower().isin(
        ["neoadjuvant", "adjuvant"])
    tr = tr[metastatic].copy()
    tr["ingredient"] = tr["ingredients"].str.split(" + ", regex=False)
    tr = tr.explode("ingredient")
    cls = dict(zip(names["ingredients"], names["drug_class"], strict=False))
    tr["class"] = tr["ingredient"].map(cls)
    tr["last"] = tr[["start", "end"]].max(axis=1)
    tr.loc[tr["end"].isna(), "last"] = tr.loc[tr["end"].isna(), "start"]
    return tr[["patient_id", "ingredient", "class", "start", "last"]], truth_patients


def infer_lines(adm: pd.DataFrame, window: int = 28, max_gap: int = 120) -> pd.DataFrame:
    """SPEC §4 rules 1-6, one patient at a time, same-day administrations together."""
    out = []
    adm = adm.sort_values(["patient_id", "start"], kind="stable")
    records = zip(adm["patient_id"], adm["start"], adm["ingredient"], adm["class"],
                  adm["last"], strict=True)
    for pid, rows in itertools.groupby(records, key=lambda r: r[0]):
        lines: list[dict] = []
        cur: dict | None = None
        for day, same_iter in itertools.groupby(rows, key=lambda r: r[1]):
            same = list(same_iter)
            last = max(r[4] for r in same)
            new = cur is None or (day - cur["max_end"]).days > max_gap
            maint = False
            if not new and (day - cur["start"]).days > window:
                groups = {SUBSTITUTION.get(i, i) for i in cur["regimen"]}
                hp = bool(cur["regimen"] & {"trastuzumab", "pertuzumab"})
                for _, _, ing, cls, _ in same:
                    if ing in cur["regimen"] or SUBSTITUTION.get(ing, ing) in groups:
                        continue
                    if hp and cls in ("endocrine", "cdk46_inhibitor"):
                        maint = True
                        continue
                    new = True
            if not new and maint:
                cur["maint"] = True
            if new:
                cur = {"start": day, "regimen": set(), "max_end": last, "maint": False}
                lines.append(cur)
            if (day - cur["start"]).days <= window:
                cur["regimen"].update(r[2] for r in same)
            cur["max_end"] = max(cur["max_end"], last)
        for k, line in enumerate(lines, start=1):
            out.append({"patient_id": pid, "line_number": k, "start_date": line["start"],
                        "end_date": line["max_end"],
                        "ingredients": " + ".join(sorted(line["regimen"])),
                        "has_maintenance_addition": line["maint"]})
    return pd.DataFrame(out)
