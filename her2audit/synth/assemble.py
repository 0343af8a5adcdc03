"""Turn the generator's arrays into registry tables (with the documented mess) and the
ground truth. Columns are numpy arrays: dates as int days since 1970-01-01 (-1 = empty),
text as object arrays or codes into small lookup lists; `writer.py` formats them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from her2audit.synth import generator as g
from her2audit.synth import model as m

R = m.RATES
ATC_LIST = [""] + sorted(set(m.ATC_CODES.values()))
BAD_DATES = ["{y}-02-30", "{y}-13-01", "{y}-04-31", "{y}-00-12", "{y}-02-31"]


def _spell(products: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Spelling index (into generator.SPELL_TEXT) for products given uniforms in [0, 1)."""
    prod = g.SPELL_PRODUCT_ARR.astype(np.float64)
    w = g._SPELL_W.copy()
    real = g.SPELL_PRODUCT_ARR >= 0
    tot = np.zeros(len(g.PRODUCTS))
    np.add.at(tot, g.SPELL_PRODUCT_ARR[real], w[real])
    cum = np.zeros(len(w))
    start = g.PRODUCT_SPELL_START
    for p in range(len(g.PRODUCTS)):
        seg = slice(start[p], start[p + 1])
        cum[seg] = np.cumsum(w[seg]) / tot[p]
    keys = prod[real] + np.minimum(cum[real], 1.0)
    keys[np.r_[np.diff(prod[real]) != 0, True]] = prod[real][
        np.r_[np.diff(prod[real]) != 0, True]] + 1.0  # last of each product closes at p+1
    idx = np.searchsorted(keys, products.astype(np.float64) + u, side="right")
    return idx.astype(np.int32)


