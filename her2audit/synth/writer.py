"""Write the synthetic registry (canonical CSV or Parquet, SPEC §2 column names) and its
ground truth (DIR/truth/*.csv). All formatting is vectorised with pyarrow."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from her2audit.synth import generator as g
from her2audit.synth import model as m
from her2audit.synth.assemble import ATC_LIST, BAD_DATES

TABLES = ("patients", "diagnoses", "biomarkers", "metastases", "treatments", "progressions")


def _dates(days: np.ndarray, nullable: bool = True) -> pa.Array:
    """Days since 1970-01-01 -> ISO text; -1 means empty unless `nullable` is False
    (birth dates before 1970 are negative)."""
    days = np.asarray(days, dtype=np.int64)
    missing = (days == -1) if nullable else np.zeros(len(days), dtype=bool)
    arr = pa.array(np.where(missing, 0, days).astype(np.int32), type=pa.date32(),
                   mask=missing)
    return pc.cast(arr, pa.string())


def _ids(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    text = pc.cast(pa.array(np.asarray(numbers, dtype=np.int64)), pa.string())
    return pc.binary_join_element_wise(prefix, pc.utf8_lpad(text, width, "0"), "")


def _text(values: np.ndarray) -> pa.Array:
    """Object array of str (empty string or None = missing) -> string array with nulls."""
    arr = pa.array(values, type=pa.string(), from_pandas=True)
    return pc.if_else(pc.equal(arr, ""), pa.scalar(None, pa.string()), arr)


def _bool(values: np.ndarray) -> pa.Array:
    return pa.array(np.where(np.asarray(values, dtype=bool), "true", "false"))


def _lookup(texts: list[str], codes: np.ndarray) -> pa.Array:
    arr = pc.take(pa.array(texts, type=pa.string()), pa.array(np.asarray(codes, np.int64)))
    return pc.if_else(pc.equal(arr, ""), pa.scalar(None, pa.string()), arr)


class Formatter:
    def __init__(self, n_patients: int):
        self.width = max(7, len(str(n_patients + 2_000_000)))

    def pid(self, idx: np.ndarray) -> pa.Array:
        return _ids("P", idx, self.width)

    def registry(self, tables: dict) -> dict[str, pa.Table]:
        p, d = tables["patients"], tables["diagnoses"]
        birth = _dates(p["birth"], nullable=False)
        broken = np.array([t is not None for t in p["birth_text"]])
        if broken.any():
            birth = pc.if_else(pa.array(broken), _text(p["birth_text"]), birth)
        out = {
            "patients": pa.table({
                "patient_id": self.pid(p["patient"]), "site_id": _text(p["site_id"]),
                "birth_date": birth, "sex": _text(p["sex"]),
                "death_date": _dates(p["death"]),
                "last_contact_date": _dates(p["last_contact"]),
            }),
            "diagnoses": pa.table({
                "patient_id": self.pid(d["patient"]), "diagnosis_date": _dates(d["dx"]),
                "stage_at_diagnosis": _text(d["stage"]), "metastatic_date": _dates(d["met"]),
            }),
        }
        b = tables["biomarkers"]
        order = np.lexsort((b["marker"].astype(str), b["test_date"], b["patient"]))
        out["biomarkers"] = pa.table({
            "patient_id": self.pid(b["patient"][order]),
            "test_date": _dates(b["test_date"][order]),
            "marker": _text(b["marker"][order]), "method": _text(b["method"][order]),
            "result": _text(b["result"][order]),
        })
        mt = tables["metastases"]
        out["metastases"] = pa.table({
            "patient_id": self.pid(mt["patient"]), "diagnosis_date": _dates(mt["date"]),
            "site": _text(mt["site"]),
        })
        pr = tables["progressions"]
        out["progressions"] = pa.table({
            "patient_id": self.pid(pr["patient"]), "progression_date": _dates(pr["date"]),
            "type": _text(pr["type"]),
        })
        return out

    def treatment_batches(self, t: dict, size: int = 500_000) -> Iterator[pa.Table]:
        """The treatments table in slices (keeps the text columns small in memory)."""
        n = len(t["patient"])
        for lo in range(0, max(n, 1), size):
            yield self.treatments({k: v[lo:lo + size] for k, v in t.items()})

    def treatments(self, t: dict) -> pa.Table:
        variants = g.spelling_variants()
        drug = _lookup(variants, t["spell"].astype(np.int64) * g.N_VARIANTS + t["variant"])
        start = _dates(t["start"])
        bad = t["bad_start"] > 0
        if bad.any():
            years = 1970 + (t["start"][bad] / 365.25).astype(int)
            texts = np.full(len(bad), None, dtype=object)
            texts[bad] = [BAD_DATES[k - 1].format(y=y) for k, y in
                          zip(t["bad_start"][bad], years, strict=True)]
            start = pc.if_else(pa.array(bad), pa.array(texts, type=pa.string()), start)
        rid = t["record_id"]
        record_id = pc.if_else(pa.array(rid < 0), pa.scalar(None, pa.string()),
                               _ids("R", np.maximum(rid, 0), 9))
        code = _lookup(ATC_LIST, t["code"])
        return pa.table({
            "record_id": record_id,
            "patient_id": self.pid(t["patient"]),
            "drug": drug,
            "drug_code": code,
            "code_system": pc.if_else(pc.is_null(code), pa.scalar(None, pa.string()), "atc"),
            "start_date": start,
            "end_date": _dates(t["end"]),
            "setting": _lookup(g.SETTINGS, t["setting"]),
            "route": _lookup(m.ROUTES, t["route"]),
        })

    def truth(self, truth: dict, n_sites: int) -> dict[str, pa.Table]:
        tp, tl, tf = truth["patients"], truth["lines"], truth["flags"]
        site_ids = [f"S{i + 1:02d}" for i in range(n_sites)]
        return {
            "patients": pa.table({
                "patient_id": self.pid(tp["patient"]),
                "site_id": _lookup(site_ids, tp["site"]),
                "in_cohort": _bool(tp["in_cohort"]),
                "exclusion_reason": pa.array(tp["exclusion_reason"], type=pa.string()),
                "her2_status": pa.array(tp["her2_status"], type=pa.string()),
                "hr_positive": _bool(tp["hr_positive"]),
                "de_novo": _bool(tp["de_novo"]),
                "early_relapse": _bool(tp["early_relapse"]),
                "cns_ever": _bool(tp["cns_ever"]),
                "metastatic_date": _dates(tp["metastatic_date"]),
                "death_date": _dates(tp["death_date"]),
                "last_contact_date": _dates(tp["last_contact_date"]),
                "n_lines": pa.array(tp["n_lines"].astype(np.int64)),
            }),
            "lines": pa.table({
                "patient_id": self.pid(tl["patient"]),
                "line_number": pa.array(tl["line_number"].astype(np.int64)),
                "start_date": _dates(tl["start_date"]),
                "end_date": _dates(tl["end_date"]),
                "ingredients": pa.array(tl["ingredients"], type=pa.string()),
                "regimen": pa.array(tl["regimen"], type=pa.string()),
                "regimen_group": pa.array(tl["regimen_group"], type=pa.string()),
                "has_maintenance_addition": _bool(tl["has_maintenance_addition"]),
                "intended_category": pa.array(tl["intended_category"], type=pa.string()),
                "evaluated_as_line": pa.array(tl["evaluated_as_line"].astype(np.int64)),
                "cns": _bool(tl["cns"]),
                "hr_positive": _bool(tl["hr_positive"]),
                "early_relapse": _bool(tl["early_relapse"]),
                "guideline_id": pa.array(tl["guideline_id"], type=pa.string()),
            }),
            "flags": pa.table({
                "patient_id": self.pid(tf["patient"]),
                "line_number": pa.array(tf["line_number"].astype(np.int64)),
                "flag": pa.array(tf["flag"], type=pa.string()),
            }),
            "outcome_parameters": outcome_parameters(),
            "drug_names": drug_names(),
        }


def outcome_parameters() -> pa.Table:
    rows: dict[tuple[str, int, str], tuple[float, str, str]] = {}
    for group, (months, source) in m.OS_MONTHS.items():
        rows[("os", 1, group)] = (months, f"weibull(shape={m.OS_SHAPE})", source)
    for reg in m.REGIMENS:
        for line, (months, source) in sorted(reg.ttd_months.items()):
            rows.setdefault(("ttd", line, reg.group),
                            (months, f"weibull(shape={m.TTD_SHAPE})", source))
    keys = sorted(rows)
    return pa.table({
        "endpoint": [k[0] for k in keys],
        "line_number": pa.array([k[1] for k in keys], type=pa.int64()),
        "regimen_group": [k[2] for k in keys],
        "median_days": [round(rows[k][0] * m.MONTH, 1) for k in keys],
        "distribution": [rows[k][1] for k in keys],
        "source": [rows[k][2] for k in keys],
    })


def drug_names() -> pa.Table:
    """Every drug text the generator writes (before case/space variants) and what it is."""
    texts, ings, classes = [], [], []
    for s, p in zip(g.SPELL_TEXT, g.SPELL_PRODUCT, strict=True):
        texts.append(s)
        if p < 0:
            ings.append("")
            classes.append("unmapped")
        else:
            names = sorted(g.PRODUCTS[p])
            ings.append(" + ".join(names))
            classes.append(" + ".join(sorted({m.INGREDIENT_CLASS[x] for x in names})))
    return pa.table({"drug": texts, "ingredients": ings, "drug_class": classes})


def mess_table(mess: dict[str, tuple[float, int]]) -> pa.Table:
    kinds = sorted(mess)
    return pa.table({
        "kind": kinds,
        "rate": [round(float(mess[k][0]), 6) for k in kinds],
        "n_rows": pa.array([int(mess[k][1]) for k in kinds], type=pa.int64()),
    })


def write_table(table: pa.Table, folder: Path, name: str, fmt: str) -> Path:
    return write_batches(lambda: iter([table]), folder, name, fmt)


def write_batches(batches: Callable[[], Iterator[pa.Table]], folder: Path, name: str,
                  fmt: str) -> Path:
    """Write slices of one table to NAME.csv or NAME.parquet (removing a stale file of the
    other format: a registry folder may hold only one). CSV values are unquoted unless
    one needs quotes (pyarrow refuses quoting "none" then, and the file is rewritten)."""
    for suffix in (".csv", ".parquet"):
        stale = folder / f"{name}{suffix}"
        if stale.exists():
            stale.unlink()
    path = folder / f"{name}.{fmt}"
    if fmt == "parquet":
        writer = None
        for table in batches():
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema, compression="zstd")
            writer.write_table(table)
        if writer is not None:
            writer.close()
        return path
    for quoting in ("none", "needed"):
        try:
            writer = None
            for table in batches():
                if writer is None:
                    writer = pcsv.CSVWriter(path, table.schema, write_options=pcsv.WriteOptions(
                        quoting_style=quoting))
                writer.write_table(table)
            if writer is not None:
                writer.close()
            return path
        except pa.ArrowInvalid:
            if writer is not None:
                writer.close()
            if quoting == "needed":
                raise
    return path
