"""Hand cases for every rule of every shipped rulebook (SPEC §6).

Each case is one patient; the verdict of their last line is checked. The lines before it
set the sequence context (regimen groups already received). Dates choose the rulebook:
2016 -> her2-mbc-2013, 2021 -> her2-mbc-2020, 2023 -> her2-mbc-2023, 2026 ->
her2-mbc-2025; cases on other dates test the boundaries (a rulebook's first day, an
approval inside a rulebook's period).
"""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from her2audit import guidelines, warehouse
from her2audit.context import RunContext, start_run
from her2audit.parameters import RunParameters
from her2audit.stages import concordance

from .conftest import INGREDIENTS, Patient, build_world, fetch

# (case id, patient, expected category, expected rule_id) -- the patient's last line is judged
E13, E20, E23, E25 = "2016", "2021", "2023", "2026"
THP_AFTER_HP_ENDO = "letrozole + pertuzumab + trastuzumab"  # an anti-HER2 + endocrine line


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
    # the US tucatinib label of 2020-04-17 is one or more prior anti-HER2 regimens
    ("20 L2 tucatinib no CNS", Patient("g4", seq(E20, "THP", "TUC")), "alternative",
     "2020-L2"),
    ("20 L2 tucatinib again", Patient("g9", seq(E20, "TUC", "TUC")), "not_recommended",
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
    # --- approvals inside a rulebook's period ----------------------------------------------
    ("13 L3 T-DXd the day before its approval",
     Patient("n1", [("2019-03-01", "THP"), ("2019-08-01", "TDM1"), ("2019-12-19", "TDXD")]),
     "not_recommended", "2013-L3plus"),
    ("13 L3 T-DXd on its approval day 2019-12-20",
     Patient("n2", [("2019-03-01", "THP"), ("2019-08-01", "TDM1"), ("2019-12-20", "TDXD")]),
     "alternative", "2013-L3plus"),
    ("13 L2 T-DXd after its approval (line 3+ only)",
     Patient("n3", [("2019-08-01", "THP"), ("2020-01-10", "TDXD")]),
     "not_recommended", "2013-L2"),
    ("13 L3 neratinib the day before its approval",
     Patient("n4", [("2019-03-01", "THP"), ("2019-08-01", "TDM1"), ("2020-02-24", "NER")]),
     "not_recommended", "2013-L3plus"),
    ("13 L3 neratinib on its approval day 2020-02-25",
     Patient("n5", [("2019-03-01", "THP"), ("2019-08-01", "TDM1"), ("2020-02-25", "NER")]),
     "alternative", "2013-L3plus"),
    ("20 L3 margetuximab on 2020-12-15",
     Patient("n6", [("2020-05-01", "THP"), ("2020-08-01", "TDM1"), ("2020-12-15", "MARG")]),
     "not_recommended", "2020-L3plus"),
    ("20 L3 margetuximab on its approval day 2020-12-16",
     Patient("n7", [("2020-05-01", "THP"), ("2020-08-01", "TDM1"), ("2020-12-16", "MARG")]),
     "alternative", "2020-L3plus"),
    # --- THP from line 2 when pertuzumab was never given (ASCO), every rulebook -----------
    ("13 L2 THP without prior pertuzumab", Patient("o1", seq(E13, "TCHEMO", "THP")),
     "alternative", "2013-L2"),
    ("13 L3 THP without prior pertuzumab", Patient("o2", seq(E13, "TCHEMO", "TDM1", "THP")),
     "alternative", "2013-L3plus"),
    ("20 L2 THP without prior pertuzumab", Patient("o3", seq(E20, "TCHEMO", "THP")),
     "alternative", "2020-L2"),
    ("20 L2 CNS THP without prior pertuzumab",
     Patient("o4", seq(E20, "TCHEMO", "THP"), brain_met="2020-12-01"),
     "alternative", "2020-L2-CNS"),
    ("23 L2 THP without prior pertuzumab", Patient("o5", seq(E23, "TCHEMO", "THP")),
     "alternative", "2023-L2"),
    ("23 L2 THP again", Patient("o6", seq(E23, "THP", "THP")), "not_recommended", "2023-L2"),
    ("23 L2 THP after pertuzumab with endocrine therapy",
     Patient("o7", [("2023-01-10", "HER2ENDO", THP_AFTER_HP_ENDO), ("2023-05-10", "THP")],
             hr_positive=True),
     "not_recommended", "2023-L2"),
    ("23 L4 THP without prior pertuzumab",
     Patient("o8", seq(E23, "TCHEMO", "TDXD", "TUC", "THP")), "alternative", "2023-L4plus"),
    ("25 L2 THP without prior pertuzumab", Patient("o9", seq(E25, "TCHEMO", "THP")),
     "alternative", "2025-L2"),
    ("25 L2 THP after T-DXd + pertuzumab", Patient("oa", seq(E25, "TDXDP", "THP")),
     "not_recommended", "2025-L2"),
    # --- trial participation: anti-HER2 + immune checkpoint inhibitor ---------------------
    ("23 L2 trastuzumab + pembrolizumab",
     Patient("p1", [("2023-01-10", "THP"), ("2023-05-10", "TRIAL", "pembrolizumab + trastuzumab")]),
     "trial", "investigational_agent"),
    ("25 L1 T-DM1 + atezolizumab",
     Patient("p2", [("2026-01-10", "TRIAL", "atezolizumab + trastuzumab emtansine")]),
     "trial", "investigational_agent"),
    # --- her2-mbc-2025 --------------------------------------------------------------------
    ("25 L1 T-DXd + pertuzumab on 2025-12-15", Patient("q1", [("2025-12-15", "TDXDP")]),
     "preferred", "2025-L1"),
    ("23 L1 T-DXd + pertuzumab on 2025-12-14", Patient("q2", [("2025-12-14", "TDXDP")]),
     "not_recommended", "2023-L1"),
    ("25 L1 THP", Patient("q3", seq(E25, "THP")), "preferred", "2025-L1"),
    ("25 L1 TH", Patient("q4", seq(E25, "TCHEMO")), "alternative", "2025-L1"),
    ("25 L1 HR+ T-DXd + pertuzumab", Patient("q5", seq(E25, "TDXDP"), hr_positive=True),
     "preferred", "2025-L1-HR"),
    ("25 L1 HR+ HER2+endo", Patient("q6", seq(E25, "HER2ENDO"), hr_positive=True),
     "alternative", "2025-L1-HR"),
    ("25 L2 tucatinib after T-DXd + pertuzumab", Patient("r1", seq(E25, "TDXDP", "TUC")),
     "preferred", "2025-L2"),
    ("25 L2 T-DXd after T-DXd + pertuzumab", Patient("r2", seq(E25, "TDXDP", "TDXD")),
     "not_recommended", "2025-L2"),
    ("25 L2 T-DXd after THP", Patient("r3", seq(E25, "THP", "TDXD")), "preferred", "2025-L2"),
    ("25 L2 T-DXd + pertuzumab after THP", Patient("r4", seq(E25, "THP", "TDXDP")),
     "preferred", "2025-L2"),
    ("25 L2 tucatinib after THP", Patient("r5", seq(E25, "THP", "TUC")),
     "alternative", "2025-L2"),
    ("25 L2 tucatinib + T-DM1", Patient("r6", seq(E25, "THP", "TUCTDM1")),
     "alternative", "2025-L2"),
    ("25 L2 T-DM1 after tucatinib + T-DM1", Patient("r7", seq(E25, "TUCTDM1", "TDM1")),
     "not_recommended", "2025-L2"),
    ("25 L2 CNS T-DXd", Patient("s1", seq(E25, "THP", "TDXD"), brain_met="2025-12-01"),
     "preferred", "2025-L2-CNS"),
    ("25 L2 CNS tucatinib", Patient("s2", seq(E25, "THP", "TUC"), brain_met="2025-12-01"),
     "preferred", "2025-L2-CNS"),
    ("25 L2 CNS T-DXd after T-DXd + pertuzumab",
     Patient("s3", seq(E25, "TDXDP", "TDXD"), brain_met="2025-12-01"),
     "not_recommended", "2025-L2-CNS"),
    ("25 L2 CNS T-DM1", Patient("s4", seq(E25, "THP", "TDM1"), brain_met="2025-12-01"),
     "alternative", "2025-L2-CNS"),
    ("25 L3 tucatinib after T-DXd", Patient("t1", seq(E25, "THP", "TDXD", "TUC")),
     "preferred", "2025-L3"),
    ("25 L3 T-DXd + pertuzumab after T-DXd",
     Patient("t2", seq(E25, "THP", "TDXD", "TDXDP")), "not_recommended", "2025-L3"),
    ("25 L3 neratinib", Patient("t3", seq(E25, "THP", "TDXD", "NER")), "alternative", "2025-L3"),
    ("25 L3 CNS T-DXd after tucatinib",
     Patient("t4", seq(E25, "THP", "TUC", "TDXD"), brain_met="2025-12-01"),
     "preferred", "2025-L3-CNS"),
    ("25 L4 margetuximab", Patient("u1", seq(E25, "THP", "TDXD", "TUC", "MARG")),
     "alternative", "2025-L4plus"),
    ("25 L4 CNS T-DXd never given",
     Patient("u2", seq(E25, "THP", "TDM1", "LAPCAP", "TDXD"), brain_met="2025-12-01"),
     "preferred", "2025-L4plus-CNS"),
]

