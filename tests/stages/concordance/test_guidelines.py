"""Loading rulebooks: the shipped ones are valid; a malformed or contradictory rulebook is
refused with a message naming the file, the rule and the problem; users add their own
rulebooks from a folder; an unknown --guideline is refused listing the known ids."""

from __future__ import annotations

import datetime as dt
import textwrap
from pathlib import Path

import pytest
import yaml

from her2audit import cli, guidelines
from her2audit.errors import RuleFileError, UsageError

MINIMAL = """
id: clinic-pathway
version: "1"
title: A clinic's own pathway
effective_from: 2024-01-01
references:
  CLEOPATRA: Swain S, et al. Lancet Oncol 2020.
  DB03: Hurvitz S, et al. Lancet 2023.
rules:
  - id: P1
    line: 1
    preferred: [taxane_trastuzumab_pertuzumab]
    citation: [CLEOPATRA]
  - id: P2
    line: 2+
    preferred: [trastuzumab_deruxtecan]
    citation: [DB03]
"""


def write(folder: Path, text: str, name: str = "clinic.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def edited(**changes) -> str:
    """MINIMAL with top-level keys replaced, or rule fields (`rules` index -> dict) merged."""
    doc = yaml.safe_load(MINIMAL)
    for key, value in changes.items():
        if key.startswith("rule"):
            i = int(key[4:])
            doc["rules"][i].update(value)
            doc["rules"][i] = {k: v for k, v in doc["rules"][i].items() if v is not None}
        elif value is None:
            del doc[key]
        else:
            doc[key] = value
    return yaml.safe_dump(doc, sort_keys=False)


def refused(tmp_path: Path, text: str) -> str:
    path = write(tmp_path / "rb", text)
    with pytest.raises(RuleFileError) as info:
        guidelines.load_rulebook(path)
    message = str(info.value)
    assert message.startswith(str(path)), message
    return message


def test_shipped_rulebooks_load_with_their_eras():
    books = {b.id: b for b in guidelines.load_rulebooks()}
    assert set(books) == {"her2-mbc-2013", "her2-mbc-2020", "her2-mbc-2023", "her2-mbc-2025"}
    periods = guidelines.effective_periods(list(books.values()))
    D = dt.date.fromisoformat
    assert periods["her2-mbc-2013"] == (D("2013-02-22"), D("2020-04-16"))
    assert periods["her2-mbc-2020"] == (D("2020-04-17"), D("2022-05-03"))
    assert periods["her2-mbc-2023"] == (D("2022-05-04"), D("2025-12-14"))
    assert periods["her2-mbc-2025"] == (D("2025-12-15"), None)
    # the approvals inside a rulebook's period are where its rules change
    assert books["her2-mbc-2013"].change_dates() == (
        D("2013-02-22"), D("2019-12-20"), D("2020-02-25"))
    assert books["her2-mbc-2020"].change_dates() == (D("2020-04-17"), D("2020-12-16"))
    for book in books.values():
        assert book.source and book.references
        for rule in book.rules:
            assert all(key in book.references for key in rule.citation)


def test_a_minimal_user_rulebook_loads(tmp_path):
    book = guidelines.load_rulebook(write(tmp_path, MINIMAL))
    assert [r.rule_id for r in book.rules] == ["P1", "P2"]
    assert book.rules[1].line_from == 2 and book.rules[1].line_to is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("id: x\nrules: [\n", "cannot read the rulebook"),
        ("- just\n- a list\n", "must be a mapping"),
        (edited(version=None), "'version' is a required property"),
        (edited(rule0={"preferred": ["thp"]}),
         "rule P1: preferred.0: 'thp' is not a regimen group"),
        (edited(rule1={"line": "second"}), "rule P2: line:"),
        (edited(rule1={"citation": ["DESTINY-Breast03"]}),
         "rule P2: citation 'DESTINY-Breast03' is not defined under references"),
        (edited(rule0={"alternative": ["taxane_trastuzumab_pertuzumab"]}),
         "rule P1: contradiction: taxane_trastuzumab_pertuzumab is both preferred and alternative"),
        (edited(rule0={"alternative": ["investigational"]}),
         "rule P1: alternative lists investigational"),
        (edited(rule0={"when": {"received": ["trastuzumab_deruxtecan"],
                                "not_received": ["trastuzumab_deruxtecan"]}}),
         "rule P1: when: trastuzumab_deruxtecan is both received and not_received"),
        (edited(rule0={"prefer_next_in_sequence": True}),
         "rule P1: prefer_next_in_sequence is set but the rulebook has no sequence"),
        (edited(rule0={"preferred": []}), "rule P1: the rule names no preferred or alternative"),
        (edited(rule1={"id": "P1"}), "rule P1: rule id used twice"),
        (edited(rule1={"line": 2}), "no rule covers line 3"),
        (edited(rule0={"line": 2}), "no rule covers line 1"),
        (edited(effective_to="2023-01-01"), "effective_to 2023-01-01 is before effective_from"),
        (edited(rule0={"colour": "red"}), "rule P1: Additional properties are not allowed"),
        (edited(effective_from="2024-13-01"), "effective_from: '2024-13-01' is not a 'date'"),
        (edited(rule1={"effective_from": "2024-06-01", "effective_to": "2024-05-01"}),
         "rule P2: effective_to 2024-05-01 is before effective_from 2024-06-01"),
        (edited(rule1={"alternative": [{"group": "trastuzumab_emtansine",
                                        "effective_from": "2024-06-01",
                                        "effective_to": "2024-05-31"}]}),
         "rule P2: alternative trastuzumab_emtansine: effective_to 2024-05-31 is before"),
        (edited(rule1={"alternative": [{"group": "taxane_trastuzumab_pertuzumab",
                                        "if_never_given": ["pertuzumabb"]}]}),
         "rule P2: alternative taxane_trastuzumab_pertuzumab: if_never_given names "
         "'pertuzumabb', not an ingredient of the drug vocabulary"),
        (edited(rule1={"alternative": [{"group": "thp", "effective_from": "2024-06-01"}]}),
         "rule P2: alternative.0.group: 'thp' is not a regimen group"),
        (edited(rule1={"alternative": [{"group": "trastuzumab_emtansine"}]}),
         "rule P2: alternative.0:"),
        (edited(rule1={"alternative": [
            {"group": "trastuzumab_emtansine", "effective_from": "2024-06-01"},
            {"group": "trastuzumab_emtansine", "effective_from": "2024-09-01"}]}),
         "rule P2: alternative lists trastuzumab_emtansine twice for the same dates"),
        (edited(rule1={"alternative": [
            {"group": "trastuzumab_deruxtecan", "effective_to": "2024-06-01"}]}),
         "rule P2: contradiction: trastuzumab_deruxtecan is both preferred and alternative"),
        (edited(counts_as_received={"trastuzumab_deruxtecan": ["trastuzumab_deruxtecan"]}),
         "counts_as_received: trastuzumab_deruxtecan counts as itself"),
        (edited(rule1={"effective_from": "2024-06-01"}),
         "no rule covers line 2 on 2024-01-01"),
    ],
    ids=["yaml syntax", "not a mapping", "missing version", "unknown group", "bad line",
         "unknown citation", "preferred and alternative", "investigational listed",
         "impossible condition", "sequence missing", "names nothing", "duplicate rule id",
         "line 3 uncovered", "line 1 uncovered", "ends before it starts", "unknown field",
         "bad date", "rule ends before it starts", "group ends before it starts",
         "unknown ingredient", "unknown group in an entry", "entry without a condition",
         "group listed twice", "group preferred and alternative on the same dates",
         "counts as itself", "rule leaves a gap before its date"],
)
def test_malformed_rulebooks_are_refused_naming_file_rule_and_problem(tmp_path, text, expected):
    assert expected in refused(tmp_path, text)


