"""Vectorised generator of a synthetic HER2 registry (see README.md for the model).

Everything is generated across all patients at once: patient facts as arrays, lines of
therapy in "waves" (wave k decides line k of every patient still on treatment), and
administrations by expanding (line, drug) components into rows with np.repeat/cumsum.
Nothing loops over patients or rows in Python; loops run over waves, regimens, drug
slots and schedule types (a few dozen iterations).

The result is a `Synthetic` holding column arrays for every registry table and the
ground truth; `writer.py` turns them into files.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from her2audit.synth import model as m

R = m.RATES
N_ING = len(m.INGREDIENTS)
N_REG = len(m.REGIMENS)
N_GRP = len(m.GROUPS)
NONE = np.int32(-1)

# ---- vocabulary tables ---------------------------------------------------------------
PRODUCTS: list[tuple[str, ...]] = list(m.SPELLINGS)
PRODUCT_OF_ING = np.array([PRODUCTS.index((name,)) for name in m.INGREDIENTS], dtype=np.int16)
PHESGO = PRODUCTS.index(("pertuzumab", "trastuzumab"))
SPELL_TEXT: list[str] = []
SPELL_PRODUCT: list[int] = []
_spell_weight: list[float] = []
for _p, _opts in enumerate(m.SPELLINGS.values()):
    for _text, _w in _opts:
        SPELL_TEXT.append(_text)
        SPELL_PRODUCT.append(_p)
        _spell_weight.append(_w)
JUNK_BASE = len(SPELL_TEXT)
SPELL_TEXT.extend(m.JUNK_NAMES)
SPELL_PRODUCT.extend([-1] * len(m.JUNK_NAMES))
SPELL_PRODUCT_ARR = np.array(SPELL_PRODUCT, dtype=np.int16)
_SPELL_W = np.array(_spell_weight + [0.0] * len(m.JUNK_NAMES))
PRODUCT_SPELL_START = np.array(
    [SPELL_PRODUCT.index(p) for p in range(len(PRODUCTS))] + [JUNK_BASE], dtype=np.int32)
N_VARIANTS = 5  # as given, UPPER, lower, Title, padded with spaces


def spelling_variants() -> list[str]:
    """All drug texts: index = base spelling * N_VARIANTS + variant."""
    out: list[str] = []
    for s in SPELL_TEXT:
        out.extend([s, s.upper(), s.lower(), s.title(), f" {s} "])
    return out


PRODUCT_MASK = np.zeros(len(PRODUCTS), dtype=np.int64)
for _p, _ings in enumerate(PRODUCTS):
    for _i in _ings:
        PRODUCT_MASK[_p] |= np.int64(1) << m.ING[_i]
ING_CLASS = [m.INGREDIENT_CLASS[i] for i in m.INGREDIENTS]
SUPPORTIVE = np.array([c == "supportive" for c in ING_CLASS])
ING_ORAL = np.array([i in m.ORAL for i in m.INGREDIENTS])
# substitution-group bit of every ingredient (SPEC §4)
_sub_names = sorted({m.SUBSTITUTION_GROUP.get(i, i) for i in m.INGREDIENTS})
SUB_BIT = np.array([np.int64(1) << _sub_names.index(m.SUBSTITUTION_GROUP.get(i, i))
                    for i in m.INGREDIENTS], dtype=np.int64)
MAINT_TYPE = np.array([c in ("endocrine", "cdk46_inhibitor") for c in ING_CLASS])
HP_MASK = (np.int64(1) << m.ING["trastuzumab"]) | (np.int64(1) << m.ING["pertuzumab"])

SETTINGS = ["", "neoadjuvant", "adjuvant", "metastatic", "unknown"]
S_EMPTY, S_NEO, S_ADJ, S_MET, S_UNK = range(5)

# Schedules: (cycle length, offsets of administrations within a cycle, course length).
# Course length 0 = a single administration (end_date empty); otherwise a continuous
# oral course from the offset for that many days (end = start + length - 1).
SCHEDULES: dict[str, tuple[int, tuple[int, ...], int]] = {
    "q3w": (21, (0,), 0),
    "weekly": (7, (0,), 0),
    "d1d8": (21, (0, 7), 0),
    "cape": (21, (0,), 14),
    "oral_28": (28, (0,), 28),
    "cdk": (28, (0,), 21),
    "q28": (28, (0,), 0),
    "q12w": (84, (0,), 0),
    "endo_30": (30, (0,), 30),
    "endo_90": (90, (0,), 90),
}
SCHED = {k: i for i, k in enumerate(SCHEDULES)}


def drug_schedule(ingredient: str, endocrine_course: int = 90) -> str:
    if ingredient in ("capecitabine",):
        return "cape"
    if ingredient in ("tucatinib", "neratinib", "lapatinib"):
        return "oral_28"
    if ingredient in ("palbociclib", "ribociclib", "abemaciclib"):
        return "cdk"
    if ingredient in ("letrozole", "anastrozole", "exemestane", "tamoxifen"):
        return f"endo_{endocrine_course}"
    if ingredient == "fulvestrant":
        return "q28"
    if ingredient in ("vinorelbine", "eribulin", "gemcitabine"):
        return "d1d8"
    if ingredient in ("paclitaxel", "nab-paclitaxel"):
        return "weekly"
    return "q3w"


# ---- containers ----------------------------------------------------------------------
@dataclass
class Rows:
    """Treatment rows under construction (parallel arrays)."""

    cols: dict[str, list[np.ndarray]] = field(default_factory=dict)

    def add(self, **arrays: np.ndarray) -> None:
        n = len(next(iter(arrays.values())))
        if n == 0:
            return
        for k, v in arrays.items():
            assert len(v) == n, k
            self.cols.setdefault(k, []).append(v)

    def concat(self) -> dict[str, np.ndarray]:
        """Concatenate column by column, releasing the parts as it goes (peak memory)."""
        out = {k: np.zeros(0, dtype=dt) for k, dt in ROW_DTYPES.items()}
        for k in list(self.cols):
            out[k] = np.concatenate(self.cols.pop(k))
        return out


ROW_DTYPES = {"patient": np.int32, "line": np.int32, "ing": np.int16, "product": np.int16,
              "start": np.int32, "end": np.int32, "setting": np.int8, "maint": bool,
              "t": np.int32, "comp": np.int32, "kind": np.int8}
LINE_KEYS = ("patient", "line_number", "regimen", "start", "dur", "h_off", "h_len", "tax_end",
             "maint_ai", "maint_ai_t", "maint_cdk", "maint_cdk_t", "tax_switch", "phesgo",
             "era", "eval_line", "category", "cns_gen", "end_cal", "long_gap", "gap_next")
COMP_KEYS = ("line", "ing", "t_from", "t_to", "sched", "maint", "patient", "anchor",
             "setting", "h_off", "h_len", "comp")


def _components(parts: dict[str, list[np.ndarray]]) -> dict[str, np.ndarray]:
    out = {k: np.zeros(0, dtype=np.int64) for k in COMP_KEYS}
    out["maint"] = np.zeros(0, dtype=bool)
    out["setting"] = np.zeros(0, dtype=np.int8)
    out.update({k: np.concatenate(v) for k, v in parts.items()})
    return out


@dataclass
class Synthetic:
    tables: dict[str, dict[str, np.ndarray | list]]
    truth: dict[str, dict[str, np.ndarray | list]]
    stats: dict[str, int]


def _weibull(rng: np.random.Generator, median_days: np.ndarray, shape: float) -> np.ndarray:
    scale = median_days / np.log(2.0) ** (1.0 / shape)
    return scale * rng.weibull(shape, size=len(median_days))


def _uniform_int(rng: np.random.Generator, lo, hi, size: int) -> np.ndarray:
    """Integers in [lo, hi] (inclusive), lo/hi scalars or arrays."""
    lo = np.asarray(lo, dtype=np.float64)
    hi = np.asarray(hi, dtype=np.float64)
    return np.floor(lo + rng.random(size) * (hi - lo + 1)).astype(np.int64)


def _choose(rng: np.random.Generator, weights: np.ndarray) -> np.ndarray:
    """Row-wise weighted choice: weights (n, k) -> column index per row (-1 if all zero)."""
    if weights.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    cum = np.cumsum(weights, axis=1)
    total = cum[:, -1]
    u = rng.random(len(total)) * total
    idx = (cum <= u[:, None]).sum(axis=1)
    idx = np.minimum(idx, weights.shape[1] - 1)
    return np.where(total > 0, idx, -1)


def _hash_unit(a: np.ndarray, b: np.ndarray, salt: int) -> np.ndarray:
    """Deterministic pseudo-random numbers in [0, 1) from two integer keys (splitmix64)."""
    x = (a.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
         + b.astype(np.uint64) * np.uint64(0xBF58476D1CE4E5B9) + np.uint64(salt))
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return (x >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def era_index(days: np.ndarray) -> np.ndarray:
    starts = np.array([d for _, d in m.ERAS])
    return np.searchsorted(starts, days, side="right") - 1


# ---- rulebook: categories of every regimen for every line being decided -----------------
COUNTS_AS_BITS = np.zeros(N_GRP, dtype=np.int64)  # group -> bits of the groups it counts as
for _g, _other in m.COUNTS_AS.items():
    COUNTS_AS_BITS[m.GRP[_g]] |= np.int64(1) << m.GRP[_other]


def _widen(received: np.ndarray) -> np.ndarray:
    """Received-groups masks plus the groups they count as (model.COUNTS_AS)."""
    out = received.copy()
    for g in range(N_GRP):
        has = ((received >> g) & 1).astype(bool)
        out[has] |= COUNTS_AS_BITS[g]
    return out


def _entry_counts(entry: m.Entry, group: str, start: np.ndarray, pert: np.ndarray
                  ) -> np.ndarray | None:
    """Where `entry` names `group`: for which lines it counts (None: another group)."""
    if isinstance(entry, str):
        return np.ones(len(start), dtype=bool) if entry == group else None
    if entry.group != group:
        return None
    if isinstance(entry, m.From):
        return start >= m.day(entry.date)
    return ~pert  # NoPertuzumab


def _listed(entries: tuple[m.Entry, ...], group: str, start: np.ndarray, pert: np.ndarray
            ) -> np.ndarray:
    out = np.zeros(len(start), dtype=bool)
    for entry in entries:
        counts = _entry_counts(entry, group, start, pert)
        if counts is not None:
            out |= counts
    return out


def _rule_categories(rule: m.Rule, sequence: list[list[str]], got: np.ndarray,
                     hr: np.ndarray, start: np.ndarray, pert: np.ndarray) -> np.ndarray:
    """(n, N_REG) categories under one rule for lines with these histories."""
    n = len(start)
    cat = np.full((n, N_REG), 2, dtype=np.int8)  # not_recommended
    step_done = [got[:, [m.GRP[g] for g in step]].any(axis=1) for step in sequence]
    for r, reg in enumerate(m.REGIMENS):
        if reg.group == "investigational":
            cat[:, r] = 3
            continue
        not_got = ~got[:, m.GRP[reg.group]]
        pref = _listed(rule.pref, reg.group, start, pert)
        pref |= _listed(rule.pref_once, reg.group, start, pert) & not_got
        if rule.seq:
            earlier_done = np.ones(n, dtype=bool)
            for step, done in zip(sequence, step_done, strict=True):
                if reg.group in step:
                    pref |= earlier_done & ~done
                earlier_done &= done
        alt = _listed(rule.alt, reg.group, start, pert)
        alt |= _listed(rule.alt_once, reg.group, start, pert) & not_got
        alt |= _listed(rule.hr_alt, reg.group, start, pert) & hr
        cat[alt, r] = 1
        cat[pref, r] = 0
    return cat


def categorize(era: np.ndarray, bucket: np.ndarray, cns: np.ndarray, hr: np.ndarray,
               received: np.ndarray, start: np.ndarray, pert_given: np.ndarray) -> np.ndarray:
    """Category index (m.CATEGORIES) of each regimen for each line: shape (n, N_REG).
    `received`: groups of earlier lines (bit mask); `pert_given`: pertuzumab was given before
    (in an earlier line or in the (neo)adjuvant programme)."""
    n = len(era)
    cat = np.full((n, N_REG), 2, dtype=np.int8)
    widened = _widen(received)
    got = ((widened[:, None] >> np.arange(N_GRP)[None, :]) & 1).astype(bool)  # (n, N_GRP)
    for e, (era_id, _) in enumerate(m.ERAS):
        sequence = m.SEQUENCE.get(era_id, [])
        for b, rule in m.RULEBOOK[era_id].items():
            for with_cns, chosen in ((False, rule), (True, rule.cns or rule)):
                sel = (era == e) & (bucket == b) & (cns == with_cns)
                if sel.any():
                    cat[sel] = _rule_categories(chosen, sequence, got[sel], hr[sel],
                                                start[sel], pert_given[sel])
    return cat


# ---- regimen slots ---------------------------------------------------------------------
def _slot_tables():
    """Per regimen and slot: option ingredient ids and weights (padded arrays)."""
    n_slots = max(len(r.slots) for r in m.REGIMENS)
    n_opt = max(len(opts) for r in m.REGIMENS for opts, _ in r.slots)
    ing = np.full((N_REG, n_slots, n_opt), -1, dtype=np.int32)
    w = np.zeros((N_REG, n_slots, n_opt))
    kind = np.full((N_REG, n_slots), "", dtype=object)
    for r, reg in enumerate(m.REGIMENS):
        for s, (opts, sched) in enumerate(reg.slots):
            kind[r, s] = sched
            for o, (name, weight) in enumerate(opts):
                ing[r, s, o] = m.ING[name] if name else -1
                w[r, s, o] = weight
    return ing, w, kind


SLOT_ING, SLOT_W, SLOT_KIND = _slot_tables()
RESTRICTED_SLOTS = {"other_chemo", "chemo_any", "endocrine_any"}


def _new_option(prev_sub: np.ndarray, prev_hp: np.ndarray, ing_ids: np.ndarray) -> np.ndarray:
    """Would ingredient(s) start a new line after a regimen with these substitution groups?
    prev_sub, prev_hp: (n,); ing_ids: (k,) -> (n, k) boolean."""
    valid = ing_ids >= 0
    safe = np.where(valid, ing_ids, 0)
    bits = SUB_BIT[safe]
    new = (prev_sub[:, None] & bits[None, :]) == 0
    new &= ~(prev_hp[:, None] & MAINT_TYPE[safe][None, :])
    return new & valid[None, :]


def feasible_regimens(prev_sub: np.ndarray, prev_hp: np.ndarray, first: np.ndarray
                      ) -> np.ndarray:
    """(n, N_REG): the regimen surely starts a new line after the previous one (SPEC §4)."""
    n = len(prev_sub)
    out = np.zeros((n, N_REG), dtype=bool)
    for r in range(N_REG):
        for s in range(SLOT_ING.shape[1]):
            opts = SLOT_ING[r, s]
            if not (opts >= 0).any():
                continue
            new = _new_option(prev_sub, prev_hp, opts)
            real = (opts >= 0) & (SLOT_W[r, s] > 0)
            if SLOT_KIND[r, s] in RESTRICTED_SLOTS:
                out[:, r] |= (new & real[None, :]).any(axis=1)
            else:
                out[:, r] |= (new | ~real[None, :]).all(axis=1)
    out[first] = True
    return out


# ---- the generator -----------------------------------------------------------------------
class Generator:
    def __init__(self, n: int, seed: int, progress: Callable[[str], None] | None = None):
        self.n = n
        self.seed = seed
        self.say = progress or (lambda _msg: None)
        self._streams = 0

    def rng(self) -> np.random.Generator:
        """A fresh, independent stream; the order of calls fixes the bytes."""
        self._streams += 1
        return np.random.default_rng([self.seed, self._streams])

    # -- sites and patients -------------------------------------------------------------------
    def sites(self) -> None:
        rng = self.rng()
        ns = int(np.clip(self.n // m.SITES.patients_per_site, m.SITES.n_min, m.SITES.n_max))
        self.n_sites = ns
        size = rng.lognormal(0.0, 0.6, ns)
        self.site_weight = size / size.sum()
        low = rng.random(ns) < R.low_concordance_site_share
        low[:2] = True  # at least two clearly less concordant sites
        lo_t, hi_t = m.SITES.concordance_typical
        lo_l, hi_l = m.SITES.concordance_low
        self.site_concordance = np.where(low, lo_l + rng.random(ns) * (hi_l - lo_l),
                                         lo_t + rng.random(ns) * (hi_t - lo_t))
        self.site_low = low
        self.site_record_id = rng.random(ns) < R.record_id_site_share
        self.site_atc = rng.random(ns) < R.atc_code_site_share
        self.site_endo_course = np.where(rng.random(ns) < 0.5, 30, 90)

    def patients(self) -> None:
        rng = self.rng()
        n = self.n
        self.site = rng.choice(self.n_sites, size=n, p=self.site_weight).astype(np.int32)
        u = rng.random(n)
        cuts = np.cumsum([R.never_metastatic, R.her2_negative, R.her2_equivocal,
                          R.no_her2_test])
        # population: 0 cohort (HER2+ metastatic), 1 never metastatic (HER2+),
        # 2 HER2-negative, 3 equivocal, 4 no HER2 test
        pop = np.searchsorted(cuts, u, side="right")
        pop = np.where(pop == 0, 1, np.where(pop == 4, 0, pop + 1))
        pop = np.where(u >= cuts[-1], 0, pop)
        self.pop = pop.astype(np.int8)
        self.quarantined = rng.random(n) < R.quarantined_patient
        self.metastatic = self.pop != 1
        self.her2_positive = np.isin(self.pop, (0, 1))
        self.hr_positive = rng.random(n) < R.hr_positive
        self.no_er_pr = rng.random(n) < R.no_er_pr_test
        self.hr_positive &= ~self.no_er_pr
        self.male = rng.random(n) < R.male
        self.de_novo = self.metastatic & (rng.random(n) < R.de_novo)
        # metastatic date (or, for never-metastatic patients, the diagnosis date)
        met = _uniform_int(rng, m.METASTATIC_FROM, m.METASTATIC_TO, n)
        self.met = np.where(self.metastatic, met, -1)
        age = np.clip(rng.normal(57, 12, n), 26, 90)
        # prior (neo)adjuvant programme for recurrent and never-metastatic HER2+ patients
        recurrent = self.metastatic & ~self.de_novo
        can_prior = (recurrent & (self.pop == 0)) | (self.pop == 1)
        self.prior = can_prior & (rng.random(n) < R.prior_her2_therapy)
        self.prior[self.pop == 1] = rng.random(int((self.pop == 1).sum())) < 0.97
        self.early_relapse = self.prior & recurrent & (rng.random(n) < R.early_relapse)
        self.neoadjuvant = self.prior & (rng.random(n) < R.neoadjuvant)
        # programme start P0 and offset of the last HER2-directed dose (see adjuvant())
        interval = np.where(self.early_relapse, _uniform_int(rng, 40, 175, n),
                            200 + rng.exponential(1000, n).astype(np.int64))
        never_dx = _uniform_int(rng, m.day("2008-01-01"), m.day("2023-06-30"), n)
        tdm1_u = rng.random(n)
        pert_u = rng.random(n)
        self.adj_pertuzumab_u = pert_u
        self.p0 = np.full(n, -1, dtype=np.int64)
        last = np.where(self.neoadjuvant, 357, 420)
        start_guess = np.where(self.pop == 1, never_dx + 21, self.met - interval - last)
        self.adj_tdm1 = (self.neoadjuvant & (start_guess >= m.day("2019-05-03"))
                         & (tdm1_u < R.adjuvant_tdm1))
        last = np.where(self.adj_tdm1, 147 + 13 * 21, last)
        self.last_her2_offset = last
        self.p0 = np.where(self.pop == 1, never_dx + _uniform_int(rng, 14, 42, n),
                           self.met - interval - last)
        no_prior_interval = _uniform_int(rng, 400, 3650, n)
        dx = np.where(self.de_novo, self.met,
                      np.where(self.prior, self.p0 - _uniform_int(rng, 14, 42, n),
                               self.met - no_prior_interval))
        dx = np.where(self.pop == 1, never_dx, dx)
        self.dx = dx
        anchor = np.where(self.metastatic, self.met, dx)
        self.birth = (anchor - (age * 365.25).astype(np.int64)
                      - _uniform_int(rng, 0, 364, n))
        self.age = age
        stage_u = rng.random(n)
        stage = np.select([stage_u < 0.15, stage_u < 0.62, stage_u < 0.95],
                          ["I", "II", "III"], "unknown").astype(object)
        stage[self.neoadjuvant & (stage == "I")] = "II"
        stage[self.de_novo] = "IV"
        self.stage = stage
        # HER2-negative patients with IHC 1+ or 2+/ISH- are HER2-low
        self.her2_low = np.zeros(n, dtype=bool)
        self.cns_date = np.full(n, np.iinfo(np.int64).max // 4, dtype=np.int64)
        self.lepto = np.zeros(n, dtype=bool)
        cns0 = self.metastatic & (rng.random(n) < R.cns_at_metastasis)
        self.cns_date[cns0] = self.met[cns0] + _uniform_int(rng, 0, 5, int(cns0.sum()))
        self.lepto[cns0] = rng.random(int(cns0.sum())) < R.leptomeningeal_share
        # observation: lost to follow-up, death recorded or not (death drawn with line 1)
        self.ltfu = self.metastatic & (rng.random(n) < R.lost_to_follow_up)
        self.ltfu_date = np.where(
            self.ltfu, self.met + 60 + (rng.random(n) * np.maximum(
                m.DATA_CUTOFF - self.met - 60, 1)).astype(np.int64), m.DATA_CUTOFF)
        self.death_unrecorded = rng.random(n) < R.death_unrecorded

    # -- biomarkers --------------------------------------------------------------------------
    def biomarkers(self) -> dict[str, np.ndarray]:
        rng = self.rng()
        n = self.n
        pid, date, marker, method, result = [], [], [], [], []

        def emit(mask, d, mk, me, res):
            idx = np.nonzero(mask)[0]
            pid.append(idx)
            date.append(np.asarray(d)[idx] if np.ndim(d) else np.full(len(idx), d))
            marker.append(np.full(len(idx), mk, dtype=object))
            method.append(np.broadcast_to(np.asarray(me, dtype=object), (n,))[idx])
            result.append(np.broadcast_to(np.asarray(res, dtype=object), (n,))[idx])

        primary = self.dx + _uniform_int(rng, 0, 10, n)
        retest = (self.metastatic & ~self.de_novo
                  & (rng.random(n) < R.her2_retest_at_metastasis))
        meta_test = self.met + _uniform_int(rng, 0, 25, n)
        u = rng.random(n)
        pos = self.her2_positive
        conversion = pos & self.metastatic & ~self.de_novo & (rng.random(n) < R.her2_conversion)
        retest |= conversion
        # HER2-positive patterns
        ihc3 = pos & (u < R.her2_ihc3)
        ihc2 = pos & (u >= R.her2_ihc3) & (u < R.her2_ihc3 + R.her2_ihc2_ish)
        ish = pos & (u >= R.her2_ihc3 + R.her2_ihc2_ish)
        for when, mask in ((primary, ~conversion), (meta_test, retest)):
            emit(ihc3 & mask, when, "HER2", "IHC", "3+")
            emit(ihc2 & mask, when, "HER2", "IHC", "2+")
            emit(ihc2 & mask, when, "HER2", "ISH", "amplified")
            emit(ish & mask, when, "HER2", "ISH", "amplified")
        emit(conversion, primary, "HER2", "IHC", np.where(u < 0.5, "1+", "0"))
        late = pos & self.metastatic & (rng.random(n) < R.her2_late_discordant_test)
        late_date = self.met + _uniform_int(rng, 120, 700, n)
        late &= late_date < m.DATA_CUTOFF - 30
        emit(late, late_date, "HER2", "IHC", "1+")
        # HER2-negative: IHC 0, 1+, 2+ with ISH not amplified; some with a positive
        # primary and a negative metastasis biopsy (the latest test counts)
        neg = self.pop == 2
        v = rng.random(n)
        rev = neg & ~self.de_novo & (rng.random(n) < 0.10)
        neg_date = np.where(rev, meta_test, primary)
        emit(rev, primary, "HER2", "IHC", "3+")
        emit(neg & (v < 0.40), neg_date, "HER2", "IHC", "0")
        emit(neg & (v >= 0.40) & (v < 0.75), neg_date, "HER2", "IHC", "1+")
        emit(neg & (v >= 0.75), neg_date, "HER2", "IHC", "2+")
        emit(neg & (v >= 0.75), neg_date, "HER2", "ISH", "not amplified")
        self.her2_low = neg & (v >= 0.40)
        # equivocal: IHC 2+ without ISH, or with ISH equivocal the same day
        eq = self.pop == 3
        emit(eq, primary, "HER2", "IHC", "2+")
        emit(eq & (v < 0.4), primary, "HER2", "ISH", "equivocal")
        # ER / PR
        has = ~self.no_er_pr
        hr = self.hr_positive
        er_pct = (rng.integers(2, 21, n) * 5).astype(str).astype(object) + "%"
        pr_pct = (rng.integers(1, 19, n) * 5).astype(str).astype(object) + "%"
        w = rng.random(n)
        pr_only = hr & (w < 0.03)
        er_res = np.where(pr_only, "negative",
                          np.where(hr, np.where(w < 0.45, "positive", er_pct),
                                   np.where(w < 0.7, "negative", "0%")))
        z = rng.random(n)
        pr_res = np.where(pr_only, "5%",
                          np.where(hr & (z < 0.65), np.where(z < 0.3, "positive", pr_pct),
                                   np.where(z < 0.85, "negative", "0%")))
        er_method = np.where(rng.random(n) < 0.9, "IHC", np.where(z < 0.5, "unknown", ""))
        emit(has, primary, "ER", er_method, er_res)
        emit(has, primary, "PR", er_method, pr_res)
        out = {
            "patient": np.concatenate(pid),
            "test_date": np.concatenate(date),
            "marker": np.concatenate(marker),
            "method": np.concatenate(method),
            "result": np.concatenate(result),
        }
        return out

    # -- lines of therapy in waves ---------------------------------------------------------------
    def lines(self) -> None:
        rng = self.rng()
        n = self.n
        treated = self.metastatic.copy()
        # horizon: last day anything can happen (death, loss to follow-up, cut-off)
        self.os_median = np.zeros(n)
        self.death = np.full(n, np.iinfo(np.int64).max // 4, dtype=np.int64)
        obs_end = np.minimum(self.ltfu_date, m.DATA_CUTOFF)
        next_start = self.met + _uniform_int(rng, 7, 45, n)
        active = treated.copy()
        prev_sub = np.zeros(n, dtype=np.int64)
        prev_hp = np.zeros(n, dtype=bool)
        received = np.zeros(n, dtype=np.int64)
        # pertuzumab given before: neoadjuvant (then maybe adjuvant), or in an earlier line
        pert_given = self.prior & self.neoadjuvant & (self.p0 >= m.NEOADJUVANT_PERTUZUMAB_FROM)
        long_gap = np.zeros(n, dtype=bool)
        recs: dict[str, list[np.ndarray]] = {}
        conc_w = np.array([m.CONCORDANT_WEIGHTS[r.key] for r in m.REGIMENS])
        dev_w = np.array([m.DEVIATION_WEIGHTS[r.key] for r in m.REGIMENS])
        neg_w = np.array([m.HER2_NEGATIVE_WEIGHTS.get(r.key, 0.0) for r in m.REGIMENS])
        avail = np.array([m.day(r.available_from) for r in m.REGIMENS])
        hr_only = np.array([r.hr_positive_only for r in m.REGIMENS])
        first_only = np.array([r.first_line_only for r in m.REGIMENS])
        reg_group = np.array([m.GRP[r.group] for r in m.REGIMENS])
        tuc, trial, tdxd = m.REG["TUC"], m.REG["TRIAL"], m.REG["TDXD"]
        ici = m.REG["ICI"]
        horizon = obs_end.copy()
        for k in range(1, 13):
            idx = np.nonzero(active)[0]
            if k > 1:
                idx = idx[next_start[idx] < horizon[idx] - 20]
            if len(idx) == 0:
                break
            start = next_start[idx]
            era = era_index(start)
            er = self.early_relapse[idx]
            eval_line = np.where(er & (k == 1), 2, k)
            bucket = np.minimum(eval_line, 4)
            cns = self.cns_date[idx] <= start + 14
            hr = self.hr_positive[idx]
            cat = categorize(era, bucket, cns, hr, received[idx], start, pert_given[idx])
            feas = feasible_regimens(prev_sub[idx], prev_hp[idx],
                                     np.full(len(idx), k == 1) | long_gap[idx])
            feas &= start[:, None] >= avail[None, :]
            feas &= ~(hr_only[None, :] & ~hr[:, None])
            if k > 1:
                feas &= ~first_only[None, :]
            cohort = self.pop[idx] == 0
            # cohort choice: trial, else concordant with the site's probability
            conc = rng.random(len(idx)) < self.site_concordance[self.site[idx]]
            w_conc = conc_w[None, :] * np.where(cat == 0, m.PREFERRED_BONUS, 1.0)
            w_conc = w_conc * np.where(cat <= 1, 1.0, 0.0)
            w_conc[:, tuc] *= np.where(cns, m.CNS_TUCATINIB_BONUS, 1.0)
            w_dev = dev_w[None, :] * (cat == 2)
            w_conc *= feas
            w_dev *= feas
            pick_conc = _choose(rng, w_conc)
            pick_dev = _choose(rng, w_dev)
            pick_any = _choose(rng, feas * (conc_w + dev_w + 1.0)[None, :])
            first_choice = np.where(conc, pick_conc, pick_dev)
            second_choice = np.where(conc, pick_dev, pick_conc)
            choice = np.where(first_choice >= 0, first_choice,
                              np.where(second_choice >= 0, second_choice, pick_any))
            go_trial = (k > 1) & (rng.random(len(idx)) < R.trial_per_line) & feas[:, trial]
            checkpoint = (rng.random(len(idx)) < m.TRIAL_CHECKPOINT_SHARE) & feas[:, ici]
            choice = np.where(go_trial, np.where(checkpoint, ici, trial), choice)
            # other metastatic patients (not HER2-positive): chemotherapy / endocrine, and
            # T-DXd for HER2-low disease after DESTINY-Breast04
            w_neg = np.broadcast_to(neg_w, (len(idx), N_REG)).copy()
            w_neg[:, tdxd] = np.where(self.her2_low[idx] & (start >= m.HER2_LOW_TDXD_FROM)
                                      & (k > 1), m.HER2_LOW_TDXD_WEIGHT, 0.0)
            w_neg *= feas
            pick_neg = _choose(rng, w_neg)
            choice = np.where(cohort, choice, pick_neg)
            ok = choice >= 0
            idx, start, era, eval_line, cns, choice = (
                idx[ok], start[ok], era[ok], eval_line[ok], cns[ok], choice[ok])
            cat = cat[ok]
            active[np.nonzero(active)[0]] = False
            active[idx] = True
            nl = len(idx)
            category = cat[np.arange(nl), choice]
            # slot choices (restricted slots take a drug new to the patient's last line)
            slot_ing = np.full((nl, SLOT_ING.shape[1]), -1, dtype=np.int32)
            for s in range(SLOT_ING.shape[1]):
                opts = SLOT_ING[choice, s]  # (nl, n_opt)
                w = SLOT_W[choice, s].copy()
                restricted = np.isin(SLOT_KIND[choice, s], list(RESTRICTED_SLOTS))
                if k > 1:
                    safe = np.where(opts >= 0, opts, 0)
                    bits = SUB_BIT[safe]
                    new = ((prev_sub[idx][:, None] & bits) == 0) & (opts >= 0)
                    new &= ~(prev_hp[idx][:, None] & MAINT_TYPE[safe])
                    has_new = (new & (w > 0)).any(axis=1)
                    limit = restricted & has_new & ~long_gap[idx]
                    w = np.where(limit[:, None] & ~new, 0.0, w)
                pick = _choose(rng, w)
                slot_ing[:, s] = np.where(pick >= 0, np.take_along_axis(
                    opts, np.maximum(pick, 0)[:, None], axis=1)[:, 0], -1)
            # overall survival, drawn with line 1
            if k == 1:
                g = reg_group[choice]
                med = np.array([m.OS_MONTHS.get(m.GROUPS[x], (24.0, ""))[0]
                                for x in range(N_GRP)])[g] * m.MONTH
                med = np.where(self.pop[idx] == 0, med,
                               m.OS_HER2_NEGATIVE_MONTHS[0] * m.MONTH)
                med = np.where(cns, med * m.OS_CNS_FACTOR, med)
                self.os_median[idx] = med
                # nobody dies before the first line's first dose (3 weeks after, at least)
                os_days = np.maximum(_weibull(rng, med, m.OS_SHAPE).astype(np.int64),
                                     start - self.met[idx] + 21)
                self.death[idx] = self.met[idx] + os_days
                horizon[idx] = np.minimum(obs_end[idx], self.death[idx])
            hz = horizon[idx]
            # time on treatment
            line_key = np.minimum(k, 4)
            ttd_med = np.array([[r.ttd_months.get(b, r.ttd_months[min(r.ttd_months)])[0]
                                 for b in (1, 2, 3, 4)] for r in m.REGIMENS])
            med = ttd_med[choice, line_key - 1] * m.MONTH
            dur = np.maximum(_weibull(rng, med, m.TTD_SHAPE), 1).astype(np.int64)
            room = hz - start - 9  # jitter (<= 7 days) never pushes a dose past the horizon
            dur = np.clip(dur, 0, np.maximum(room, 0))
            # taxane induction length (treatment days from the start)
            tax_doc = _uniform_int(rng, 0, 9, nl)
            n_doc = np.select([tax_doc < 1, tax_doc < 2, tax_doc < 8], [4, 5, 6], 8)
            n_pac = _uniform_int(rng, 12, 18, nl)
            tax_end = np.where(slot_ing[:, 0] == m.ING["docetaxel"], 21 * (n_doc - 1),
                               7 * (n_pac - 1))
            is_ind = np.isin(choice, [m.REG["THP"], m.REG["TH"]])
            tax_end = np.where(is_ind, np.minimum(tax_end, dur), dur)
            # maintenance additions (SPEC §4): endocrine after THP/TH induction, CDK4/6 later
            hrl = self.hr_positive[idx] & cohort[ok]
            maint_ai = np.full(nl, -1, dtype=np.int32)
            maint_ai_t = np.zeros(nl, dtype=np.int64)
            add_ai = (is_ind & hrl & (dur > tax_end + 90)
                      & (rng.random(nl) < R.maintenance_endocrine))
            maint_ai_t[add_ai] = tax_end[add_ai] + _uniform_int(rng, 14, 42, int(add_ai.sum()))
            ai_pick = np.where(rng.random(nl) < 0.6, m.ING["letrozole"], m.ING["anastrozole"])
            maint_ai[add_ai] = ai_pick[add_ai]
            hp_endo = choice == m.REG["HP_ENDO"]
            base_t = np.where(add_ai, maint_ai_t, 0)
            cdk_t = base_t + _uniform_int(rng, 90, 300, nl)
            add_cdk = ((add_ai | hp_endo) & (start >= m.day("2017-01-01"))
                       & (cdk_t < dur - 28) & (rng.random(nl) < R.maintenance_cdk46))
            cdk_pick = np.array([m.ING["palbociclib"], m.ING["ribociclib"],
                                 m.ING["abemaciclib"]])[_uniform_int(rng, 0, 2, nl)]
            maint_cdk = np.where(add_cdk, cdk_pick, -1).astype(np.int32)
            # drug holiday: not for lines with long endocrine courses
            endo_line = add_ai | hp_endo | (choice == m.REG["ENDO"])
            hol = (~endo_line & (dur > 183) & (rng.random(nl) < R.drug_holiday))
            h_off = np.where(hol, _uniform_int(rng, 60, np.maximum(dur - 60, 61), nl), 1 << 40)
            h_len = np.where(hol, _uniform_int(rng, 21, 80, nl), 0)
            over = hol & (dur + h_len > room)
            dur = np.where(over, np.maximum(room - h_len, 0), dur)
            hol &= h_off < dur
            h_off = np.where(hol, h_off, 1 << 40)
            h_len = np.where(hol, h_len, 0)
            tax_end = np.minimum(tax_end, dur)
            maint_ai = np.where(maint_ai_t < dur, maint_ai, -1)
            maint_cdk = np.where(cdk_t < dur, maint_cdk, -1)
            end_cal = start + dur + h_len
            # switch docetaxel -> paclitaxel within induction, Phesgo from mid-2020
            tax_switch = (is_ind & (slot_ing[:, 0] == m.ING["docetaxel"]) & (tax_end >= 63)
                          & (rng.random(nl) < R.taxane_switch))
            has_hp = np.isin(choice, [m.REG["THP"], m.REG["HP_ENDO"]])
            phesgo = has_hp & (start >= m.day("2020-07-01")) & (rng.random(nl) < R.phesgo)
            # what next: horizon, stop (best supportive care), or the next line
            reached = start + dur + h_len >= hz - 8
            stop = reached | (rng.random(nl) < R.stop_after_line[min(k, 5) - 1])
            lg = rng.random(nl) < R.long_gap_between_lines
            gap = np.where(lg, _uniform_int(rng, 140, 300, nl), _uniform_int(rng, 14, 45, nl))
            # the next line starts after this line's regimen window (SPEC §4 rule 2)
            nxt = np.maximum(end_cal + gap, start + 35)
            new_cns = (~stop & (self.cns_date[idx] > nxt)
                       & (rng.random(nl) < R.cns_new_per_line))
            cns_idx = idx[new_cns]
            self.cns_date[cns_idx] = nxt[new_cns] - _uniform_int(rng, 3, 20, int(new_cns.sum()))
            self.lepto[cns_idx] = rng.random(len(cns_idx)) < R.leptomeningeal_share
            for name, arr in (("patient", idx), ("line_number", np.full(nl, k)),
                              ("regimen", choice), ("start", start), ("dur", dur),
                              ("h_off", h_off), ("h_len", h_len), ("tax_end", tax_end),
                              ("maint_ai", maint_ai), ("maint_ai_t", maint_ai_t),
                              ("maint_cdk", maint_cdk), ("maint_cdk_t", cdk_t),
                              ("tax_switch", tax_switch), ("phesgo", phesgo),
                              ("era", era), ("eval_line", eval_line), ("category", category),
                              ("cns_gen", cns), ("end_cal", end_cal), ("long_gap", long_gap[idx]),
                              ("gap_next", np.where(stop, -1, gap))):
                recs.setdefault(name, []).append(np.asarray(arr))
            for s in range(slot_ing.shape[1]):
                recs.setdefault(f"slot{s}", []).append(slot_ing[:, s])
            # state for the next wave
            cont = ~stop
            active[idx[stop]] = False
            next_start[idx] = nxt
            long_gap[idx] = lg
            ing_mask = np.zeros(nl, dtype=np.int64)
            sub = np.zeros(nl, dtype=np.int64)
            for s in range(slot_ing.shape[1]):
                si = slot_ing[:, s]
                okk = si >= 0
                ing_mask[okk] |= np.int64(1) << si[okk].astype(np.int64)
                sub[okk] |= SUB_BIT[si[okk]]
            prev_sub[idx] = sub
            prev_hp[idx] = (ing_mask & HP_MASK) != 0
            received[idx] |= np.int64(1) << reg_group[choice].astype(np.int64)
            pert_given[idx] |= (slot_ing == m.ING["pertuzumab"]).any(axis=1)
            del cont
        if not recs:  # nobody metastatic: an empty line table with the same columns
            recs = {k: [np.zeros(0, dtype=np.int64)] for k in LINE_KEYS}
            recs.update({f"slot{s}": [np.zeros(0, dtype=np.int32)]
                         for s in range(SLOT_ING.shape[1])})
            for k in ("tax_switch", "phesgo", "cns_gen", "long_gap"):
                recs[k] = [np.zeros(0, dtype=bool)]
        self.line = {k: np.concatenate(v) for k, v in recs.items()}
        order = np.lexsort((self.line["line_number"], self.line["patient"]))
        self.line = {k: v[order] for k, v in self.line.items()}
        self.horizon = horizon
        self.obs_end = obs_end
        self.say(f"synth: {len(order):,} lines of therapy for {int(treated.sum()):,} "
                 "metastatic patients")

    # -- administrations ------------------------------------------------------------------------
    def _expand(self, rows: Rows, comp: dict[str, np.ndarray], kind: int) -> None:
        """Expand components (one drug given on a schedule over [t_from, t_to] treatment
        days of an anchor date) into administration rows."""
        for sname, (cycle, offsets, course) in SCHEDULES.items():
            sel = comp["sched"] == SCHED[sname]
            if not sel.any():
                continue
            c = {k: v[sel] for k, v in comp.items()}
            span = np.maximum(c["t_to"] - c["t_from"], 0)
            n_cyc = span // cycle + 1
            reps = len(offsets)
            ci = np.repeat(np.arange(len(n_cyc), dtype=np.int32), n_cyc * reps)
            first = (np.cumsum(n_cyc) - n_cyc) * reps
            k = np.arange(len(ci), dtype=np.int32) - np.repeat(first, n_cyc * reps).astype(
                np.int32)
            cyc, slot = np.divmod(k, np.int32(reps))
            del k, first
            t = (c["t_from"][ci] + cyc * cycle
                 + np.array(offsets, dtype=np.int32)[slot]).astype(np.int32)
            del cyc, slot
            keep = t <= c["t_to"][ci]
            ci, t = ci[keep], t[keep]
            del keep
            line_id = c["line"][ci]
            # IV dates vary by 0-3 days per cycle (a week's delay now and then), shared by
            # every drug of the cycle; never on the first cycle
            if course == 0:
                hu = _hash_unit(np.where(line_id >= 0, line_id, c["patient"][ci] + (1 << 32)),
                                t // 7, self.seed)
                jit = np.where(hu < 0.05, 7, (hu * 80).astype(np.int32) % 4).astype(np.int32)
                del hu
                jit[t == 0] = 0
                if cycle == 7:
                    jit = np.minimum(jit, 1)
            else:
                jit = np.zeros(len(t), dtype=np.int32)
            h_off = c["h_off"][ci]
            h_len = c["h_len"][ci]
            tj = t + jit
            cal = tj + np.where(t >= h_off, h_len, 0)
            start = c["anchor"][ci] + cal
            if course:
                t_end = t + course - 1
                t_end = np.minimum(t_end, c["t_to"][ci])
                t_end = np.where(t < h_off, np.minimum(t_end, h_off - 1), t_end)
                t_end = np.maximum(t_end, t)
                end = c["anchor"][ci] + t_end + np.where(t >= h_off, h_len, 0)
            else:
                end = np.full(len(t), -1, dtype=np.int64)
            rows.add(patient=c["patient"][ci].astype(np.int32), line=line_id.astype(np.int32),
                     ing=c["ing"][ci].astype(np.int16),
                     product=PRODUCT_OF_ING[c["ing"][ci]],
                     start=start.astype(np.int32), end=end.astype(np.int32),
                     setting=c["setting"][ci].astype(np.int8), maint=c["maint"][ci],
                     t=t.astype(np.int32), comp=c["comp"][ci].astype(np.int32),
                     kind=np.full(len(t), kind, dtype=np.int8))

    def administrations(self) -> dict[str, np.ndarray]:
        rng = self.rng()
        L = self.line
        nl = len(L["patient"])
        rows = Rows()
        parts: dict[str, list[np.ndarray]] = {}
        endo_course = self.site_endo_course[self.site[L["patient"]]]

        def comp(mask, ing, t_from, t_to, sched, maint=False):
            k = int(mask.sum())
            if not k:
                return
            vals = {
                "line": np.nonzero(mask)[0], "ing": np.asarray(ing)[mask]
                if np.ndim(ing) else np.full(k, ing),
                "t_from": np.broadcast_to(t_from, (nl,))[mask],
                "t_to": np.broadcast_to(t_to, (nl,))[mask],
                "sched": np.broadcast_to(sched, (nl,))[mask],
                "maint": np.full(k, maint),
            }
            for key, v in vals.items():
                parts.setdefault(key, []).append(np.asarray(v))

        dur = L["dur"]
        for s in range(SLOT_ING.shape[1]):
            ing = L[f"slot{s}"]
            has = ing >= 0
            for i, name in enumerate(m.INGREDIENTS):
                sel = has & (ing == i)
                if not sel.any():
                    continue
                sched = np.full(nl, SCHED[drug_schedule(name)])
                if name in ("letrozole", "anastrozole", "exemestane", "tamoxifen"):
                    sched = np.where(endo_course == 30, SCHED["endo_30"], SCHED["endo_90"])
                t_to = dur
                if s == 0:
                    t_to = np.where(np.isin(L["regimen"], [m.REG["THP"], m.REG["TH"]]),
                                    L["tax_end"], dur)
                    if name == "docetaxel":
                        sched = np.full(nl, SCHED["q3w"])
                comp(sel, i, 0, t_to, sched)
        ai = L["maint_ai"]
        for name in ("letrozole", "anastrozole"):
            sel = ai == m.ING[name]
            comp(sel, m.ING[name], L["maint_ai_t"], dur,
                 np.where(endo_course == 30, SCHED["endo_30"], SCHED["endo_90"]), maint=True)
        cdk = L["maint_cdk"]
        comp(cdk >= 0, np.where(cdk >= 0, cdk, 0), L["maint_cdk_t"], dur, SCHED["cdk"],
             maint=True)
        c = _components(parts)
        li = c["line"]
        c.update(patient=L["patient"][li], anchor=L["start"][li], h_off=L["h_off"][li],
                 h_len=L["h_len"][li], comp=np.arange(len(li)),
                 setting=np.full(len(li), S_MET, dtype=np.int8))
        self._expand(rows, c, kind=0)
        n_line_comp = len(li)
        self.comp_line = li

        # (neo)adjuvant programmes
        p = np.nonzero(self.prior)[0]
        p0 = self.p0[p]
        neo = self.neoadjuvant[p]
        tdm1 = self.adj_tdm1[p]
        pert_neo = p0 >= m.NEOADJUVANT_PERTUZUMAB_FROM
        pert_adj = (p0 >= m.day("2017-12-20")) & (self.adj_pertuzumab_u[p] < 0.4)
        adj_parts: dict[str, list[np.ndarray]] = {}

        def acomp(mask, ing, t_from, t_to, sched, setting):
            k = int(mask.sum())
            if not k:
                return
            for key, v in (("patient", p[mask]), ("anchor", p0[mask]),
                           ("ing", np.full(k, m.ING[ing])),
                           ("t_from", np.broadcast_to(t_from, (len(p),))[mask]),
                           ("t_to", np.broadcast_to(t_to, (len(p),))[mask]),
                           ("sched", np.full(k, SCHED[sched])),
                           ("setting", np.full(k, setting, dtype=np.int8))):
                adj_parts.setdefault(key, []).append(np.asarray(v))

        for ing in ("docetaxel", "carboplatin", "trastuzumab"):
            acomp(neo, ing, 0, 105, "q3w", S_NEO)
        acomp(neo & pert_neo, "pertuzumab", 0, 105, "q3w", S_NEO)
        acomp(neo & ~tdm1, "trastuzumab", 147, 357, "q3w", S_ADJ)
        acomp(neo & ~tdm1 & pert_adj, "pertuzumab", 147, 357, "q3w", S_ADJ)
        acomp(neo & tdm1, "trastuzumab emtansine", 147, 147 + 13 * 21, "q3w", S_ADJ)
        acomp(~neo, "doxorubicin", 0, 63, "q3w", S_ADJ)
        acomp(~neo, "cyclophosphamide", 0, 63, "q3w", S_ADJ)
        acomp(~neo, "paclitaxel", 84, 84 + 77, "weekly", S_ADJ)
        acomp(~neo, "trastuzumab", 84, 420, "q3w", S_ADJ)
        # adjuvant endocrine therapy for HR-positive disease, ending >= 35 days before
        # metastasis (so that rows with an empty setting still date as adjuvant)
        hrp = self.hr_positive[p]
        stop_at = np.where(self.metastatic[p], self.met[p] - 35 - p0,
                           m.DATA_CUTOFF - 30 - p0)
        e_to = np.minimum(180 + 5 * 365, stop_at)
        young = self.age[p] < 50
        for ing, mask in (("tamoxifen", young), ("letrozole", ~young)):
            acomp(hrp & mask & (e_to > 180), ing, 180, e_to, "endo_90", S_ADJ)
        a = _components(adj_parts)
        na = len(a["patient"])
        a.update(line=np.full(na, -1), comp=n_line_comp + np.arange(na), maint=np.zeros(na, bool),
                 h_off=np.full(na, 1 << 40), h_len=np.zeros(na, dtype=np.int64))
        self._expand(rows, a, kind=1)
        n_comp = n_line_comp + na

        # supportive care: bone agents for bone metastases; filled in after the rows exist
        out = rows.concat()
        out = self._supportive(rng, out, n_comp)
        return out

    def _supportive(self, rng, out: dict[str, np.ndarray], n_comp: int) -> dict[str, np.ndarray]:
        n = self.n
        extra = Rows()
        # bone-targeted agents from line 1 for patients with bone metastases
        bone = self.bone & (rng.random(n) < R.supportive_bone_agent)
        first_line = np.full(n, -1, dtype=np.int64)
        L = self.line
        is1 = L["line_number"] == 1
        first_line[L["patient"][is1]] = L["start"][is1]
        bone &= first_line >= 0
        pidx = np.nonzero(bone)[0]
        zol = rng.random(len(pidx)) < 0.5
        anchor = first_line[pidx] + _uniform_int(rng, 0, 60, len(pidx))
        t_to = self.horizon[pidx] - 10 - anchor
        keep = t_to > 0
        pidx, zol, anchor, t_to = pidx[keep], zol[keep], anchor[keep], t_to[keep]
        k = len(pidx)
        comp = {
            "patient": pidx, "anchor": anchor, "line": np.full(k, -1),
            "ing": np.where(zol, m.ING["zoledronic acid"], m.ING["denosumab"]),
            "t_from": np.zeros(k, dtype=np.int64), "t_to": t_to,
            "sched": np.where(zol, SCHED["q12w"], SCHED["q28"]),
            "setting": np.where(rng.random(k) < 0.5, S_MET, S_EMPTY).astype(np.int8),
            "maint": np.zeros(k, bool), "h_off": np.full(k, 1 << 40),
            "h_len": np.zeros(k, dtype=np.int64), "comp": n_comp + np.arange(k),
        }
        self._expand(extra, comp, kind=2)
        # growth factors after docetaxel, antiemetics on IV chemotherapy days
        ing = out["ing"]
        doc = np.nonzero(ing == m.ING["docetaxel"])[0]
        gcsf = doc[rng.random(len(doc)) < R.supportive_gcsf]
        chemo_iv = np.isin(ing, [m.ING[x] for x in ("docetaxel", "paclitaxel", "nab-paclitaxel",
                                                    "trastuzumab deruxtecan", "vinorelbine",
                                                    "eribulin", "gemcitabine", "carboplatin",
                                                    "doxorubicin")])
        ivr = np.nonzero(chemo_iv)[0]
        emet = ivr[rng.random(len(ivr)) < R.supportive_antiemetic]
        dexa = emet[rng.random(len(emet)) < 0.5]
        for src, drug, shift in ((gcsf, "pegfilgrastim", 1), (emet, "ondansetron", 0),
                                 (dexa, "dexamethasone", 0)):
            k = len(src)
            drug_ids = np.full(k, m.ING[drug])
            if drug == "pegfilgrastim":
                drug_ids = np.where(rng.random(k) < 0.3, m.ING["filgrastim"], drug_ids)
            extra.add(patient=out["patient"][src], line=np.full(k, -1, dtype=np.int32),
                      ing=drug_ids.astype(np.int16), product=PRODUCT_OF_ING[drug_ids],
                      start=out["start"][src] + np.int32(shift),
                      end=np.full(k, -1, dtype=np.int32),
                      setting=out["setting"][src], maint=np.zeros(k, bool),
                      t=np.zeros(k, dtype=np.int32), comp=np.full(k, -1, dtype=np.int32),
                      kind=np.full(k, 2, dtype=np.int8))
        sup = extra.concat()
        for key in list(out):
            out[key] = np.concatenate([out[key], sup.pop(key)])
        return out

    # -- everything -----------------------------------------------------------------------
    def run(self) -> dict:
        self.sites()
        self.patients()
        self.say(f"synth: {self.n:,} patients at {self.n_sites} sites")
        bio = self.biomarkers()
        # metastatic sites at diagnosis (bone drives bone-targeted agents)
        rng = self.rng()
        n = self.n
        site_p = {"bone": 0.55, "liver": 0.35, "lung": 0.30, "lymph_node": 0.35,
                  "pleura": 0.08, "skin": 0.05, "other": 0.05}
        met_sites = {s: self.metastatic & (rng.random(n) < p) for s, p in site_p.items()}
        none = self.metastatic & ~np.any(np.stack(list(met_sites.values())), axis=0)
        met_sites["lymph_node"] |= none
        self.bone = met_sites["bone"]
        self.met_sites = met_sites
        self.met_site_date = self.met + _uniform_int(rng, 0, 10, n)
        self.lines()
        adm = self.administrations()
        self.say(f"synth: {len(adm['patient']):,} administrations before mess")
        return {"biomarkers": bio, "administrations": adm}