def build(gen: g.Generator, raw: dict) -> tuple[dict, dict, dict]:
    """Returns (tables, truth, mess counts)."""
    rng = gen.rng()
    n = gen.n
    L = gen.line
    a = raw.pop("administrations")  # large: let the caller's copy go
    mess: dict[str, tuple[float, int]] = {}

    # -- Phesgo (one row = pertuzumab + trastuzumab) and taxane substitution ---------------
    line = a["line"]
    # per-line flags looked up per row; line -1 (not a line) hits the appended False
    ph = np.append(L["phesgo"], False)[line] & (a["t"] >= 21)
    drop = ph & (a["ing"] == m.ING["trastuzumab"])
    to_phesgo = ph & (a["ing"] == m.ING["pertuzumab"])
    a["product"] = a["product"].copy()
    a["product"][to_phesgo] = g.PHESGO
    sw = (np.append(L["tax_switch"], False)[line] & (a["ing"] == m.ING["docetaxel"])
          & (a["t"] >= 42))
    a["ing"] = a["ing"].copy()
    a["ing"][sw] = m.ING["paclitaxel"]
    a["product"][sw] = g.PRODUCT_OF_ING[m.ING["paclitaxel"]]
    keep = ~drop
    for k in list(a):
        a[k] = a[k][keep]  # one column at a time: the old one is released at once
    del keep
    mess["phesgo_rows"] = (R.phesgo, int(to_phesgo.sum()))
    mess["taxane_substitution_rows"] = (R.taxane_switch, int(sw.sum()))
    nr = len(a["patient"])

    # -- settings, missing end dates ------------------------------------------------------
    setting = a["setting"].copy()
    met_rows = setting == g.S_MET
    blank_met = met_rows & (rng.random(nr) < R.metastatic_setting_missing)
    adj_rows = np.isin(setting, [g.S_NEO, g.S_ADJ])
    blank_adj = adj_rows & (rng.random(nr) < R.setting_missing)
    setting[blank_met] = np.where(rng.random(int(blank_met.sum())) < 0.5, g.S_EMPTY, g.S_UNK)
    setting[blank_adj] = g.S_EMPTY
    a["setting"] = setting
    mess["metastatic_setting_missing"] = (R.metastatic_setting_missing, int(blank_met.sum()))
    mess["adjuvant_setting_missing"] = (R.setting_missing, int(blank_adj.sum()))
    has_end = a["end"] >= 0
    miss = has_end & (rng.random(nr) < R.missing_end_date)
    a["end"] = np.where(miss, -1, a["end"])
    mess["missing_end_date"] = (R.missing_end_date, int(miss.sum()))

    # -- ground truth from the rows as emitted (before extra mess rows) --------------------
    truth = _truth(gen, a)

    # -- spellings: one product spelling per (line, drug), some rows spelled otherwise -------
    comp_key = np.where(a["comp"] >= 0, a["comp"], nr + np.arange(nr))
    u_comp = g._hash_unit(comp_key, np.full(nr, 17), gen.seed)
    switch = rng.random(nr) < R.spelling_switch
    u = np.where(switch | (a["comp"] < 0), rng.random(nr), u_comp)
    spell = _spell(a["product"], u)
    mess["spelling_switch"] = (R.spelling_switch, int(switch.sum()))
    del comp_key, u_comp, switch, u
    canonical = spell == g.PRODUCT_SPELL_START[a["product"]]
    variant = np.zeros(nr, dtype=np.int8)
    cv = rng.random(nr) < R.case_variant
    variant[cv] = rng.integers(1, 4, int(cv.sum()))
    pad = ~cv & (rng.random(nr) < R.whitespace_padding)
    variant[pad] = 4
    mess["case_variant"] = (R.case_variant, int(cv.sum()))
    mess["whitespace_padding"] = (R.whitespace_padding, int(pad.sum()))
    del cv, pad
    # route: SC spellings, oral drugs, IV otherwise; some empty
    sc = np.isin(spell, [g.SPELL_TEXT.index(x) for x in
                         ("Herceptin Hylecta", "trastuzumab and hyaluronidase-oysk")])
    sc |= a["product"] == g.PHESGO
    oral = g.ING_ORAL[a["ing"]]
    route = np.where(sc, 1, np.where(oral, 2, 0))
    route = np.where(np.isin(a["ing"], [m.ING["fulvestrant"], m.ING["denosumab"],
                                        m.ING["filgrastim"], m.ING["pegfilgrastim"]]),
                     np.where(a["ing"] == m.ING["fulvestrant"], 3, 1), route)
    route = np.where(rng.random(nr) < 0.1, 4, route).astype(np.int8)
    del sc, oral

    # -- record ids and codes by site ---------------------------------------------------------
    site = gen.site[a["patient"]]
    with_id = gen.site_record_id[site]
    single = np.array([len(p) == 1 for p in g.PRODUCTS])[a["product"]]
    # code: index into ATC_LIST (0 = no code)
    atc_of_ing = np.array([ATC_LIST.index(m.ATC_CODES.get(i, "")) for i in m.INGREDIENTS],
                          dtype=np.int8)
    code = np.where(gen.site_atc[site] & single, atc_of_ing[a["ing"]], 0).astype(np.int8)
    mess["record_id"] = (R.record_id_site_share, int(with_id.sum()))
    mess["atc_code"] = (R.atc_code_site_share, int((code > 0).sum()))
    del site, single

    rows = {
        "patient": a["patient"].astype(np.int32), "spell": spell, "variant": variant,
        "start": a["start"], "end": a["end"], "setting": a["setting"], "route": route,
        "code": code, "with_id": with_id, "bad_start": np.zeros(nr, dtype=np.int8),
    }

    n_sup = int(g.SUPPORTIVE[a["ing"]].sum())
    mess["supportive_rows"] = (n_sup / nr if nr else 0.0, n_sup)
    del a  # the columns the rows still need are shared with `rows`

    # -- extra rows: duplicates, junk names, invalid dates, end before start, orphans -------
    def pick(rate: float, pool: np.ndarray | None = None) -> np.ndarray:
        if pool is None:
            return np.nonzero(rng.random(nr) < rate)[0]
        base = np.nonzero(pool)[0]
        return base[rng.random(len(base)) < rate]

    extras = []
    dup = pick(R.duplicate_row, ~with_id)
    extras.append({k: v[dup] for k, v in rows.items()})
    mess["duplicate_row"] = (R.duplicate_row, len(dup))
    junk = pick(R.unmapped_name)
    e = {k: v[junk].copy() for k, v in rows.items()}
    e["spell"] = (g.JUNK_BASE + rng.integers(0, len(m.JUNK_NAMES), len(junk))).astype(np.int32)
    e["variant"][:] = 0
    e["end"][:] = -1
    e["code"][:] = 0
    extras.append(e)
    mess["unmapped_name"] = (R.unmapped_name, len(junk))
    bad = pick(R.invalid_date)
    e = {k: v[bad].copy() for k, v in rows.items()}
    e["bad_start"] = rng.integers(1, len(BAD_DATES) + 1, len(bad)).astype(np.int8)
    e["with_id"][:] = False
    extras.append(e)
    mess["invalid_date"] = (R.invalid_date, len(bad))
    ebs = pick(R.end_before_start)
    e = {k: v[ebs].copy() for k, v in rows.items()}
    e["end"] = (e["start"] - rng.integers(1, 31, len(ebs))).astype(np.int32)
    e["with_id"][:] = False
    extras.append(e)
    mess["end_before_start"] = (R.end_before_start, len(ebs))
    orph = pick(R.orphan_row)
    e = {k: v[orph].copy() for k, v in rows.items()}
    e["patient"] = (n + 1_000_000 + np.arange(len(orph))).astype(np.int32)  # not in patients
    e["with_id"][:] = False
    extras.append(e)
    mess["orphan_row"] = (R.orphan_row, len(orph))
    allrows = {}
    for k in list(rows):
        allrows[k] = np.concatenate([rows.pop(k)] + [x.pop(k) for x in extras])
    order = np.lexsort((allrows["spell"], allrows["start"], allrows["patient"]))
    for k in list(allrows):
        allrows[k] = allrows[k][order]
    del order
    rid = np.where(allrows["with_id"], np.cumsum(allrows["with_id"]), -1).astype(np.int64)
    allrows["record_id"] = rid

    tables = {
        "treatments": allrows,
        "biomarkers": raw["biomarkers"],
        "metastases": _metastases(gen),
        "progressions": _progressions(gen, rng),
    }
    tables["patients"], tables["diagnoses"] = _patients(gen, truth, rng, mess)
    mess["drug_holiday_lines"] = (R.drug_holiday, int((L["h_len"] > 0).sum()))
    mess["long_gap_lines"] = (R.long_gap_between_lines, int(L["long_gap"].sum()))
    # the non-generic spelling share is an outcome of the spelling weights: report it
    mess["non_generic_spelling"] = (float((~canonical).mean()) if nr else 0.0,
                                    int((~canonical).sum()))
    return tables, truth, mess