def test_two_rules_that_tie_for_a_context_are_a_contradiction(tmp_path):
    doc = yaml.safe_load(MINIMAL)
    doc["rules"] += [
        {"id": "P2-CNS", "line": 2, "when": {"cns": True},
         "preferred": ["tucatinib_trastuzumab_capecitabine"], "citation": ["DB03"]},
        {"id": "P2-HR", "line": 2, "when": {"hr_positive": True},
         "preferred": ["trastuzumab_emtansine"], "citation": ["DB03"]},
    ]
    message = refused(tmp_path, yaml.safe_dump(doc))
    assert "rule P2-CNS: contradiction: rules P2-CNS and P2-HR both apply to line 2" in message
    assert "cns=true, hr_positive=true" in message
    # adding the combination resolves it: the rule with more conditions wins
    doc["rules"].append(
        {"id": "P2-CNS-HR", "line": 2, "when": {"cns": True, "hr_positive": True},
         "preferred": ["tucatinib_trastuzumab_capecitabine"], "citation": ["DB03"]})
    book = guidelines.load_rulebook(write(tmp_path / "ok", yaml.safe_dump(doc)))
    ctx = {"cns": True, "hr_positive": True, "early_relapse": False, "de_novo": False}
    assert book.rule_for(2, ctx, []).rule_id == "P2-CNS-HR"
    assert book.rule_for(2, ctx | {"hr_positive": False}, []).rule_id == "P2-CNS"
    assert book.rule_for(3, ctx, []).rule_id == "P2"


