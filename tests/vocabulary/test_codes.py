"""Drug codes: every ingredient's RxNorm ingredient code (or the stated reason it has
none), sources on every code, and treatment rows that carry only a code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from her2audit import vocabulary
from her2audit.errors import RuleFileError
from her2audit.stages import extract
from tests.conftest import MINIMAL_REGISTRY
from tests.vocabulary.mapping import map_rows

VOCAB = vocabulary.default_vocabulary()
HYLECTA_SCD = "5 ML hyaluronidase-oysk 2000 UNT/ML / trastuzumab-oysk 120 MG/ML Injection"


def test_every_ingredient_has_an_rxnorm_ingredient_code_or_says_why_not():
    for ingredient in VOCAB.ingredients:
        code = VOCAB.rxnorm_ingredient_codes.get(ingredient)
        note = VOCAB.rxnorm_notes.get(ingredient, "")
        assert (code and re.fullmatch(r"[0-9]{1,8}", code)) or len(note) > 20, ingredient


def test_every_rxnorm_ingredient_code_has_a_source_and_names_one_ingredient():
    by_code: dict[str, set[str]] = {}
    for system, code, product, _ingredient, _pos, _name, source in VOCAB.codes:
        if system == "rxnorm":
            assert source.strip(), code
            by_code.setdefault(code, set()).add(product)
    assert all(len(products) == 1 for products in by_code.values()), by_code
    assert set(VOCAB.rxnorm_ingredient_codes.values()) <= set(by_code)


def _header_sources() -> list[str]:
    """The short source names the vocabulary file's header defines ("#   <name> = ...")."""
    text = vocabulary.VOCABULARY_FILE.read_text()
    block = text.split("# Sources cited below, in short:\n", 1)[1].split("\ningredients:", 1)[0]
    return re.findall(r"^#   (\S[^=\n]*?)\s*= ", block, flags=re.MULTILINE)


def test_every_rxnorm_code_cites_a_source_the_header_defines():
    names = _header_sources()
    assert {"CPIC drug table", "CTS2OnFHIR drug map", "PCDC terminology"} <= set(names)
    for system, code, product, _ingredient, _pos, _name, source in VOCAB.codes:
        if system == "rxnorm":
            assert any(source.startswith(name) for name in names), (product, code, source)


def test_an_ingredient_with_its_code_does_not_also_say_it_is_unconfirmed():
    for ingredient in VOCAB.rxnorm_ingredient_codes:
        assert "not confirmed" not in VOCAB.rxnorm_notes.get(ingredient, ""), ingredient


def test_atc_codes_cite_the_who_index_and_have_the_atc_shape():
    atc = [(code, ingredient, source) for system, code, _p, ingredient, _i, _n, source
           in VOCAB.codes if system == "atc"]
    assert ("L01EH03", "tucatinib") in [(c, i) for c, i, _ in atc]
    for code, ingredient, source in atc:
        assert re.fullmatch(r"L0[12][A-Z]{2}[0-9]{2}", code), ingredient
        assert "WHO" in source and "wikipedia" not in source.lower(), ingredient


def test_an_ingredient_with_neither_code_nor_note_is_rejected(tmp_path: Path):
    text = vocabulary.VOCABULARY_FILE.read_text()
    note = re.search(r'    names: \[margetuximab, .*\]\n(    rxnorm_note: .*\n)', text)
    assert note, "margetuximab's rxnorm_note"
    text = text.replace(note.group(1), "", 1)
    path = tmp_path / "vocabulary.yaml"
    path.write_text(text)
    with pytest.raises(RuleFileError, match="margetuximab.*neither an RxNorm"):
        vocabulary.load_vocabulary(path)


def test_an_rxnorm_code_without_its_term_type_is_rejected(tmp_path: Path):
    text = vocabulary.VOCABULARY_FILE.read_text().replace(
        'code: "194000", tty: IN,', 'code: "194000",')
    path = tmp_path / "vocabulary.yaml"
    path.write_text(text)
    with pytest.raises(RuleFileError, match="194000 needs tty"):
        vocabulary.load_vocabulary(path)


