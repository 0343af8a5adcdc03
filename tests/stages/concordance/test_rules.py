"""Hand cases for every rule of every shipped rulebook (SPEC §6).

Each case is one patient; the verdict of their last line is checked. The lines before it
set the sequence context (regimen groups already received). Dates choose the rulebook:
2016 -> her2-mbc-2013, 2021 -> her2-mbc-2020, 2023 -> her2-mbc-2023.
"""

from __future__ import annotations

import pytest

from her2audit import guidelines, warehouse
from her2audit.context import RunContext, start_run
from her2audit.parameters import RunParameters
from her2audit.stages import concordance

from .conftest import Patient, build_world, fetch

# (case id, patient, expected category, expected rule_id) -- the patient's last line is judged
E13, E20, E23 = "2016", "2021", "2023"


def seq(year: str, *groups: str) -> list[tuple[str, str]]:
    """Lines in `year`, 4 months apart, from January."""
    return [(f"{year}-{1 + 4 * i:02d}-10", g) if i < 3 else (f"{year}-12-{10 + i:02d}", g)
            for i, g in enumerate(groups)]


CASES: list[tuple[str, Patient, str, str]] = [
    # --- her2-mbc-2023 ------------------------------------------------------------------
    ("23 L1 THP", Patient("a1", seq(E23, "THP")), "preferred", "2023-L1"),
    ("23 L1 HP", Patient("a2", seq(E23, "HP")), "not_recommended", "2023-L1"),
    ("23 L1 HER2+endo HR-", Patient("a3", seq(E23, "HER2ENDO")), "not_recommended", "2023-L1"),
    ("23 L1 TH", Patient("a4", seq(E23, "TCHEMO")), "alternative", "2023-L1"),
    ("23 L1 HR+ THP", Patient("a5", seq(E23, "THP"), hr_positive=True), "preferred",
     "2023-L1-HR"),
    ("23 L1 HR+ HER2+endo", Patient("a6", seq(E23, "HER2ENDO"), hr_positive=True),
     "alternative", "2023-L1-HR"),
    ("23 L1 HR+ endocrine only", Patient("a7", seq(E23, "ENDO"), hr_positive=True),
     "not_recommended", "2023-L1-HR"),
    ("23 L2 T-DXd", Patient("b1", seq(E23, "THP", "TDXD")), "preferred", "2023-L2"),
    ("23 L2 T-DM1", Patient("b2", seq(E23, "THP", "TDM1")), "alternative", "2023-L2"),
    ("23 L2 tucatinib no CNS", Patient("b3", seq(E23, "THP", "TUC")), "alternative", "2023-L2"),
    ("23 L2 lapatinib", Patient("b4", seq(E23, "THP", "LAPCAP")), "not_recommended", "2023-L2"),
    ("23 L2 chemo only", Patient("b5", seq(E23, "THP", "CHEMO")), "not_recommended", "2023-L2"),
    ("23 L2 CNS tucatinib", Patient("c1", seq(E23, "THP", "TUC"), brain_met="2022-12-01"),
     "preferred", "2023-L2-CNS"),
    ("23 L2 CNS T-DXd", Patient("c2", seq(E23, "THP", "TDXD"), brain_met="2022-12-01"),
     "preferred", "2023-L2-CNS"),
    ("23 L2 CNS T-DM1", Patient("c3", seq(E23, "THP", "TDM1"), brain_met="2022-12-01"),
     "alternative", "2023-L2-CNS"),
    ("23 L2 CNS neratinib", Patient("c4", seq(E23, "THP", "NER"), brain_met="2022-12-01"),
     "not_recommended", "2023-L2-CNS"),
    # sequence awareness
    ("23 L3 tucatinib after T-DXd", Patient("d1", seq(E23, "THP", "TDXD", "TUC")),
     "preferred", "2023-L3"),
    ("23 L3 T-DXd after tucatinib (CNS)",
     Patient("d2", seq(E23, "THP", "TUC", "TDXD"), brain_met="2022-12-01"),
     "preferred", "2023-L3-CNS"),
    ("23 L3 T-DXd again", Patient("d9", seq(E23, "THP", "TDXD", "TDXD")),
     "not_recommended", "2023-L3"),
    ("23 L3 CNS tucatinib before T-DXd",
     Patient("da", seq(E23, "THP", "TDM1", "TUC"), brain_met="2022-12-01"),
     "preferred", "2023-L3-CNS"),
    ("23 L3 CNS T-DXd", Patient("db", seq(E23, "THP", "TDM1", "TDXD"), brain_met="2022-12-01"),
     "preferred", "2023-L3-CNS"),
    ("23 L3 CNS neratinib", Patient("dc", seq(E23, "THP", "TDXD", "NER"), brain_met="2022-12-01"),
     "alternative", "2023-L3-CNS"),
    ("23 L3 CNS T-DXd again",
     Patient("dd", seq(E23, "THP", "TDXD", "TDXD"), brain_met="2022-12-01"),
     "not_recommended", "2023-L3-CNS"),
    ("23 L3 tucatinib when T-DXd not yet given", Patient("d3", seq(E23, "THP", "TDM1", "TUC")),
     "alternative", "2023-L3"),
    ("23 L3 T-DXd after T-DM1", Patient("d4", seq(E23, "THP", "TDM1", "TDXD")),
     "preferred", "2023-L3"),
    ("23 L3 T-DM1 not yet given", Patient("d5", seq(E23, "THP", "TDXD", "TDM1")),
     "alternative", "2023-L3"),
    ("23 L3 T-DM1 again", Patient("d6", seq(E23, "THP", "TDM1", "TDM1")),
     "not_recommended", "2023-L3"),
    ("23 L3 neratinib", Patient("d7", seq(E23, "THP", "TDXD", "NER")), "alternative", "2023-L3"),
    ("23 L3 HP", Patient("d8", seq(E23, "THP", "TDXD", "HP")), "not_recommended", "2023-L3"),
    ("23 L4 margetuximab", Patient("e1", seq(E23, "THP", "TDXD", "TUC", "MARG")),
     "alternative", "2023-L4plus"),
    ("23 L4 T-DM1 not yet given", Patient("e2", seq(E23, "THP", "TDXD", "TUC", "TDM1")),
     "alternative", "2023-L4plus"),
    ("23 L4 T-DM1 again", Patient("e3", seq(E23, "THP", "TDM1", "TDXD", "TUC", "TDM1")),
     "not_recommended", "2023-L4plus"),
    ("23 L4 T-DXd never given", Patient("e4", seq(E23, "THP", "TDM1", "LAPCAP", "TDXD")),
     "preferred", "2023-L4plus"),
    ("23 L4 trastuzumab + chemo", Patient("e5", seq(E23, "THP", "TDXD", "TUC", "TCHEMO")),
     "alternative", "2023-L4plus"),
    ("23 L4 HER2+endo", Patient("e6", seq(E23, "THP", "TDXD", "TUC", "HER2ENDO")),
     "not_recommended", "2023-L4plus"),
    ("23 L4 tucatinib again", Patient("e7", seq(E23, "THP", "TUC", "TDXD", "TUC")),
     "not_recommended", "2023-L4plus"),
    ("23 L4 CNS tucatinib",
     Patient("e8", seq(E23, "THP", "TDM1", "LAPCAP", "TUC"), brain_met="2022-12-01"),
     "preferred", "2023-L4plus-CNS"),
    ("23 L5 CNS HP",
     Patient("e9", seq(E23, "THP", "TDXD", "TUC", "TDM1", "HP"), brain_met="2022-12-01"),
     "not_recommended", "2023-L4plus-CNS"),
    # --- her2-mbc-2020 ------------------------------------------------------------------
    ("20 L1 THP", Patient("f1", seq(E20, "THP")), "preferred", "2020-L1"),
    ("20 L1 TH", Patient("f2", seq(E20, "TCHEMO")), "alternative", "2020-L1"),
    ("20 L1 HP", Patient("f4", seq(E20, "HP")), "not_recommended", "2020-L1"),
    ("20 L1 HR+ HER2+endo", Patient("f3", seq(E20, "HER2ENDO"), hr_positive=True),
     "alternative", "2020-L1-HR"),
    ("20 L2 T-DM1", Patient("g1", seq(E20, "THP", "TDM1")), "preferred", "2020-L2"),
    ("20 L2 T-DXd", Patient("g2", seq(E20, "THP", "TDXD")), "not_recommended", "2020-L2"),
    ("20 L2 lapatinib", Patient("g3", seq(E20, "THP", "LAPCAP")), "alternative", "2020-L2"),
    ("20 L2 tucatinib no CNS", Patient("g4", seq(E20, "THP", "TUC")), "not_recommended",
     "2020-L2"),
    ("20 L2 CNS tucatinib", Patient("g5", seq(E20, "THP", "TUC"), brain_met="2020-12-01"),
     "preferred", "2020-L2-CNS"),
    ("20 L2 CNS T-DXd", Patient("g7", seq(E20, "THP", "TDXD"), brain_met="2020-12-01"),
     "not_recommended", "2020-L2-CNS"),
    ("20 L2 T-DM1 again", Patient("g8", seq(E20, "TDM1", "TDM1")), "not_recommended",
     "2020-L2"),
    ("20 L2 CNS T-DM1", Patient("g6", seq(E20, "THP", "TDM1"), brain_met="2020-12-01"),
     "preferred", "2020-L2-CNS"),
    ("20 L3 tucatinib after T-DM1", Patient("h1", seq(E20, "THP", "TDM1", "TUC")),
     "preferred", "2020-L3plus"),
    ("20 L3 T-DXd after T-DM1", Patient("h2", seq(E20, "THP", "TDM1", "TDXD")),
     "preferred", "2020-L3plus"),
    ("20 L3 T-DM1 not yet given", Patient("h3", seq(E20, "THP", "LAPCAP", "TDM1")),
     "alternative", "2020-L3plus"),
    ("20 L3 tucatinib before T-DM1", Patient("h4", seq(E20, "THP", "LAPCAP", "TUC")),
     "preferred", "2020-L3plus"),
    ("20 L4 tucatinib again", Patient("h8", seq(E20, "THP", "TDM1", "TUC", "TUC")),
     "not_recommended", "2020-L3plus"),
    ("20 L4 T-DXd after tucatinib", Patient("h5", seq(E20, "THP", "TDM1", "TUC", "TDXD")),
     "preferred", "2020-L3plus"),
    ("20 L4 margetuximab", Patient("h6", seq(E20, "THP", "TDM1", "TUC", "MARG")),
     "alternative", "2020-L3plus"),
    ("20 L3 endocrine only", Patient("h7", seq(E20, "THP", "TDM1", "ENDO")),
     "not_recommended", "2020-L3plus"),
    # --- her2-mbc-2013 ------------------------------------------------------------------
    ("13 L1 THP", Patient("i1", seq(E13, "THP")), "preferred", "2013-L1"),
    ("13 L1 TH", Patient("i2", seq(E13, "TCHEMO")), "alternative", "2013-L1"),
    ("13 L1 HER2+endo HR-", Patient("i3", seq(E13, "HER2ENDO")), "not_recommended", "2013-L1"),
    ("13 L1 HR+ HER2+endo", Patient("i4", seq(E13, "HER2ENDO"), hr_positive=True),
     "alternative", "2013-L1-HR"),
    ("13 L2 T-DM1", Patient("j1", seq(E13, "THP", "TDM1")), "preferred", "2013-L2"),
    ("13 L2 lapatinib", Patient("j2", seq(E13, "THP", "LAPCAP")), "alternative", "2013-L2"),
    ("13 L2 lapatinib + trastuzumab", Patient("j4", seq(E13, "THP", "LAPTRAS")),
     "not_recommended", "2013-L2"),
    ("13 L2 T-DXd (not yet a standard)", Patient("j3", seq(E13, "THP", "TDXD")),
     "not_recommended", "2013-L2"),
    ("13 L3 lapatinib + trastuzumab", Patient("k1", seq(E13, "THP", "TDM1", "LAPTRAS")),
     "alternative", "2013-L3plus"),
    ("13 L3 T-DM1 not yet given", Patient("k2", seq(E13, "THP", "LAPCAP", "TDM1")),
     "preferred", "2013-L3plus"),
    ("13 L3 tucatinib (not yet a standard)", Patient("k3", seq(E13, "THP", "TDM1", "TUC")),
     "not_recommended", "2013-L3plus"),
    ("13 L4 T-DM1 again", Patient("k4", seq(E13, "THP", "TDM1", "LAPCAP", "TDM1")),
     "not_recommended", "2013-L3plus"),
]