def test_an_exact_line_beats_a_range_with_equal_conditions(tmp_path):
    doc = yaml.safe_load(MINIMAL)
    doc["rules"].append({"id": "P3", "line": 3, "preferred": ["tucatinib_trastuzumab_capecitabine"],
                         "citation": ["DB03"]})
    book = guidelines.load_rulebook(write(tmp_path, yaml.safe_dump(doc)))
    ctx = {"cns": False, "hr_positive": False, "early_relapse": False, "de_novo": False}
    assert [book.rule_for(n, ctx, []).rule_id for n in (2, 3, 4)] == ["P2", "P3", "P2"]


def test_user_folder_adds_rulebooks_and_conflicts_are_refused(tmp_path):
    folder = tmp_path / "pathways"
    write(folder, MINIMAL)
    books = guidelines.load_rulebooks(folder)
    assert "clinic-pathway" in [b.id for b in books]
    periods = guidelines.effective_periods(books)
    # the newest rulebook takes over from its effective date; the 2023 one ends the day before
    assert periods["her2-mbc-2023"][1] == dt.date(2023, 12, 31)
    assert periods["clinic-pathway"] == (dt.date(2024, 1, 1), dt.date(2025, 12, 14))

    write(folder, edited(id="her2-mbc-2023"), "dup.yaml")
    with pytest.raises(RuleFileError, match="id her2-mbc-2023 is already used by"):
        guidelines.load_rulebooks(folder)
    (folder / "dup.yaml").unlink()

    write(folder, edited(id="other", effective_from="2024-01-01"), "same-day.yaml")
    with pytest.raises(RuleFileError, match="takes effect on 2024-01-01 like clinic-pathway"):
        guidelines.load_rulebooks(folder)
    # a pathway used only when pinned may share the date
    write(folder, edited(id="other", in_force_by_date=False), "same-day.yaml")
    assert "other" in {b.id for b in guidelines.load_rulebooks(folder)}


def test_rulebooks_folder_must_exist_and_hold_rulebooks(tmp_path):
    with pytest.raises(UsageError, match="must be a folder"):
        guidelines.load_rulebooks(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="no rulebook files"):
        guidelines.load_rulebooks(tmp_path / "empty")


def test_unknown_pinned_guideline_lists_the_known_ids():
    books = guidelines.load_rulebooks()
    guidelines.check_pinned(books, "her2-mbc-2020")
    with pytest.raises(UsageError) as info:
        guidelines.check_pinned(books, "her2-mbc-2099")
    assert str(info.value) == (
        "--guideline her2-mbc-2099: no such rulebook; known rulebooks: "
        "her2-mbc-2013, her2-mbc-2020, her2-mbc-2023, her2-mbc-2025"
    )