def _metastases(gen: g.Generator) -> dict[str, np.ndarray]:
    pid, date, site = [], [], []
    for s, mask in gen.met_sites.items():
        idx = np.nonzero(mask)[0]
        pid.append(idx)
        date.append(gen.met_site_date[idx])
        site.append(np.full(len(idx), s, dtype=object))
    cns = np.nonzero(gen.cns_date < (1 << 40))[0]
    pid.append(cns)
    date.append(gen.cns_date[cns])
    site.append(np.where(gen.lepto[cns], "leptomeningeal", "brain").astype(object))
    out = {"patient": np.concatenate(pid), "date": np.concatenate(date),
           "site": np.concatenate(site)}
    order = np.lexsort((out["date"], out["patient"]))
    return {k: v[order] for k, v in out.items()}


def _progressions(gen: g.Generator, rng) -> dict[str, np.ndarray]:
    L = gen.line
    has_next = L["gap_next"] > 0
    idx = np.nonzero(has_next)[0]
    gap = L["gap_next"][idx]
    date = L["end_cal"][idx] + np.minimum(rng.integers(0, 15, len(idx)), gap - 1)
    typ = np.where(rng.random(len(idx)) < 0.8, "radiological", "clinical").astype(object)
    return {"patient": L["patient"][idx], "date": date, "type": typ}