@pytest.fixture(scope="module")
def verdicts(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("rules")
    con = warehouse.connect(tmp / "rules.duckdb")
    params = RunParameters()
    start_run(con, "rules", str(tmp), params, "test")
    ctx = RunContext(con, "rules", str(tmp), params, None, progress=lambda m: None)
    ctx.set_sql_variables()
    build_world(con, [case[1] for case in CASES])
    concordance.judge(con, None, None)
    rows = fetch(con, "select * from build.line_concordance")
    context = fetch(con, "select * from build.line_context")
    yield (
        {(r["patient_id"], r["line_number"]): r for r in rows},
        {(r["patient_id"], r["line_number"]): r for r in context},
    )
    con.close()


@pytest.mark.parametrize(
    ("patient", "category", "rule_id"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_rule_case(verdicts, patient, category, rule_id):
    by_line, context = verdicts
    key = (patient.patient_id, len(patient.lines))
    got = by_line[key]
    assert (got["category"], got["rule_id"]) == (category, rule_id), got["reason"]
    assert got["concordant"] == (category in ("preferred", "alternative"))
    assert got["guideline_id"] == {"2016": "her2-mbc-2013", "2021": "her2-mbc-2020",
                                   "2023": "her2-mbc-2023"}[patient.lines[-1][0][:4]]
    # the reason names the line, its date and the rulebook
    assert got["reason"].startswith(f"Line {key[1]} ({patient.lines[-1][0]}): ")
    assert got["guideline_id"] in got["reason"]
    assert context[key]["category"] == category


def test_every_rule_of_every_rulebook_has_a_case():
    shipped = {r.rule_id for b in guidelines.load_rulebooks() for r in b.rules}
    covered = {c[3] for c in CASES}
    assert shipped - covered == set(), "rules without a hand case"


def test_sql_matches_the_python_reference_for_every_context(tmp_path):
    """The SQL join picks the same rule as Rulebook.rule_for, for every line 1-6, every
    combination of cns / hr_positive / early_relapse and several treatment histories."""
    histories = [[], ["TDXD"], ["TUC"], ["TDM1"], ["TDXD", "TUC"], ["TDM1", "TUC"],
                 ["TDM1", "TDXD", "TUC"], ["LAPCAP"]]
    con = warehouse.connect(tmp_path / "ref.duckdb")
    books = guidelines.load_rulebooks()
    from .conftest import G

    for book in books:
        patients, expected = [], {}
        year = {"her2-mbc-2013": "2016", "her2-mbc-2020": "2021"}.get(book.id, "2023")
        for cns in (False, True):
            for hr in (False, True):
                for er in (False, True):
                    for h, history in enumerate(histories):
                        for n_before in range(len(history), 6):
                            filler = ["CHEMO"] * (n_before - len(history))
                            groups = [*filler, *history, "NER"]
                            pid = f"{int(cns)}{int(hr)}{int(er)}-{h}-{n_before}"
                            lines = [(f"{year}-{1 + i:02d}-05", g) for i, g in enumerate(groups)]
                            patients.append(Patient(pid, lines, hr_positive=hr, early_relapse=er,
                                                    brain_met=f"{year}-01-01" if cns else None))
                            line = 2 if er and len(groups) == 1 else len(groups)
                            ctx = {"cns": cns, "hr_positive": hr, "early_relapse": er,
                                   "de_novo": False}
                            received = {G[g] for g in groups[:-1]}
                            expected[(pid, len(groups))] = book.rule_for(line, ctx, received)
        start_run(con, "ref", str(tmp_path), RunParameters(), "test")
        warehouse.set_variables(con, {"pinned_guideline": book.id, "data_cutoff": None})
        build_world(con, patients)
        concordance.judge(con, None, book.id)
        got = {
            (r["patient_id"], r["line_number"]): r["rule_id"]
            for r in fetch(con, "select patient_id, line_number, rule_id "
                                "from build.line_concordance")
        }
        mismatches = {k: (got[k], v.rule_id) for k, v in expected.items() if got[k] != v.rule_id}
        assert mismatches == {}, book.id
    con.close()