def test_cli_refuses_unknown_guideline_and_bad_rulebook_with_exit_2(tmp_path, capsys):
    args = ["run", "--registry", str(tmp_path / "nowhere"), "--db", str(tmp_path / "w.duckdb"),
            "--reports", str(tmp_path / "r")]
    assert cli.main([*args, "--guideline", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "known rulebooks: her2-mbc-2013" in err
    bad = write(tmp_path / "bad", edited(rule0={"preferred": ["thp"]}))
    assert cli.main([*args, "--rulebooks", str(bad.parent)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}: rule P1: preferred.0: 'thp' is not a regimen group" in err
    assert not (tmp_path / "w.duckdb").exists()  # refused before any work


def test_the_documented_example_rulebook_loads_and_judges(tmp_path, judge):
    from her2audit.paths import PROJECT_DIR

    from .conftest import Patient

    page = (PROJECT_DIR / "docs" / "rules" / "rulebooks.md").read_text()
    section = page[page.index("## Adding your own rulebook"):]
    example = section[section.index("```yaml") + len("```yaml"):]
    example = example[:example.index("```")]
    folder = tmp_path / "pathways"
    write(folder, example, "clinic-2025.yaml")
    verdicts = judge([Patient("P", [("2025-02-01", "THP"), ("2025-09-01", "TUC")],
                              brain_met="2025-01-15")], rulebooks=folder)
    assert verdicts[("P", 2)]["guideline_id"] == "clinic-2025"
    assert (verdicts[("P", 2)]["category"], verdicts[("P", 2)]["rule_id"]) == (
        "preferred", "C2-CNS")


def test_too_many_history_conditions_are_refused_not_left_to_run_forever(tmp_path):
    doc = yaml.safe_load(MINIMAL)
    groups = guidelines.regimen_groups()[:11]
    doc["rules"].append({"id": "P3", "line": 3, "when": {"not_received": list(groups)},
                         "preferred": ["trastuzumab_emtansine"], "citation": ["DB03"]})
    assert "the rules test 11 different regimen groups" in refused(tmp_path, yaml.safe_dump(doc))


def test_approvals_inside_a_rulebook_period(tmp_path):
    """A group or a rule with its own window counts only for lines started inside it; a
    group may be alternative until a date and preferred from the next day."""
    doc = yaml.safe_load(MINIMAL)
    doc["rules"][1]["preferred"] = [
        {"group": "trastuzumab_deruxtecan", "effective_from": "2024-07-01"}]
    doc["rules"][1]["alternative"] = [
        {"group": "trastuzumab_deruxtecan", "effective_to": "2024-06-30"},
        {"group": "taxane_trastuzumab_pertuzumab", "if_never_given": ["pertuzumab"]}]
    doc["rules"].append({"id": "P3-late", "line": 3, "effective_from": "2024-10-01",
                         "preferred": ["tucatinib_trastuzumab_capecitabine"],
                         "citation": ["DB03"]})
    doc["counts_as_received"] = {
        "trastuzumab_deruxtecan_pertuzumab": ["trastuzumab_deruxtecan"]}
    book = guidelines.load_rulebook(write(tmp_path, yaml.safe_dump(doc)))
    D = dt.date.fromisoformat
    assert book.change_dates() == (D("2024-01-01"), D("2024-07-01"), D("2024-10-01"))
    ctx = {"cns": False, "hr_positive": False, "early_relapse": False, "de_novo": False}

    def category(line, group, on, received=(), given=()):
        return book.judge(line, ctx, received, given, group, D(on))[:2]

    assert category(2, "trastuzumab_deruxtecan", "2024-06-30") == ("alternative", "P2")
    assert category(2, "trastuzumab_deruxtecan", "2024-07-01") == ("preferred", "P2")
    assert category(3, "trastuzumab_deruxtecan", "2024-09-30") == ("preferred", "P2")
    assert category(3, "tucatinib_trastuzumab_capecitabine", "2024-10-01") == (
        "preferred", "P3-late")
    assert category(2, "taxane_trastuzumab_pertuzumab", "2024-08-01") == ("alternative", "P2")
    assert category(2, "taxane_trastuzumab_pertuzumab", "2024-08-01",
                    given=["pertuzumab"]) == ("not_recommended", "P2")
    assert book.received(["trastuzumab_deruxtecan_pertuzumab"]) == {
        "trastuzumab_deruxtecan_pertuzumab", "trastuzumab_deruxtecan"}


def test_the_stage_reads_rules_and_groups_as_of_each_line_date(tmp_path, judge):
    """The concordance SQL honours a rule's own window and a group's own window, like
    Rulebook.judge: the same regimen in line 2 and 3 is judged differently either side of
    the dates."""
    from .conftest import Patient, fetch

    doc = yaml.safe_load(MINIMAL)
    doc["id"], doc["in_force_by_date"] = "dated", False
    doc["rules"][1]["preferred"] = [
        {"group": "trastuzumab_deruxtecan", "effective_from": "2024-07-01"}]
    doc["rules"][1]["alternative"] = [
        {"group": "trastuzumab_deruxtecan", "effective_to": "2024-06-30"}]
    doc["rules"].append({"id": "P3-late", "line": 3, "effective_from": "2024-10-01",
                         "preferred": ["tucatinib_trastuzumab_capecitabine"],
                         "citation": ["DB03"]})
    folder = tmp_path / "pathways"
    write(folder, yaml.safe_dump(doc), "dated.yaml")
    patients = [
        Patient("A", [("2024-02-01", "THP"), ("2024-06-30", "TDXD")]),
        Patient("B", [("2024-02-01", "THP"), ("2024-07-01", "TDXD")]),
        Patient("C", [("2024-02-01", "THP"), ("2024-05-01", "TDXD"), ("2024-09-30", "TUC")]),
        Patient("D", [("2024-02-01", "THP"), ("2024-05-01", "TDXD"), ("2024-10-01", "TUC")]),
    ]
    verdicts = judge(patients, pinned="dated", rulebooks=folder)
    got = {k: (v["category"], v["rule_id"]) for k, v in verdicts.items()}
    assert got[("A", 2)] == ("alternative", "P2")
    assert got[("B", 2)] == ("preferred", "P2")
    assert got[("C", 3)] == ("not_recommended", "P2")
    assert got[("D", 3)] == ("preferred", "P3-late")
    as_of = {(r["patient_id"], r["line_number"]): str(r["rules_as_of"]) for r in fetch(
        judge.con, "select patient_id, line_number, rules_as_of from build.line_context")}
    assert (as_of[("A", 2)], as_of[("B", 2)], as_of[("D", 3)]) == (
        "2024-01-01", "2024-07-01", "2024-10-01")