def mapped(con) -> list[tuple]:
    return con.execute(
        "select record_key, source_drug, ingredient, mapped_by from staging.administrations "
        "order by all").fetchall()


def test_a_row_with_only_a_code_takes_its_name_from_the_vocabulary():
    con = map_rows([(None, "2119714", "rxnorm"), (None, "194000", "rxnorm"),
                    ("", "480167", "rxnorm")])
    assert mapped(con) == [
        ("t.csv:2", HYLECTA_SCD, "trastuzumab", "code"),
        ("t.csv:3", "capecitabine", "capecitabine", "code"),
        ("t.csv:4", "lapatinib", "lapatinib", "code"),
    ]


def test_a_drug_field_holding_only_a_code_maps_by_the_code():
    con = map_rows([("2119714", None, None), ("L01FD04", None, None),
                    ("RxNorm:194000", None, None), ("l01fd03", None, None)])
    assert mapped(con) == [
        ("t.csv:2", "2119714", "trastuzumab", "code"),
        ("t.csv:3", "L01FD04", "trastuzumab deruxtecan", "code"),
        ("t.csv:4", "RxNorm:194000", "capecitabine", "code"),
        ("t.csv:5", "l01fd03", "trastuzumab emtansine", "code"),
    ]


def test_a_code_without_its_system_is_read_by_its_shape():
    con = map_rows([("chemo", "L01FD03", None), ("chemo", "194000", "")])
    assert [(r[2], r[3]) for r in mapped(con)] == [
        ("trastuzumab emtansine", "code"), ("capecitabine", "code")]


def test_a_combination_code_gives_every_ingredient(tmp_path: Path):
    text = vocabulary.VOCABULARY_FILE.read_text().replace(
        "  - ingredients: [pertuzumab, trastuzumab]\n",
        "  - ingredients: [pertuzumab, trastuzumab]\n"
        "    codes: [{system: local, code: PH1, source: a test}]\n")
    path = tmp_path / "vocabulary.yaml"
    path.write_text(text)
    con = map_rows([(None, "PH1", "local")], vocabulary.load_vocabulary(path))
    assert [(r[1], r[2]) for r in mapped(con)] == [
        ("pertuzumab + trastuzumab", "pertuzumab"), ("pertuzumab + trastuzumab", "trastuzumab")]


def test_an_unknown_code_alone_is_reported_unmapped_with_its_count():
    con = map_rows([(None, "99999999", "rxnorm"), (None, "99999999", "rxnorm"),
                    (None, "X1", "local"), ("Herceptin", None, None)])
    assert con.execute("select drug, n_records from build.unmapped_drugs order by all"
                       ).fetchall() == [("local X1", 1), ("rxnorm 99999999", 2)]
    assert [r[2] for r in mapped(con)] == ["trastuzumab"]


def test_code_only_rows_are_staged_and_a_row_with_neither_is_quarantined(
        run_context, registry_factory):
    tables = dict(MINIMAL_REGISTRY)
    tables["treatments"] = [
        {"patient_id": "P1", "drug": "", "drug_code": "2119714", "code_system": "rxnorm",
         "start_date": "2020-01-10", "end_date": "", "setting": "metastatic"},
        {"patient_id": "P1", "drug": "", "drug_code": "", "code_system": "",
         "start_date": "2020-01-31", "end_date": "", "setting": "metastatic"},
    ]
    run_context.registry = str(registry_factory(tables))
    extract.run(run_context)
    con = run_context.con
    assert con.execute("select source_drug, ingredient, mapped_by from staging.administrations"
                       ).fetchall() == [(HYLECTA_SCD, "trastuzumab", "code")]
    assert con.execute("select rule, detail from build.quarantine").fetchall() == [
        ("missing_required_value", "drug is empty and there is no drug_code")]