def _patients(gen: g.Generator, truth: dict, rng, mess: dict):
    n = gen.n
    tp = truth["patients"]
    birth_text = np.full(n, None, dtype=object)
    q = np.nonzero(gen.quarantined)[0]
    years = (1970 + (gen.birth[q] / 365.25)).astype(int)
    birth_text[q] = [BAD_DATES[0].format(y=y) for y in years]  # few: the broken patients
    mess["quarantined_patient"] = (R.quarantined_patient, len(q))
    sex = np.where(gen.male, "M", "F").astype(object)
    sex[rng.random(n) < 0.005] = "U"
    site_ids = np.array([f"S{i + 1:02d}" for i in range(gen.n_sites)], dtype=object)
    site = site_ids[gen.site]
    site[rng.random(n) < 0.01] = ""
    mess["site_missing"] = (0.01, int((site == "").sum()))
    patients = {
        "patient": np.arange(n), "site_id": site, "birth": gen.birth,
        "birth_text": birth_text, "sex": sex,
        "death": tp["death_date"], "last_contact": tp["last_contact_date"],
    }
    diagnoses = {
        "patient": np.arange(n), "dx": gen.dx, "stage": gen.stage, "met": gen.met,
    }
    return patients, diagnoses


def _truth(gen: g.Generator, a: dict) -> dict:
    n = gen.n
    L = gen.line
    nl = len(L["patient"])
    # -- patients ---------------------------------------------------------------------------
    last_act = np.full(n, -1, dtype=np.int64)
    _scatter(last_act, a["patient"], np.maximum(a["start"], a["end"]), "max")
    rng = gen.rng()
    died = (gen.metastatic & (gen.death <= gen.obs_end) & ~gen.death_unrecorded)
    death = np.where(died, gen.death, -1)
    lc_died = np.minimum(np.maximum(last_act, gen.death - rng.integers(0, 31, n)), gen.death)
    alive_end = np.where(gen.metastatic, gen.horizon, m.DATA_CUTOFF)
    lc_alive = np.minimum(np.maximum(last_act, alive_end - rng.integers(0, 61, n)),
                          m.DATA_CUTOFF)
    lc_never = np.maximum(last_act, m.DATA_CUTOFF - rng.integers(0, 700, n))
    last_contact = np.where(died, lc_died, np.where(gen.metastatic, lc_alive, lc_never))
    # early relapse from the emitted (neo)adjuvant HER2-directed rows
    her2_ing = np.array([c.startswith("anti_her2") for c in g.ING_CLASS])
    prior_rows = (a["kind"] == 1) & her2_ing[a["ing"]]
    last_her2 = np.full(n, -(1 << 40), dtype=np.int64)
    _scatter(last_her2, a["patient"][prior_rows], a["start"][prior_rows], "max")
    early = gen.metastatic & (gen.met - last_her2 <= 183) & (gen.met >= last_her2)
    cohort = (gen.pop == 0) & ~gen.quarantined
    reason = np.array(["", "never_metastatic", "her2_negative", "her2_equivocal",
                       "no_her2_test"], dtype=object)[gen.pop]
    reason[gen.quarantined] = "quarantined"
    her2 = np.array(["positive", "positive", "negative", "equivocal", "unknown"],
                    dtype=object)[gen.pop]

    # -- lines ------------------------------------------------------------------------------
    in_line = a["line"] >= 0
    li = a["line"][in_line]
    st = a["start"][in_line]
    en = np.maximum(a["start"][in_line], a["end"][in_line])
    l_start = np.full(nl, 1 << 40, dtype=np.int64)
    _scatter(l_start, li, st, "min")
    l_end = np.full(nl, -1, dtype=np.int64)
    _scatter(l_end, li, en, "max")
    window = ~a["maint"][in_line] & (st <= l_start[li] + 28)
    mask = np.zeros(nl, dtype=np.int64)
    # OR of ingredient bits per line = sum of the distinct (line, product-mask) bits
    pairs = np.unique(li[window].astype(np.int64) * len(g.PRODUCTS)
                      + a["product"][in_line][window])
    for bit in range(g.N_ING):
        has = (g.PRODUCT_MASK[pairs % len(g.PRODUCTS)] >> bit) & 1
        lines_with = np.unique(pairs[has == 1] // len(g.PRODUCTS))
        mask[lines_with] |= np.int64(1) << bit
    maint = np.zeros(nl, dtype=bool)
    maint |= np.bincount(li, weights=a["maint"][in_line], minlength=nl) > 0
    ing_text = _mask_text(mask)
    reg = L["regimen"]
    name = np.array([r.name for r in m.REGIMENS], dtype=object)[reg]
    name = np.where((reg == m.REG["TH"]), "TH", name)
    group = np.array([r.group for r in m.REGIMENS], dtype=object)[reg]
    p = L["patient"]
    cns = gen.cns_date[p] <= l_start + 14
    keep = cohort[p]
    n_lines = np.bincount(p[keep], minlength=n)
    flags_p, flags_l, flags_f = [], [], []
    last_row_missing_end = np.zeros(nl, dtype=bool)
    lr = in_line & (a["end"] < 0) & g.ING_ORAL[a["ing"]]
    last_row_missing_end |= np.bincount(
        a["line"][lr], weights=a["start"][lr] == l_end[a["line"][lr]], minlength=nl) > 0
    for flag, fmask in (("drug_holiday", L["h_len"] > 0), ("taxane_substitution",
                        L["tax_switch"]), ("phesgo", L["phesgo"]),
                        ("new_line_after_long_gap", L["long_gap"]),
                        ("maintenance_addition", maint),
                        ("oral_row_without_end_date_ends_line", last_row_missing_end)):
        sel = fmask & keep
        flags_p.append(p[sel])
        flags_l.append(L["line_number"][sel])
        flags_f.append(np.full(int(sel.sum()), flag, dtype=object))
    return {
        "patients": {
            "patient": np.arange(n), "site": gen.site, "in_cohort": cohort,
            "exclusion_reason": reason, "her2_status": her2, "hr_positive": gen.hr_positive,
            "de_novo": gen.de_novo, "early_relapse": early,
            "cns_ever": gen.cns_date < (1 << 40), "metastatic_date": gen.met,
            "death_date": death, "last_contact_date": last_contact, "n_lines": n_lines,
        },
        "lines": {
            "patient": p[keep], "line_number": L["line_number"][keep],
            "start_date": l_start[keep], "end_date": l_end[keep],
            "ingredients": ing_text[keep], "regimen": name[keep], "regimen_group": group[keep],
            "has_maintenance_addition": maint[keep],
            "intended_category": np.array(m.CATEGORIES, dtype=object)[L["category"][keep]],
            "evaluated_as_line": L["eval_line"][keep], "cns": cns[keep],
            "hr_positive": gen.hr_positive[p[keep]], "early_relapse": early[p[keep]],
            "guideline_id": np.array([e for e, _ in m.ERAS], dtype=object)[L["era"][keep]],
        },
        "flags": {"patient": np.concatenate(flags_p), "line_number": np.concatenate(flags_l),
                  "flag": np.concatenate(flags_f)},
    }


def _scatter(out: np.ndarray, keys: np.ndarray, values: np.ndarray, how: str) -> None:
    """out[k] = min/max(out[k], values with key k) (a fast grouped reduction)."""
    if len(keys) == 0:
        return
    red = pd.Series(values).groupby(keys).agg(how)
    idx = red.index.to_numpy()
    fn = np.maximum if how == "max" else np.minimum
    out[idx] = fn(out[idx], red.to_numpy())


def _mask_text(mask: np.ndarray) -> np.ndarray:
    """Ingredient bitmasks -> 'a + b + c' (sorted names), via the distinct masks only."""
    uniq, inv = np.unique(mask, return_inverse=True)
    names = [" + ".join(sorted(m.INGREDIENTS[i] for i in range(g.N_ING) if (int(u) >> i) & 1))
             for u in uniq]
    return np.array(names, dtype=object)[inv]
