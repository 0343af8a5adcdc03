"""The drug-name normaliser on real-world strings: label and brand names, RxNorm clinical
and branded drug names as Synthea and EHRs write them, pharmacy order strings, biosimilars,
research codes, combination products, and the antibody-drug conjugate traps. Each string
is expected to map to exactly the ingredient set given (one mapping run for all)."""

from __future__ import annotations

import functools

import pytest

from tests.vocabulary.mapping import ingredients_by_spelling

T = "trastuzumab"
P = "pertuzumab"
TDXD = "trastuzumab deruxtecan"
TDM1 = "trastuzumab emtansine"

CASES: list[tuple[str, set[str]]] = [
    # --- trastuzumab: label, RxNorm SCD/SBD as written, pharmacy strings ---------------
    ("trastuzumab 150 MG Injection", {T}),
    ("trastuzumab 420 MG Injection", {T}),
    ("10 ML trastuzumab 21 MG/ML Injection [Herceptin]", {T}),
    ("Herceptin 150 MG Injection", {T}),
    ("trastuzumab (Herceptin)", {T}),
    ("Herceptin (trastuzumab)", {T}),
    ("HERCEPTIN 440 MG MULTI-DOSE VIAL", {T}),
    ("Trastuzumab 440mg powder for concentrate for solution for infusion", {T}),
    ("trastuzumab 6 mg/kg IV q3w", {T}),
    ("TRASTUZUMAB IV INFUSION 8 MG/KG LOADING DOSE", {T}),
    ("trastuzumab-dkst 150 MG Injection [Ogivri]", {T}),
    ("Ogivri (trastuzumab-dkst)", {T}),
    ("trastuzumab-anns 420 MG Injection [Kanjinti]", {T}),
    ("Kanjinti 420 mg vial", {T}),
    ("trastuzumab-qyyp (Trazimera) 150 mg", {T}),
    ("Trazimera", {T}),
    ("trastuzumab-pkrb 150 MG Injection [Herzuma]", {T}),
    ("trastuzumab-dttb 420 MG Injection [Ontruzant]", {T}),
    ("Hercessi (trastuzumab-strf)", {T}),
    ("Zercepac", {T}),
    ("HLX02", {T}),
    ("HLX-02 (trastuzumab biosimilar)", {T}),
    ("trastuzumab biosimilar", {T}),
    ("CT-P6", {T}),
    ("SB3 (trastuzumab biosimilar)", {T}),
    # --- subcutaneous trastuzumab --------------------------------------------------------
    ("Herceptin Hylecta", {T}),
    ("Herceptin Hylecta 600 mg/10,000 units", {T}),
    ("hyaluronidase-oysk / trastuzumab", {T}),
    ("trastuzumab and hyaluronidase-oysk", {T}),
    ("trastuzumab and hyaluronidase-oysk 600 mg-10,000 units/5 mL SC", {T}),
    ("hyaluronidase-oysk 10000 UNT / trastuzumab 600 MG in 5 mL Injection [Herceptin Hylecta]",
     {T}),
    ("5 ML hyaluronidase-oysk 2000 UNT/ML / trastuzumab-oysk 120 MG/ML Injection", {T}),
    ("Herceptin SC 600 mg solution for injection", {T}),
    ("trastuzumab subcutaneous", {T}),
    # --- pertuzumab and Phesgo -------------------------------------------------------------
    ("pertuzumab 420 MG in 14 ML Injection", {P}),
    ("14 ML pertuzumab 30 MG/ML Injection [Perjeta]", {P}),
    ("Perjeta (pertuzumab)", {P}),
    ("PERJETA 420MG/14ML IV SOLN", {P}),
    ("Omnitarg", {P}),
    ("rhuMAb 2C4", {P}),
    ("Phesgo", {P, T}),
    ("Phesgo 1200 mg/600 mg/30,000 units", {P, T}),
    ("Phesgo 600 mg/600 mg/20,000 units per 10 mL", {P, T}),
    ("pertuzumab, trastuzumab, and hyaluronidase-zzxf", {P, T}),
    ("pertuzumab/trastuzumab/hyaluronidase", {P, T}),
    ("hyaluronidase-zzxf / pertuzumab / trastuzumab", {P, T}),
    ("pertuzumab 1200 MG / trastuzumab 600 MG / hyaluronidase-zzxf 30000 UNT in 15 ML "
     "Injection [Phesgo]", {P, T}),
    ("Herceptin + Perjeta", {P, T}),
    ("trastuzumab / pertuzumab", {P, T}),
    # --- ADC traps: never trastuzumab ---------------------------------------------------
    ("fam-trastuzumab deruxtecan-nxki", {TDXD}),
    ("fam-trastuzumab deruxtecan-nxki 100 MG Injection [Enhertu]", {TDXD}),
    ("trastuzumab deruxtecan 100 MG Injection [Enhertu]", {TDXD}),
    ("Enhertu (fam-trastuzumab deruxtecan-nxki) 100 mg lyophilized powder", {TDXD}),
    ("ENHERTU 100MG SDV", {TDXD}),
    ("DS-8201a", {TDXD}),
    ("T-DXd 5.4 mg/kg", {TDXD}),
    ("deruxtecan trastuzumab", {TDXD}),
    ("trastuzumab (Enhertu)", {TDXD}),
    ("ado-trastuzumab emtansine", {TDM1}),
    ("ado-trastuzumab emtansine 160 MG Injection [Kadcyla]", {TDM1}),
    ("Kadcyla 100 mg powder for concentrate", {TDM1}),
    ("Kadcyla (ado-trastuzumab emtansine)", {TDM1}),
    ("T-DM1", {TDM1}),
    ("trastuzumab emtansine (T-DM1) 3.6 mg/kg", {TDM1}),
    ("Kadcyla (trastuzumab)", {TDM1}),
    ("PRO132365", {TDM1}),
    ("trastuzumab duocarmazine", {"trastuzumab duocarmazine"}),
    ("vic-trastuzumab duocarmazine", {"trastuzumab duocarmazine"}),
    ("SYD985", {"trastuzumab duocarmazine"}),
    ("trastuzumab rezetecan", {"trastuzumab rezetecan"}),
    ("SHR-A1811", {"trastuzumab rezetecan"}),
    ("trastuzumab rezetecan (SHR-A1811) 4.8 mg/kg", {"trastuzumab rezetecan"}),
    ("datopotamab deruxtecan", {"datopotamab deruxtecan"}),
    ("datopotamab deruxtecan-dlnk 100 MG Injection [Datroway]", {"datopotamab deruxtecan"}),
    ("Dato-DXd", {"datopotamab deruxtecan"}),
    # --- anti-HER2 TKIs and other antibodies ------------------------------------------------
    ("tucatinib 150 MG Oral Tablet [Tukysa]", {"tucatinib"}),
    ("Tukysa 50 mg tablets", {"tucatinib"}),
    ("irbinitinib", {"tucatinib"}),
    ("ONT-380", {"tucatinib"}),
    ("neratinib 40 MG Oral Tablet [Nerlynx]", {"neratinib"}),
    ("neratinib maleate 40 mg tab", {"neratinib"}),
    ("lapatinib 250 MG Oral Tablet", {"lapatinib"}),
    ("lapatinib ditosylate 250 mg tablets", {"lapatinib"}),
    ("Tykerb (lapatinib)", {"lapatinib"}),
    ("margetuximab-cmkb 250 MG in 10 ML Injection [Margenza]", {"margetuximab"}),
    ("zanidatamab-hrii", {"zanidatamab"}),
    # --- chemotherapy --------------------------------------------------------------------
    ("capecitabine 500 MG Oral Tablet [Xeloda]", {"capecitabine"}),
    ("capecitabine 150 MG Oral Tablet", {"capecitabine"}),
    ("Xeloda 500mg film-coated tablets", {"capecitabine"}),
    ("capecitabine 500", {"capecitabine"}),
    ("docetaxel 20 MG/ML Injectable Solution", {"docetaxel"}),
    ("Taxotere 80 mg/4 mL concentrate", {"docetaxel"}),
    ("docetaxel anhydrous 160 mg/16 mL", {"docetaxel"}),
    ("Paclitaxel 100 MG Injection", {"paclitaxel"}),
    ("paclitaxel 6 MG/ML Injectable Solution", {"paclitaxel"}),
    ("TAXOL (paclitaxel) 300 mg/50 mL", {"paclitaxel"}),
    ("paclitaxel protein-bound particles for injectable suspension (albumin-bound)",
     {"nab-paclitaxel"}),
    ("paclitaxel protein-bound 100 MG Injectable Suspension [Abraxane]", {"nab-paclitaxel"}),
    ("Abraxane (paclitaxel)", {"nab-paclitaxel"}),
    ("nab-paclitaxel 125 mg/m2", {"nab-paclitaxel"}),
    ("vinorelbine tartrate 10 mg/mL", {"vinorelbine"}),
    ("Navelbine 50 mg/5 mL", {"vinorelbine"}),
    ("eribulin mesylate 1 MG in 2 ML Injection [Halaven]", {"eribulin"}),
    ("gemcitabine 1 GM Injection", {"gemcitabine"}),
    ("Carboplatin 10 MG/ML Injectable Solution", {"carboplatin"}),
    ("carboplatin AUC 6", {"carboplatin"}),
    ("Cyclophosphamide 1000 MG Injection", {"cyclophosphamide"}),
    ("10 ML Fluorouracil 50 MG/ML Injection", {"fluorouracil"}),
    ("5-FU 2400 mg/m2 CIVI", {"fluorouracil"}),
    ("10 ML Doxorubicin Hydrochloride 2 MG/ML Injection", {"doxorubicin"}),
    ("100 ML Epirubicin Hydrochloride 2 MG/ML Injection", {"epirubicin"}),
    ("doxorubicin hydrochloride liposome 2 MG/ML Injection [Doxil]", {"liposomal doxorubicin"}),
    ("Doxil (doxorubicin)", {"liposomal doxorubicin"}),
    # --- endocrine and CDK4/6 ---------------------------------------------------------------
    ("letrozole 2.5 MG Oral Tablet", {"letrozole"}),
    ("Femara 2.5mg tab", {"letrozole"}),
    ("anastrozole 1 MG Oral Tablet [Arimidex]", {"anastrozole"}),
    ("exemestane 25 MG Oral Tablet", {"exemestane"}),
    ("tamoxifen citrate 20 MG Oral Tablet", {"tamoxifen"}),
    ("Soltamox 10 mg/5 mL oral solution", {"tamoxifen"}),
    ("5 ML fulvestrant 50 MG/ML Prefilled Syringe", {"fulvestrant"}),
    ("Faslodex 250 mg/5 mL pre-filled syringe", {"fulvestrant"}),
    ("fulvestrant 500 mg IM", {"fulvestrant"}),
    ("Zoladex 3.6 mg implant", {"goserelin"}),
    ("goserelin acetate 10.8 MG Drug Implant [Zoladex]", {"goserelin"}),
    ("Lupron Depot 3.75 mg", {"leuprorelin"}),
    ("leuprolide acetate 22.5 MG Injection", {"leuprorelin"}),
    ("elacestrant 345 MG Oral Tablet [Orserdu]", {"elacestrant"}),
    ("imlunestrant", {"imlunestrant"}),
    ("giredestrant", {"giredestrant"}),
    ("palbociclib 125 MG Oral Capsule [Ibrance]", {"palbociclib"}),
    ("Ibrance 125mg tablets", {"palbociclib"}),
    ("ribociclib 200 MG Oral Tablet", {"ribociclib"}),
    ("Kisqali Femara Co-Pack", {"ribociclib", "letrozole"}),
    ("Kisqali Femara Co-Pack 200 mg/2.5 mg", {"ribociclib", "letrozole"}),
    ("ribociclib / letrozole", {"ribociclib", "letrozole"}),
    ("abemaciclib 150 MG Oral Tablet [Verzenio]", {"abemaciclib"}),
    ("letrozole + palbociclib", {"letrozole", "palbociclib"}),
    # --- other targeted and immunotherapy -----------------------------------------------
    ("alpelisib 150 MG Oral Tablet [Piqray]", {"alpelisib"}),
    ("everolimus 10 MG Oral Tablet [Afinitor]", {"everolimus"}),
    ("sacituzumab govitecan-hziy 180 MG Injection [Trodelvy]", {"sacituzumab govitecan"}),
    ("pembrolizumab 100 MG in 4 ML Injection [Keytruda]", {"pembrolizumab"}),
    ("Tecentriq 840 mg", {"atezolizumab"}),
    # --- investigational --------------------------------------------------------------
    ("ZW25", {"zanidatamab"}),
    ("ARX788", {"arx788"}),
    ("disitamab vedotin (RC48)", {"disitamab vedotin"}),
    ("pyrotinib maleate 160 mg tablets", {"pyrotinib"}),
    ("Study Drug", {"study drug"}),
    ("blinded study drug", {"study drug"}),
    ("placebo", {"study drug"}),
    # --- supportive ------------------------------------------------------------------------
    ("denosumab 120 MG in 1.7 ML Injection [Xgeva]", {"denosumab"}),
    ("Prolia 60 mg/mL prefilled syringe", {"denosumab"}),
    ("denosumab-bbdz", {"denosumab"}),
    ("Jubbonti", {"denosumab"}),
    ("Wyost (denosumab-bbdz) 120 mg", {"denosumab"}),
    ("zoledronic acid 4 MG in 100 ML Injection", {"zoledronic acid"}),
    ("Zometa 4 mg/5 mL", {"zoledronic acid"}),
    ("pegfilgrastim 6 MG in 0.6 ML Prefilled Syringe [Neulasta]", {"pegfilgrastim"}),
    ("Neulasta Onpro", {"pegfilgrastim"}),
    ("Neulasta Onpro kit 6 mg/0.6 mL", {"pegfilgrastim"}),
    ("pegfilgrastim-apgf (Nyvepria)", {"pegfilgrastim"}),
    ("Fylnetra", {"pegfilgrastim"}),
    ("Stimufend 6 mg/0.6 mL", {"pegfilgrastim"}),
    ("filgrastim-ayow [Releuko]", {"filgrastim"}),
    ("filgrastim 480 MCG/0.8 ML Prefilled Syringe", {"filgrastim"}),
    ("Granix (tbo-filgrastim) 300 mcg", {"tbo-filgrastim"}),
    ("Rolvedon (eflapegrastim-xnst) 13.2 mg/0.6 mL", {"eflapegrastim"}),
    ("ondansetron 8 MG Oral Tablet", {"ondansetron"}),
    ("ondansetron 4 MG Disintegrating Oral Tablet", {"ondansetron"}),
    ("dexamethasone 4 MG Oral Tablet", {"dexamethasone"}),
    ("Emend (fosaprepitant)", {"fosaprepitant"}),
    ("Emend IV 150 mg", {"fosaprepitant"}),
    ("aprepitant 125 MG Oral Capsule [Emend]", {"aprepitant"}),
    # --- no drug at all: reported as unmapped ------------------------------------------------
    ("unknown chemo", set()),
    ("see notes", set()),
    ("hyaluronidase", set()),
    ("sodium chloride 0.9 % 250 ML", set()),
]


@functools.cache
def _mapped() -> dict[str, list[str]]:
    return ingredients_by_spelling([s for s, _ in CASES])


def test_at_least_a_hundred_real_world_strings():
    assert len({s for s, _ in CASES}) == len(CASES) >= 100


@pytest.mark.parametrize("spelling, expected", CASES, ids=[s for s, _ in CASES])
def test_string_maps_to_its_ingredient_set(spelling: str, expected: set[str]):
    got = _mapped()[spelling]
    assert len(got) == len(set(got)), f"an ingredient given twice: {got}"
    assert set(got) == expected


def test_no_antibody_drug_conjugate_string_becomes_trastuzumab():
    conjugate_words = ("deruxtecan", "emtansine", "t-dm1", "t-dxd", "ds-8201", "enhertu",
                       "kadcyla", "duocarmazine", "rezetecan", "pro132365", "syd985")
    for spelling, _ in CASES:
        if any(w in spelling.lower() for w in conjugate_words):
            assert "trastuzumab" not in _mapped()[spelling], spelling
