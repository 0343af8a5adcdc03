"""Drug vocabulary (SPEC §3): spellings to canonical ingredients, codes, unmapped names."""

from __future__ import annotations

import functools
from pathlib import Path

import duckdb
import pytest

from her2audit import vocabulary
from her2audit.errors import RuleFileError
from tests.vocabulary.mapping import ingredients_by_spelling, map_rows

_SPELLINGS: list[str] = []  # every spelling a parametrized test asks about, mapped once


@functools.cache
def _mapped_spellings() -> dict[str, list[str]]:
    return ingredients_by_spelling(_SPELLINGS)


def spellings(*cases):
    """Register parametrize cases (a spelling first) for the one shared mapping run."""
    for case in cases:
        _SPELLINGS.append(case[0] if isinstance(case, tuple) else case)
    return list(cases)


def ingredients_of(spelling: str) -> list[str]:
    return _mapped_spellings()[spelling]


@pytest.mark.parametrize("spelling, ingredient", spellings(
    ("Herceptin", "trastuzumab"), ("HERCEPTIN", "trastuzumab"), ("  herceptin  ", "trastuzumab"),
    ("Herceptin Hylecta", "trastuzumab"), ("trastuzumab and hyaluronidase-oysk", "trastuzumab"),
    ("trastuzumab-dkst", "trastuzumab"), ("Ogivri", "trastuzumab"),
    ("trastuzumab-anns", "trastuzumab"), ("Kanjinti", "trastuzumab"),
    ("trastuzumab-qyyp", "trastuzumab"), ("Trazimera", "trastuzumab"),
    ("trastuzumab-pkrb", "trastuzumab"), ("Herzuma", "trastuzumab"),
    ("trastuzumab-dttb", "trastuzumab"), ("Ontruzant", "trastuzumab"),
    ("trastuzumab-strf", "trastuzumab"), ("Hercessi", "trastuzumab"),
    ("Trastuzumab 150 mg powder for injection", "trastuzumab"),
    ("Perjeta", "pertuzumab"), ("Margenza", "margetuximab"), ("margetuximab-cmkb", "margetuximab"),
    ("Tukysa", "tucatinib"), ("Nerlynx", "neratinib"), ("Tykerb", "lapatinib"),
    ("lapatinib ditosylate 250 mg tablets", "lapatinib"), ("Xeloda", "capecitabine"),
    ("Taxotere", "docetaxel"), ("Taxol", "paclitaxel"), ("Abraxane", "nab-paclitaxel"),
    ("paclitaxel protein-bound", "nab-paclitaxel"), ("nab-paclitaxel", "nab-paclitaxel"),
    ("Halaven", "eribulin"), ("Navelbine", "vinorelbine"), ("vinorelbine tartrate", "vinorelbine"),
    ("Gemzar", "gemcitabine"), ("Femara", "letrozole"), ("Arimidex", "anastrozole"),
    ("Aromasin", "exemestane"), ("Faslodex", "fulvestrant"), ("Nolvadex", "tamoxifen"),
    ("tamoxifen citrate", "tamoxifen"), ("Verzenio", "abemaciclib"), ("Ibrance", "palbociclib"),
    ("Kisqali", "ribociclib"), ("Piqray", "alpelisib"), ("Afinitor", "everolimus"),
    ("Keytruda", "pembrolizumab"), ("Tecentriq", "atezolizumab"), ("Xgeva", "denosumab"),
    ("Prolia", "denosumab"), ("Zometa", "zoledronic acid"), ("filgrastim-sndz", "filgrastim"),
    ("ZW25", "zanidatamab"), ("SYD985", "trastuzumab duocarmazine"), ("ARX788", "arx788"),
    ("A166", "a166"), ("RC48", "disitamab vedotin"), ("pyrotinib", "pyrotinib"),
    ("Study Drug", "study drug"), ("blinded", "study drug"), ("placebo", "study drug"),
))
def test_spelling_maps_to_its_ingredient(spelling, ingredient):
    assert ingredients_of(spelling) == [ingredient]


@pytest.mark.parametrize("spelling", spellings(
    "Phesgo", "PHESGO", "pertuzumab/trastuzumab/hyaluronidase",
    "pertuzumab, trastuzumab, and hyaluronidase-zzxf",
))
def test_phesgo_is_two_ingredients(spelling):
    assert ingredients_of(spelling) == ["pertuzumab", "trastuzumab"]


@pytest.mark.parametrize("spelling", spellings(
    "trastuzumab deruxtecan", "Enhertu", "ENHERTU", "fam-trastuzumab deruxtecan-nxki",
    "fam-trastuzumab deruxtecan", "DS-8201", "DS-8201a", "DS8201", "T-DXd", "t-dxd",
    "trastuzumab deruxtecan 100 mg",
))
def test_t_dxd_never_becomes_trastuzumab(spelling):
    assert ingredients_of(spelling) == ["trastuzumab deruxtecan"]


