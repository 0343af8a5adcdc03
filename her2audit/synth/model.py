"""The synthetic registry's model as data: vocabulary, regimens, rulebook reading, rates
and outcome medians. `generator.py` only executes what is written here; README.md
documents every number.

Dates are integer days since 1970-01-01 inside the generator.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

EPOCH = dt.date(1970, 1, 1)


def day(iso: str) -> int:
    return (dt.date.fromisoformat(iso) - EPOCH).days


MONTH = 30.4375  # days per month, to turn trial medians in months into days

# --------------------------------------------------------------------------------------
# Calendar
# --------------------------------------------------------------------------------------
DATA_CUTOFF = day("2026-06-30")
METASTATIC_FROM = day("2014-01-01")  # metastatic diagnoses are spread over this range
METASTATIC_TO = day("2026-03-31")

# Guideline eras (SPEC §6): the rulebook in force at a line's start.
ERAS: list[tuple[str, int]] = [
    ("her2-mbc-2013", day("2013-02-22")),
    ("her2-mbc-2020", day("2020-04-17")),
    ("her2-mbc-2023", day("2022-05-04")),
    ("her2-mbc-2025", day("2025-12-15")),
]

# --------------------------------------------------------------------------------------
# Vocabulary: canonical ingredients, their SPEC §3 class, and source spellings
# --------------------------------------------------------------------------------------
INGREDIENT_CLASS: dict[str, str] = {
    "trastuzumab": "anti_her2_antibody",
    "pertuzumab": "anti_her2_antibody",
    "margetuximab": "anti_her2_antibody",
    "trastuzumab deruxtecan": "anti_her2_adc",
    "trastuzumab emtansine": "anti_her2_adc",
    "tucatinib": "anti_her2_tki",
    "neratinib": "anti_her2_tki",
    "lapatinib": "anti_her2_tki",
    "docetaxel": "taxane",
    "paclitaxel": "taxane",
    "nab-paclitaxel": "taxane",
    "capecitabine": "chemotherapy",
    "vinorelbine": "chemotherapy",
    "eribulin": "chemotherapy",
    "gemcitabine": "chemotherapy",
    "carboplatin": "chemotherapy",
    "doxorubicin": "chemotherapy",
    "cyclophosphamide": "chemotherapy",
    "letrozole": "endocrine",
    "anastrozole": "endocrine",
    "exemestane": "endocrine",
    "tamoxifen": "endocrine",
    "fulvestrant": "endocrine",
    "palbociclib": "cdk46_inhibitor",
    "ribociclib": "cdk46_inhibitor",
    "abemaciclib": "cdk46_inhibitor",
    "pembrolizumab": "immunotherapy",
    "atezolizumab": "immunotherapy",
    "zanidatamab": "investigational",
    "study drug": "investigational",
    "blinded": "investigational",
    "denosumab": "supportive",
    "zoledronic acid": "supportive",
    "filgrastim": "supportive",
    "pegfilgrastim": "supportive",
    "ondansetron": "supportive",
    "dexamethasone": "supportive",
}
INGREDIENTS: list[str] = list(INGREDIENT_CLASS)
ING = {name: i for i, name in enumerate(INGREDIENTS)}

# SPEC §4 substitution groups: a drug of the same group never starts a new line.
SUBSTITUTION_GROUP: dict[str, str] = {
    "docetaxel": "taxane", "paclitaxel": "taxane", "nab-paclitaxel": "taxane",
    "letrozole": "aromatase_inhibitor", "anastrozole": "aromatase_inhibitor",
}

# Spellings as written in the source, per ingredient, with relative weights. The first
# spelling of each ingredient is the canonical lower-case generic name. A tuple of
# ingredients is a combination product (Phesgo = pertuzumab + trastuzumab).
SPELLINGS: dict[tuple[str, ...], list[tuple[str, float]]] = {
    ("trastuzumab",): [
        ("trastuzumab", 30), ("Trastuzumab", 12), ("Herceptin", 20), ("HERCEPTIN", 3),
        ("trastuzumab-dkst", 3), ("Ogivri", 3), ("trastuzumab-anns", 2), ("Kanjinti", 3),
        ("trastuzumab-qyyp", 2), ("Trazimera", 3), ("trastuzumab-pkrb", 1), ("Herzuma", 2),
        ("trastuzumab-dttb", 1), ("Ontruzant", 2), ("trastuzumab-strf", 1),
        ("Herceptin Hylecta", 3), ("trastuzumab and hyaluronidase-oysk", 1),
    ],
    ("pertuzumab",): [("pertuzumab", 40), ("Pertuzumab", 12), ("Perjeta", 30), ("PERJETA", 3)],
    ("pertuzumab", "trastuzumab"): [
        ("Phesgo", 80), ("PHESGO", 8), ("pertuzumab/trastuzumab/hyaluronidase", 12),
    ],
    ("margetuximab",): [("margetuximab", 50), ("Margenza", 40), ("margetuximab-cmkb", 10)],
    ("trastuzumab emtansine",): [
        ("trastuzumab emtansine", 30), ("Kadcyla", 30), ("ado-trastuzumab emtansine", 25),
        ("KADCYLA", 3), ("T-DM1", 5),
    ],
    ("trastuzumab deruxtecan",): [
        ("trastuzumab deruxtecan", 30), ("Enhertu", 30),
        ("fam-trastuzumab deruxtecan-nxki", 25), ("ENHERTU", 3), ("DS-8201", 4), ("T-DXd", 5),
    ],
    ("tucatinib",): [("tucatinib", 50), ("Tukysa", 45), ("TUKYSA", 5)],
    ("neratinib",): [("neratinib", 50), ("Nerlynx", 45), ("NERLYNX", 5)],
    ("lapatinib",): [("lapatinib", 50), ("Tykerb", 40), ("Tyverb", 10)],
    ("docetaxel",): [("docetaxel", 60), ("Taxotere", 30), ("DOCETAXEL", 5)],
    ("paclitaxel",): [("paclitaxel", 60), ("Taxol", 30), ("PACLITAXEL", 5)],
    ("nab-paclitaxel",): [("nab-paclitaxel", 40), ("Abraxane", 40),
                          ("paclitaxel protein-bound", 20)],
    ("capecitabine",): [("capecitabine", 55), ("Xeloda", 40), ("CAPECITABINE", 5)],
    ("vinorelbine",): [("vinorelbine", 70), ("Navelbine", 30)],
    ("eribulin",): [("eribulin", 60), ("Halaven", 40)],
    ("gemcitabine",): [("gemcitabine", 70), ("Gemzar", 30)],
    ("carboplatin",): [("carboplatin", 80), ("Paraplatin", 20)],
    ("doxorubicin",): [("doxorubicin", 70), ("Adriamycin", 30)],
    ("cyclophosphamide",): [("cyclophosphamide", 70), ("Cytoxan", 30)],
    ("letrozole",): [("letrozole", 60), ("Femara", 40)],
    ("anastrozole",): [("anastrozole", 60), ("Arimidex", 40)],
    ("exemestane",): [("exemestane", 60), ("Aromasin", 40)],
    ("tamoxifen",): [("tamoxifen", 70), ("tamoxifen citrate", 20), ("Nolvadex", 10)],
    ("fulvestrant",): [("fulvestrant", 60), ("Faslodex", 40)],
    ("palbociclib",): [("palbociclib", 50), ("Ibrance", 50)],
    ("ribociclib",): [("ribociclib", 50), ("Kisqali", 50)],
    ("abemaciclib",): [("abemaciclib", 50), ("Verzenio", 50)],
    ("pembrolizumab",): [("pembrolizumab", 60), ("Keytruda", 40)],
    ("atezolizumab",): [("atezolizumab", 60), ("Tecentriq", 40)],
    ("zanidatamab",): [("zanidatamab", 60), ("ZW25", 40)],
    ("study drug",): [("study drug", 80), ("investigational drug", 20)],
    ("blinded",): [("blinded", 70), ("blinded study drug", 30)],
    ("denosumab",): [("denosumab", 50), ("Xgeva", 50)],
    ("zoledronic acid",): [("zoledronic acid", 60), ("Zometa", 40)],
    ("filgrastim",): [("filgrastim", 40), ("Neupogen", 30), ("filgrastim-sndz", 15),
                      ("Zarxio", 15)],
    ("pegfilgrastim",): [("pegfilgrastim", 50), ("Neulasta", 50)],
    ("ondansetron",): [("ondansetron", 60), ("Zofran", 40)],
    ("dexamethasone",): [("dexamethasone", 70), ("Decadron", 30)],
}
# Names that map to nothing: they must be reported as unmapped, never dropped silently.
JUNK_NAMES = ["unknown chemo", "see notes", "med list reviewed"]

# Codes only where checked against the WHO ATC index (2024 edition); other rows leave
# drug_code and code_system empty. Never given for combination products.
ATC_CODES: dict[str, str] = {
    "trastuzumab": "L01FD01",
    "pertuzumab": "L01FD02",
    "trastuzumab emtansine": "L01FD03",
    "trastuzumab deruxtecan": "L01FD04",
    "lapatinib": "L01EH01",
    "neratinib": "L01EH02",
    "tucatinib": "L01EH03",
    "capecitabine": "L01BC06",
    "docetaxel": "L01CD02",
    "paclitaxel": "L01CD01",
    "letrozole": "L02BG04",
    "anastrozole": "L02BG03",
    "tamoxifen": "L02BA01",
    "fulvestrant": "L02BA03",
}

ROUTES = ["IV", "SC", "oral", "IM", ""]
# Neoadjuvant TCHP includes pertuzumab for programmes started from its US neoadjuvant
# approval (2013-09-30); the rulebooks ask whether pertuzumab was ever given.
NEOADJUVANT_PERTUZUMAB_FROM = day("2013-09-30")
ORAL = {"tucatinib", "neratinib", "lapatinib", "capecitabine", "letrozole", "anastrozole",
        "exemestane", "tamoxifen", "palbociclib", "ribociclib", "abemaciclib", "ondansetron",
        "dexamethasone"}

# --------------------------------------------------------------------------------------
# Regimen groups and names (SPEC §5)
# --------------------------------------------------------------------------------------
GROUPS = [
    "taxane_trastuzumab_pertuzumab", "trastuzumab_pertuzumab", "trastuzumab_chemotherapy",
    "trastuzumab_deruxtecan", "trastuzumab_emtansine", "tucatinib_trastuzumab_capecitabine",
    "neratinib_capecitabine", "lapatinib_capecitabine", "lapatinib_trastuzumab",
    "margetuximab_chemotherapy", "trastuzumab_deruxtecan_pertuzumab",
    "tucatinib_trastuzumab_emtansine", "her2_endocrine", "endocrine_only", "chemotherapy_only",
    "investigational", "other",
]
GRP = {g: i for i, g in enumerate(GROUPS)}


@dataclass(frozen=True)
class Regimen:
    """A regimen the generator can choose for a line.

    `slots` are the drugs started at the line's start: each a list of (ingredient, weight)
    options (one is drawn per line) and a schedule (see generator.SCHEDULES).
    `ttd_months` is the median time on treatment per line (1, 2, 3, 4+) with its source.
    """

    key: str
    name: str
    group: str
    slots: list[tuple[list[tuple[str, float]], str]]
    ttd_months: dict[int, tuple[float, str]]
    available_from: str = "2000-01-01"
    hr_positive_only: bool = False
    first_line_only: bool = False
    her2_negative_population: bool = False  # also given to HER2-negative patients


TAXANE_INDUCTION = [("docetaxel", 70), ("paclitaxel", 25), ("nab-paclitaxel", 5)]
OTHER_CHEMO = [("vinorelbine", 35), ("capecitabine", 30), ("eribulin", 25), ("gemcitabine", 10)]
AROMATASE = [("letrozole", 60), ("anastrozole", 40)]

REGIMENS: list[Regimen] = [
    Regimen("THP", "THP", "taxane_trastuzumab_pertuzumab",
            [(TAXANE_INDUCTION, "taxane_induction"), ([("trastuzumab", 1)], "q3w"),
             ([("pertuzumab", 1)], "q3w")],
            {1: (18.7, "CLEOPATRA (Swain 2015), median PFS 18.7 mo"),
             2: (11.1, "PHEREXA (Urruticoechea 2017), median PFS 11.1 mo"),
             3: (9.0, "assumed, later-line pertuzumab re-use"),
             4: (9.0, "assumed, later-line pertuzumab re-use")}),
    Regimen("TH", "TH", "trastuzumab_chemotherapy",
            [(TAXANE_INDUCTION, "taxane_induction"), ([("trastuzumab", 1)], "q3w")],
            {1: (12.4, "CLEOPATRA control arm (Baselga 2012), median PFS 12.4 mo"),
             2: (8.2, "GBG 26 (von Minckwitz 2009), median TTP 8.2 mo"),
             3: (8.2, "GBG 26 (von Minckwitz 2009), median TTP 8.2 mo"),
             4: (8.2, "GBG 26 (von Minckwitz 2009), median TTP 8.2 mo")}),
    Regimen("HP_ENDO", "Anti-HER2 + endocrine (± CDK4/6 inhibitor)", "her2_endocrine",
            [([("trastuzumab", 1)], "q3w"), ([("pertuzumab", 1)], "q3w"),
             (AROMATASE, "oral_endocrine")],
            {1: (18.9, "PERTAIN (Rimawi 2018), median PFS 18.89 mo")},
            hr_positive_only=True, first_line_only=True),
    Regimen("TDM1", "T-DM1", "trastuzumab_emtansine",
            [([("trastuzumab emtansine", 1)], "q3w")],
            {1: (14.1, "MARIANNE (Perez 2017), median PFS 14.1 mo"),
             2: (9.6, "EMILIA (Verma 2012), median PFS 9.6 mo"),
             3: (6.2, "TH3RESA (Krop 2014), median PFS 6.2 mo"),
             4: (6.2, "TH3RESA (Krop 2014), median PFS 6.2 mo")},
            available_from="2013-02-22"),
    Regimen("TDXD", "T-DXd", "trastuzumab_deruxtecan",
            [([("trastuzumab deruxtecan", 1)], "q3w")],
            {1: (28.8, "DESTINY-Breast03 (Cortes 2022), median PFS 28.8 mo"),
             2: (28.8, "DESTINY-Breast03 (Cortes 2022), median PFS 28.8 mo"),
             3: (19.4, "DESTINY-Breast01 (Saura 2024), median PFS 19.4 mo"),
             4: (17.8, "DESTINY-Breast02 (Andre 2023), median PFS 17.8 mo")},
            available_from="2019-12-20"),
    Regimen("TDXD_P", "T-DXd + pertuzumab", "trastuzumab_deruxtecan_pertuzumab",
            [([("trastuzumab deruxtecan", 1)], "q3w"), ([("pertuzumab", 1)], "q3w")],
            {k: (40.7, "DESTINY-Breast09 (Tolaney 2025), median PFS 40.7 mo")
             for k in (1, 2, 3, 4)},
            available_from="2025-12-15"),
    Regimen("TUC_TDM1", "Tucatinib + T-DM1", "tucatinib_trastuzumab_emtansine",
            [([("tucatinib", 1)], "oral_28"), ([("trastuzumab emtansine", 1)], "q3w")],
            {k: (9.5, "HER2CLIMB-02 (Hurvitz 2025), median PFS 9.5 mo") for k in (1, 2, 3, 4)},
            available_from="2024-01-01"),
    Regimen("TUC", "Tucatinib + trastuzumab + capecitabine", "tucatinib_trastuzumab_capecitabine",
            [([("tucatinib", 1)], "oral_28"), ([("trastuzumab", 1)], "q3w"),
             ([("capecitabine", 1)], "cape")],
            {k: (7.8, "HER2CLIMB (Murthy 2020), median PFS 7.8 mo") for k in (1, 2, 3, 4)},
            available_from="2020-04-17"),
    Regimen("NER_CAP", "Neratinib + capecitabine", "neratinib_capecitabine",
            [([("neratinib", 1)], "oral_28"), ([("capecitabine", 1)], "cape")],
            {k: (5.6, "NALA (Saura 2020), median PFS 5.6 mo") for k in (1, 2, 3, 4)},
            available_from="2020-02-25"),
    Regimen("LAP_CAP", "Lapatinib + capecitabine", "lapatinib_capecitabine",
            [([("lapatinib", 1)], "oral_28"), ([("capecitabine", 1)], "cape")],
            {k: (6.2, "EGF100151 (Cameron 2008), median TTP 6.2 mo") for k in (1, 2, 3, 4)}),
    Regimen("LAP_H", "Lapatinib + trastuzumab", "lapatinib_trastuzumab",
            [([("lapatinib", 1)], "oral_28"), ([("trastuzumab", 1)], "q3w")],
            {k: (2.8, "EGF104900 (Blackwell 2010), median PFS 12.0 weeks")
             for k in (1, 2, 3, 4)}),
    Regimen("MARG", "Margetuximab + chemotherapy", "margetuximab_chemotherapy",
            [([("margetuximab", 1)], "q3w"), (OTHER_CHEMO, "other_chemo")],
            {k: (5.8, "SOPHIA (Rugo 2021), median PFS 5.8 mo") for k in (1, 2, 3, 4)},
            available_from="2020-12-16"),
    Regimen("H_CHEMO", "Trastuzumab + other chemotherapy", "trastuzumab_chemotherapy",
            [([("trastuzumab", 1)], "q3w"), (OTHER_CHEMO, "other_chemo")],
            {k: (8.2, "GBG 26 (von Minckwitz 2009), median TTP 8.2 mo") for k in (1, 2, 3, 4)}),
    Regimen("CHEMO", "Chemotherapy, no anti-HER2", "chemotherapy_only",
            [([("capecitabine", 35), ("vinorelbine", 25), ("eribulin", 20), ("paclitaxel", 20)],
              "chemo_any")],
            {k: (4.4, "EGF100151 capecitabine arm (Geyer 2006), median TTP 4.4 mo")
             for k in (1, 2, 3, 4)}, her2_negative_population=True),
    Regimen("ENDO", "Endocrine (± CDK4/6 inhibitor), no anti-HER2", "endocrine_only",
            [([("letrozole", 40), ("anastrozole", 20), ("exemestane", 10), ("fulvestrant", 30)],
              "endocrine_any"),
             ([("palbociclib", 50), ("ribociclib", 30), ("abemaciclib", 20), ("", 120)],
              "oral_28")],
            {k: (4.8, "TAnDEM anastrozole arm (Kaufman 2009), median PFS 2.4 mo, "
                      "PALOMA-3 HER2-negative reference 4.8 mo (assumed mix)")
             for k in (1, 2, 3, 4)}, hr_positive_only=True, her2_negative_population=True),
    Regimen("TRIAL", "Any line with an investigational agent", "investigational",
            [([("zanidatamab", 50), ("study drug", 30), ("blinded", 20)], "q3w")],
            {k: (5.5, "assumed (zanidatamab phase 1, Meric-Bernstam 2022, heavily "
                      "pretreated)") for k in (1, 2, 3, 4)}),
    # trial participation without an investigational agent: anti-HER2 + checkpoint inhibitor
    Regimen("ICI", "Anti-HER2 + immune checkpoint inhibitor", "investigational",
            [([("trastuzumab", 60), ("trastuzumab emtansine", 40)], "q3w"),
             ([("pembrolizumab", 60), ("atezolizumab", 40)], "q3w")],
            {k: (8.2, "KATE2 T-DM1 + atezolizumab arm (Emens 2020), median PFS 8.2 mo")
             for k in (1, 2, 3, 4)}),
]
REG = {r.key: i for i, r in enumerate(REGIMENS)}

# Overall survival from metastatic diagnosis by the first line's regimen group
# (Weibull, shape OS_SHAPE, scale set so the median is the trial's).
OS_SHAPE = 1.3
TTD_SHAPE = 1.2
OS_MONTHS: dict[str, tuple[float, str]] = {
    "taxane_trastuzumab_pertuzumab": (57.1, "CLEOPATRA (Swain 2015), median OS 57.1 mo"),
    "trastuzumab_chemotherapy": (40.8, "CLEOPATRA control arm (Swain 2015), median OS 40.8 mo"),
    "her2_endocrine": (60.2, "PERTAIN (Arpino 2023), median OS 60.2 mo"),
    "trastuzumab_emtansine": (53.7, "MARIANNE (Perez 2019), median OS 53.7 mo"),
    "trastuzumab_deruxtecan": (52.6, "DESTINY-Breast03 (Hurvitz 2023), median OS 52.6 mo"),
    "tucatinib_trastuzumab_capecitabine": (24.7, "HER2CLIMB (Curigliano 2022), median OS "
                                                 "24.7 mo"),
    "chemotherapy_only": (20.3, "Slamon 2001 chemotherapy-alone arm, median OS 20.3 mo"),
    "endocrine_only": (23.9, "TAnDEM anastrozole arm (Kaufman 2009), median OS 23.9 mo"),
    "lapatinib_capecitabine": (17.3, "EGF100151 (Cameron 2010), median OS 75.0 weeks"),
    "trastuzumab_pertuzumab": (40.8, "assumed as trastuzumab + chemotherapy"),
    "investigational": (24.0, "assumed"),
    "trastuzumab_deruxtecan_pertuzumab": (57.1, "assumed as THP (DESTINY-Breast09 OS "
                                                "immature)"),
}
OS_CNS_FACTOR = 0.75  # baseline brain metastasis shortens the OS median by this factor
OS_HER2_NEGATIVE_MONTHS = (24.0, "assumed, HER2-negative metastatic disease")

# --------------------------------------------------------------------------------------
# Rulebooks as the generator reads them (SPEC §6), keyed by era and evaluated line
# (1, 2, 3, 4 = 4+), written here independently of rules/guidelines/*.yaml so that the
# ground truth checks the concordance stage. Per rule:
#   pref       always preferred        pref_once  preferred while not yet received
#   alt        always alternative      alt_once   alternative while not yet received
#   hr_alt     alternatives for HR-positive disease
#   seq        the era's SEQUENCE step not yet done is preferred (a step is done when any
#              of its groups was received)
#   cns        the rule that replaces this one with CNS involvement
# An entry is a regimen group, or From(group, date) (counts for lines started from that
# date: an approval inside the era), or NoPertuzumab(group) (counts only when no earlier
# line and no (neo)adjuvant programme had pertuzumab). "Received" is the groups of earlier
# lines plus COUNTS_AS. Any other
# regimen is `not_recommended`; an investigational line is `trial`.
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class From:
    group: str
    date: str


@dataclass(frozen=True)
class NoPertuzumab:
    group: str


Entry = str | From | NoPertuzumab


@dataclass(frozen=True)
class Rule:
    pref: tuple[Entry, ...] = ()
    pref_once: tuple[Entry, ...] = ()
    alt: tuple[Entry, ...] = ()
    alt_once: tuple[Entry, ...] = ()
    hr_alt: tuple[Entry, ...] = ()
    seq: bool = False
    cns: Rule | None = None


THP, TCHEMO, HER2ENDO = ("taxane_trastuzumab_pertuzumab", "trastuzumab_chemotherapy",
                         "her2_endocrine")
TDM1, TDXD, TUC = "trastuzumab_emtansine", "trastuzumab_deruxtecan", \
    "tucatinib_trastuzumab_capecitabine"
TDXD_P, TUC_TDM1 = "trastuzumab_deruxtecan_pertuzumab", "tucatinib_trastuzumab_emtansine"
NER, LAPCAP, LAPH, MARG = ("neratinib_capecitabine", "lapatinib_capecitabine",
                           "lapatinib_trastuzumab", "margetuximab_chemotherapy")
THP_NO_P = NoPertuzumab(THP)  # ASCO: THP from line 2 when pertuzumab was never given
_LATER = (MARG, NER, LAPCAP, LAPH, TCHEMO, THP_NO_P)
_FIRST = Rule(pref=(THP,), alt=(TCHEMO,), hr_alt=(HER2ENDO,))
_L3_2013 = Rule(pref_once=(TDM1,), alt=(LAPCAP, LAPH, TCHEMO, From(NER, "2020-02-25"), THP_NO_P),
                alt_once=(From(TDXD, "2019-12-20"),))
_L3_2020 = Rule(pref_once=(TUC, TDXD), alt=(From(MARG, "2020-12-16"), NER, LAPCAP, LAPH, TCHEMO,
                                            THP_NO_P),
                alt_once=(TDM1,))
_L3_2023 = Rule(seq=True, alt=_LATER, alt_once=(TDM1, TDXD, TUC),
                cns=Rule(seq=True, pref_once=(TUC,), alt=_LATER, alt_once=(TDM1, TDXD)))
_L3_2025 = Rule(seq=True, alt=_LATER, alt_once=(TDM1, TUC_TDM1, TDXD, TUC),
                cns=Rule(seq=True, pref_once=(TUC, TDXD), alt=_LATER,
                         alt_once=(TDM1, TUC_TDM1)))
RULEBOOK: dict[str, dict[int, Rule]] = {
    "her2-mbc-2013": {
        1: _FIRST,
        2: Rule(pref_once=(TDM1,), alt=(LAPCAP, TCHEMO, THP_NO_P)),
        3: _L3_2013,
        4: _L3_2013,
    },
    "her2-mbc-2020": {
        1: _FIRST,
        2: Rule(pref_once=(TDM1,), alt=(LAPCAP, TCHEMO, THP_NO_P), alt_once=(TUC,),
                cns=Rule(pref_once=(TDM1, TUC), alt=(LAPCAP, TCHEMO, THP_NO_P))),
        3: _L3_2020,
        4: _L3_2020,
    },
    "her2-mbc-2023": {
        1: _FIRST,
        2: Rule(seq=True, alt=(THP_NO_P,), alt_once=(TDM1, TDXD, TUC),
                cns=Rule(seq=True, pref_once=(TUC,), alt=(THP_NO_P,), alt_once=(TDM1, TDXD))),
        3: _L3_2023,
        4: _L3_2023,
    },
    "her2-mbc-2025": {
        1: Rule(pref=(THP, TDXD_P), alt=(TCHEMO,), hr_alt=(HER2ENDO,)),
        2: Rule(seq=True, alt=(THP_NO_P,), alt_once=(TDM1, TUC_TDM1, TDXD, TUC),
                cns=Rule(seq=True, pref_once=(TUC, TDXD), alt=(THP_NO_P,),
                         alt_once=(TDM1, TUC_TDM1))),
        3: _L3_2025,
        4: _L3_2025,
    },
}
SEQUENCE: dict[str, list[list[str]]] = {
    "her2-mbc-2023": [[TDXD], [TUC]],
    "her2-mbc-2025": [[TDXD, TDXD_P], [TUC]],
}
COUNTS_AS: dict[str, str] = {TDXD_P: TDXD, TUC_TDM1: TDM1}
CATEGORIES = ["preferred", "alternative", "not_recommended", "trial"]

# How a line's regimen is chosen: with the site's concordance probability from the
# preferred/alternative regimens (weights below: real-practice frequency among concordant
# choices), otherwise from the not-recommended ones. Trial participation first.
CONCORDANT_WEIGHTS: dict[str, float] = {
    "THP": 90, "TH": 8, "HP_ENDO": 30, "TDM1": 30, "TDXD": 60, "TDXD_P": 60, "TUC_TDM1": 4,
    "TUC": 25, "NER_CAP": 4, "LAP_CAP": 8, "LAP_H": 3, "MARG": 2, "H_CHEMO": 8, "CHEMO": 1,
    "ENDO": 1, "TRIAL": 0, "ICI": 0,
}
PREFERRED_BONUS = 4.0  # preferred regimens weigh this much more than alternatives
CNS_TUCATINIB_BONUS = 6.0  # tucatinib regimen weight multiplier with CNS involvement
DEVIATION_WEIGHTS: dict[str, float] = {
    "THP": 2, "TH": 4, "HP_ENDO": 0, "TDM1": 4, "TDXD": 1, "TDXD_P": 0.5, "TUC_TDM1": 0.5,
    "TUC": 1, "NER_CAP": 2, "LAP_CAP": 4, "LAP_H": 2, "MARG": 1, "H_CHEMO": 6, "CHEMO": 6,
    "ENDO": 3, "TRIAL": 0, "ICI": 0,
}
# Of the trial lines (Rates.trial_per_line), the share given as an anti-HER2 drug with a
# checkpoint inhibitor rather than an investigational agent.
TRIAL_CHECKPOINT_SHARE = 0.25
HER2_NEGATIVE_WEIGHTS: dict[str, float] = {"CHEMO": 6, "ENDO": 4, "TDXD": 0}
HER2_LOW_TDXD_FROM = day("2022-08-05")  # DESTINY-Breast04 approval: T-DXd for HER2-low
HER2_LOW_TDXD_WEIGHT = 4.0


@dataclass
class Rates:
    """Every rate the generator uses (probabilities; README.md explains each)."""

    # population
    never_metastatic: float = 0.08
    her2_negative: float = 0.06
    her2_equivocal: float = 0.02
    no_her2_test: float = 0.01
    quarantined_patient: float = 0.002
    de_novo: float = 0.37
    hr_positive: float = 0.50
    no_er_pr_test: float = 0.01
    male: float = 0.01
    her2_ihc3: float = 0.60  # HER2-positive patterns: IHC 3+
    her2_ihc2_ish: float = 0.28  # IHC 2+ with ISH amplified the same day
    # (the rest: ISH amplified only)
    her2_retest_at_metastasis: float = 0.35  # recurrent: biopsy of the metastasis
    her2_conversion: float = 0.02  # primary HER2-negative, metastasis HER2-positive
    her2_late_discordant_test: float = 0.02  # a later (> metastatic + 60 d) IHC 1+
    prior_her2_therapy: float = 0.90  # recurrent patients with (neo)adjuvant anti-HER2
    neoadjuvant: float = 0.60  # of those: neoadjuvant TCHP, else adjuvant AC-TH
    adjuvant_tdm1: float = 0.30  # post-2019 neoadjuvant patients with residual disease
    early_relapse: float = 0.15  # of recurrent patients with prior anti-HER2
    setting_missing: float = 0.20  # (neo)adjuvant rows with an empty setting
    metastatic_setting_missing: float = 0.10
    # disease course
    cns_at_metastasis: float = 0.10
    cns_new_per_line: float = 0.09
    leptomeningeal_share: float = 0.08
    stop_after_line: tuple[float, ...] = (0.10, 0.15, 0.22, 0.28, 0.35)
    lost_to_follow_up: float = 0.05
    death_unrecorded: float = 0.03
    long_gap_between_lines: float = 0.03  # > max_gap_days, then a new line
    trial_per_line: float = 0.03  # line >= 2
    low_concordance_site_share: float = 0.2
    maintenance_endocrine: float = 0.55  # HR+ THP/TH lines long enough
    maintenance_cdk46: float = 0.20  # HR+ lines with endocrine, from 2017
    taxane_switch: float = 0.03  # docetaxel -> paclitaxel within induction
    phesgo: float = 0.15  # lines with trastuzumab + pertuzumab started from 2020-07
    subcutaneous_trastuzumab: float = 0.05
    # mess
    drug_holiday: float = 0.06  # lines longer than 6 months
    duplicate_row: float = 0.015
    missing_end_date: float = 0.04  # of rows with an end date
    case_variant: float = 0.06
    whitespace_padding: float = 0.01
    spelling_switch: float = 0.05  # a row spelled unlike the rest of its line
    unmapped_name: float = 0.003  # extra rows per treatment row
    invalid_date: float = 0.0005
    end_before_start: float = 0.0005
    orphan_row: float = 0.0005
    record_id_site_share: float = 0.3
    atc_code_site_share: float = 0.3
    supportive_bone_agent: float = 0.40  # patients with bone metastases
    supportive_gcsf: float = 0.35  # docetaxel cycles
    supportive_antiemetic: float = 0.15  # IV chemotherapy days


RATES = Rates()


@dataclass
class Sites:
    n_min: int = 10
    n_max: int = 50
    patients_per_site: int = 100
    concordance_typical: tuple[float, float] = (0.84, 0.97)
    concordance_low: tuple[float, float] = (0.45, 0.65)
    extras: dict[str, float] = field(default_factory=dict)


SITES = Sites()
