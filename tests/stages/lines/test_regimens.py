"""Regimen catalog (SPEC §5): every line is named by the first matching rule."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from her2audit.errors import RuleFileError
from her2audit.stages import lines
from tests.stages.lines.helpers import build

CASES = [  # drugs started together -> (regimen, regimen_group)
    (["docetaxel", "Herceptin", "Perjeta"], "THP", "taxane_trastuzumab_pertuzumab"),
    (["Abraxane", "Phesgo"], "THP", "taxane_trastuzumab_pertuzumab"),
    (["Herceptin", "Perjeta"], "HP", "trastuzumab_pertuzumab"),
    (["paclitaxel", "Ogivri"], "TH", "trastuzumab_chemotherapy"),
    (["Enhertu"], "T-DXd", "trastuzumab_deruxtecan"),
    (["Kadcyla"], "T-DM1", "trastuzumab_emtansine"),
    (["Tukysa", "Herceptin", "Xeloda"], "Tucatinib + trastuzumab + capecitabine",
     "tucatinib_trastuzumab_capecitabine"),
    (["Nerlynx", "capecitabine"], "Neratinib + capecitabine", "neratinib_capecitabine"),
    (["Tykerb", "capecitabine"], "Lapatinib + capecitabine", "lapatinib_capecitabine"),
    (["lapatinib", "trastuzumab"], "Lapatinib + trastuzumab", "lapatinib_trastuzumab"),
    (["Margenza", "eribulin"], "Margetuximab + chemotherapy", "margetuximab_chemotherapy"),
    (["Herceptin", "Navelbine"], "Trastuzumab + other chemotherapy", "trastuzumab_chemotherapy"),
    (["Herceptin", "Perjeta", "eribulin"], "Trastuzumab + other chemotherapy",
     "trastuzumab_chemotherapy"),
    (["Herceptin", "Perjeta", "letrozole"], "Anti-HER2 + endocrine (± CDK4/6 inhibitor)",
     "her2_endocrine"),
    (["Herceptin", "anastrozole", "Kisqali"], "Anti-HER2 + endocrine (± CDK4/6 inhibitor)",
     "her2_endocrine"),
    (["lapatinib", "letrozole"], "Anti-HER2 + endocrine (± CDK4/6 inhibitor)", "her2_endocrine"),
    (["fulvestrant", "Ibrance"], "Endocrine (± CDK4/6 inhibitor), no anti-HER2", "endocrine_only"),
    (["Aromasin"], "Endocrine (± CDK4/6 inhibitor), no anti-HER2", "endocrine_only"),
    (["capecitabine"], "Chemotherapy, no anti-HER2", "chemotherapy_only"),
    (["docetaxel", "cyclophosphamide"], "Chemotherapy, no anti-HER2", "chemotherapy_only"),
    (["Herceptin", "Perjeta", "ZW25"], "Any line with an investigational agent", "investigational"),
    (["study drug"], "Any line with an investigational agent", "investigational"),
    (["Enhertu", "blinded"], "Any line with an investigational agent", "investigational"),
    (["Herceptin", "Keytruda"], "Anti-HER2 + immune checkpoint inhibitor", "investigational"),
    (["Kadcyla", "Tecentriq"], "Anti-HER2 + immune checkpoint inhibitor", "investigational"),
    (["Herceptin", "Perjeta", "docetaxel", "Keytruda"], "Anti-HER2 + immune checkpoint inhibitor",
     "investigational"),
    (["docetaxel", "carboplatin", "Herceptin", "Perjeta"], "TCHP",
     "taxane_trastuzumab_pertuzumab"),
    (["docetaxel", "carboplatin", "Herceptin"], "Trastuzumab + other chemotherapy",
     "trastuzumab_chemotherapy"),
    (["Enhertu", "Perjeta"], "T-DXd + pertuzumab", "trastuzumab_deruxtecan_pertuzumab"),
    (["Tukysa", "Kadcyla"], "Tucatinib + T-DM1", "tucatinib_trastuzumab_emtansine"),
    (["Herceptin"], "Anything else", "other"),
    (["Enhertu", "Perjeta", "Herceptin"], "Anything else", "other"),
    (["Keytruda", "paclitaxel"], "Anything else", "other"),
    (["everolimus", "exemestane"], "Anything else", "other"),
]


@functools.cache
def _named() -> dict[int, tuple]:
    """All cases in one run: patient c<n> gets the drugs of case n on one day."""
    rows = [{"patient": f"c{n:02d}", "drug": d, "start": "2020-02-01"}
            for n, (drugs, _, _) in enumerate(CASES) for d in drugs]
    patients = [{"patient": f"c{n:02d}", "metastatic": "2020-01-01"} for n in range(len(CASES))]
    con = build(rows, patients=patients)
    got = con.execute(
        "select patient_id, regimen, regimen_group, her2_directed from build.lines_of_therapy"
    ).fetchall()
    return {int(p[1:]): (r, g, h) for p, r, g, h in got}


@pytest.mark.parametrize("n", range(len(CASES)), ids=[" + ".join(c[0]) for c in CASES])
def test_regimen_is_named_by_the_first_matching_rule(n):
    drugs, regimen, group = CASES[n]
    assert _named()[n][:2] == (regimen, group)


def test_her2_directed_when_any_anti_her2_drug_is_in_the_line():
    named = _named()
    for n, (drugs, _, _) in enumerate(CASES):
        her2 = any(d.lower() in {"herceptin", "perjeta", "phesgo", "ogivri", "enhertu", "kadcyla",
                                 "tukysa", "nerlynx", "tykerb", "lapatinib", "trastuzumab",
                                 "margenza"} for d in drugs)
        assert named[n][2] is her2, drugs


def test_every_regimen_group_of_the_spec_is_in_the_catalog():
    groups = {r.regimen_group for r in lines.default_line_rules().regimens}
    assert groups == {
        "taxane_trastuzumab_pertuzumab", "trastuzumab_pertuzumab", "trastuzumab_chemotherapy",
        "trastuzumab_deruxtecan", "trastuzumab_emtansine", "tucatinib_trastuzumab_capecitabine",
        "neratinib_capecitabine", "lapatinib_capecitabine", "lapatinib_trastuzumab",
        "margetuximab_chemotherapy", "trastuzumab_deruxtecan_pertuzumab",
        "tucatinib_trastuzumab_emtansine", "her2_endocrine", "endocrine_only",
        "chemotherapy_only", "investigational", "other"}


def test_unknown_ingredient_in_the_catalog_is_rejected(tmp_path: Path):
    path = tmp_path / "regimens.yaml"
    path.write_text(lines.REGIMENS_FILE.read_text().replace(
        "requires: [[trastuzumab deruxtecan]]", "requires: [[trastuzumab derux]]"))
    with pytest.raises(RuleFileError, match="unknown token 'trastuzumab derux'"):
        lines.load_line_rules(path)


def test_catalog_must_end_with_a_catch_all(tmp_path: Path):
    text = lines.REGIMENS_FILE.read_text()
    path = tmp_path / "regimens.yaml"
    path.write_text(text[: text.index("  - id: other")])
    with pytest.raises(RuleFileError, match="last regimen rule"):
        lines.load_line_rules(path)