@pytest.mark.parametrize("spelling", spellings(
    "trastuzumab emtansine", "Kadcyla", "KADCYLA", "ado-trastuzumab emtansine",
    "Ado-Trastuzumab Emtansine", "T-DM1", "TDM1", "t-dm1", "kadcyla 160 mg vial",
))
def test_t_dm1_never_becomes_trastuzumab(spelling):
    assert ingredients_of(spelling) == ["trastuzumab emtansine"]


def test_no_adc_spelling_in_the_vocabulary_maps_to_trastuzumab():
    vocab = vocabulary.default_vocabulary()
    adc_words = ("deruxtecan", "emtansine", "dm1", "dxd", "8201", "enhertu", "kadcyla",
                 "duocarmazine")
    for spelling, _product, ingredient, _pos in vocab.names:
        if any(w in spelling.lower().replace("-", "") for w in adc_words):
            assert ingredient != "trastuzumab", spelling


def test_a_known_code_wins_over_the_name():
    con = map_rows([("some local name", "L01FD04", "atc"), ("Herceptin", "L01FD03", "ATC")])
    assert con.execute(
        "select source_drug, ingredient, mapped_by from staging.administrations order by 1"
    ).fetchall() == [("Herceptin", "trastuzumab emtansine", "code"),
                     ("some local name", "trastuzumab deruxtecan", "code")]


def test_an_unknown_code_falls_back_to_the_name():
    con = map_rows([("Kadcyla", "99999999", "rxnorm")])
    assert con.execute(
        "select ingredient, mapped_by from staging.administrations").fetchall() == [
        ("trastuzumab emtansine", "name")]


def test_unmapped_names_are_reported_with_their_counts():
    con = map_rows([("unknown chemo", None, None), ("Unknown  Chemo", None, None),
                    ("see notes", None, None), ("Herceptin", None, None)])
    unmapped = con.execute("select drug, n_records from build.unmapped_drugs order by drug")
    assert unmapped.fetchall() == [("Unknown  Chemo", 2), ("see notes", 1)]
    assert con.execute("select count(*) from staging.administrations").fetchall() == [(1,)]


def test_administrations_carry_class_and_flags():
    con = map_rows([("Herceptin", None, None), ("Zometa", None, None),
                    ("letrozole", None, None)])
    rows = con.execute(
        "select ingredient, drug_class, line_forming, her2_directed "
        "from staging.administrations order by ingredient").fetchall()
    assert rows == [("letrozole", "endocrine", True, False),
                    ("trastuzumab", "anti_her2_antibody", True, True),
                    ("zoledronic acid", "supportive", False, False)]


def test_every_spec_class_has_its_listed_members():
    vocab = vocabulary.default_vocabulary()
    spec = {
        "anti_her2_antibody": {"trastuzumab", "pertuzumab", "margetuximab"},
        "anti_her2_adc": {"trastuzumab deruxtecan", "trastuzumab emtansine"},
        "anti_her2_tki": {"tucatinib", "neratinib", "lapatinib"},
        "taxane": {"docetaxel", "paclitaxel", "nab-paclitaxel"},
        "chemotherapy": {"capecitabine", "vinorelbine", "eribulin", "gemcitabine",
                         "carboplatin", "doxorubicin", "epirubicin", "cyclophosphamide"},
        "endocrine": {"letrozole", "anastrozole", "exemestane", "tamoxifen", "fulvestrant",
                      "goserelin", "leuprorelin", "triptorelin"},
        "cdk46_inhibitor": {"palbociclib", "ribociclib", "abemaciclib"},
        "other_targeted": {"alpelisib", "everolimus"},
        "investigational": {"zanidatamab", "trastuzumab duocarmazine", "arx788", "a166",
                            "disitamab vedotin", "pyrotinib", "study drug"},
        "supportive": {"zoledronic acid", "denosumab", "pamidronate", "filgrastim",
                       "ondansetron", "dexamethasone"},
    }
    for cls, members in spec.items():
        for m in members:
            assert vocab.ingredients.get(m) == cls, m
    assert set(vocab.classes) >= set(spec) | {"immunotherapy"}


def test_every_code_names_its_source():
    for system, code, _product, ingredient, _pos, _name, source in (
            vocabulary.default_vocabulary().codes):
        assert system in vocabulary.CODE_SYSTEMS and code and source, ingredient


def test_a_spelling_naming_two_products_is_rejected(tmp_path: Path):
    text = vocabulary.VOCABULARY_FILE.read_text().replace(
        "names: [pertuzumab, perjeta,", "names: [pertuzumab, perjeta, herceptin,")
    path = tmp_path / "vocabulary.yaml"
    path.write_text(text)
    con = duckdb.connect()
    con.execute("create schema staging")
    with pytest.raises(RuleFileError, match="herceptin"):
        vocabulary.load_vocabulary_tables(con, vocabulary.load_vocabulary(path))


def test_unknown_class_is_rejected(tmp_path: Path):
    path = tmp_path / "vocabulary.yaml"
    path.write_text(vocabulary.VOCABULARY_FILE.read_text().replace(
        "class: anti_her2_adc", "class: anti_her2_conjugate", 1))
    with pytest.raises(RuleFileError, match="unknown class"):
        vocabulary.load_vocabulary(path)