PERIODS = [("her2-mbc-2013", "2013-02-22"), ("her2-mbc-2020", "2020-04-17"),
           ("her2-mbc-2023", "2022-05-04"), ("her2-mbc-2025", "2025-12-15")]


def rulebook_on(date: str) -> str:
    return [g for g, start in PERIODS if start <= date][-1]



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
    assert got["guideline_id"] == rulebook_on(patient.lines[-1][0])
    # the reason names the line, its date and the rulebook
    assert got["reason"].startswith(f"Line {key[1]} ({patient.lines[-1][0]}): ")
    assert got["guideline_id"] in got["reason"]
    assert context[key]["category"] == category


def test_every_rule_of_every_rulebook_has_a_case():
    shipped = {r.rule_id for b in guidelines.load_rulebooks() for r in b.rules}
    covered = {c[3] for c in CASES}
    assert shipped - covered == set(), "rules without a hand case"


def _reference_cases(book: guidelines.Rulebook):
    """Patients whose last line is judged, and what Rulebook.judge says of it."""
    from .conftest import G

    histories = [[], ["TDXD"], ["TUC"], ["TDM1"], ["TDXD", "TUC"], ["TDM1", "TUC"],
                 ["TDM1", "TDXD", "TUC"], ["LAPCAP"], ["THP"], ["TDXDP"], ["TUCTDM1"]]
    judged = ["NER", "THP", "TDXD", "TUC", "MARG", "TDXDP", "TDM1"]
    dates = set(book.change_dates())
    dates |= {d - dt.timedelta(days=1) for d in book.change_dates()[1:]}
    patients, expected = [], {}
    for on, cns, hr, er, (h, history), last in itertools.product(
            sorted(dates), (False, True), (False, True), (False, True),
            enumerate(histories), judged):
        for n_before in range(len(history), 5):
            groups = ["CHEMO"] * (n_before - len(history)) + history + [last]
            pid = f"{on}-{int(cns)}{int(hr)}{int(er)}-{h}-{n_before}-{last}"
            lines = [(str(on - dt.timedelta(days=30 * (len(groups) - i))), g)
                     for i, g in enumerate(groups, start=1)]
            patients.append(Patient(pid, lines, hr_positive=hr, early_relapse=er,
                                    brain_met="2000-01-01" if cns else None))
            line = 2 if er and len(groups) == 1 else len(groups)
            ctx = {"cns": cns, "hr_positive": hr, "early_relapse": er, "de_novo": False}
            received = {G[g] for g in groups[:-1]}
            given = {i for g in groups[:-1] for i in INGREDIENTS[G[g]].split(" + ")}
            expected[(pid, len(groups))] = book.judge(line, ctx, received, given, G[last],
                                                      on)[:2]
    return patients, expected


def test_sql_matches_the_python_reference_for_every_context(tmp_path):
    """The SQL join picks the same rule and category as Rulebook.judge, for every line 1-5,
    every combination of cns / hr_positive / early_relapse, several treatment histories and
    regimens, and every date on which a rulebook's rules change (and the day before)."""
    con = warehouse.connect(tmp_path / "ref.duckdb")
    for book in guidelines.load_rulebooks():
        patients, expected = _reference_cases(book)
        start_run(con, "ref", str(tmp_path), RunParameters(), "test")
        warehouse.set_variables(con, {"pinned_guideline": book.id, "data_cutoff": None})
        build_world(con, patients)
        concordance.judge(con, None, book.id)
        got = {
            (r["patient_id"], r["line_number"]): (r["category"], r["rule_id"])
            for r in fetch(con, "select patient_id, line_number, category, rule_id "
                                "from build.line_concordance")
        }
        mismatches = {k: (got[k], v) for k, v in expected.items() if got[k] != v}
        assert mismatches == {}, (book.id, list(mismatches.items())[:5])
    con.close()
