"""The expectation suites in expectations/ are well-formed and cover every registry table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from her2audit.errors import RuleFileError
from her2audit.paths import EXPECTATIONS_DIR, RULES_DIR
from her2audit.stages.validate.suites import load_suite, load_suites


def registry_tables() -> list[str]:
    schema = yaml.safe_load((RULES_DIR / "registry_schema.yaml").read_text())
    return sorted(schema["tables"])


def test_one_suite_per_registry_table_and_one_for_outputs():
    suites = load_suites()
    validate = sorted(s.name for s in suites if s.stage == "validate")
    assert validate == registry_tables()
    assert sorted(s.name for s in suites if s.stage == "publish") == [
        "audit_line_concordance", "audit_lines_of_therapy"]


def test_every_expectation_has_a_severity_and_a_unique_name():
    names = [e.name for s in load_suites() for e in s.expectations]
    assert len(names) == len(set(names))
    for suite in load_suites():
        assert {e.severity for e in suite.expectations} <= {"critical", "warning"}
        assert all(e.description for e in suite.expectations), suite.name


def test_every_registry_suite_bounds_its_quarantine_rate_critically():
    for suite in load_suites(stage="validate"):
        rate = [e for e in suite.expectations
                if e.kwargs.get("column") == "quarantined" and e.severity == "critical"]
        assert rate and rate[0].kwargs["max_value"] == 0.2, suite.name


def test_suites_are_plain_gx_suite_json():
    import great_expectations as gx
    from great_expectations.core.expectation_suite import ExpectationSuite

    context = gx.get_context(mode="ephemeral")
    for path in sorted(EXPECTATIONS_DIR.glob("*.json")):
        doc = json.loads(path.read_text())
        suite = context.suites.add(ExpectationSuite(**doc))  # our keys live in meta
        assert len(suite.expectations) == len(doc["expectations"])


META = {"batch": "staging.dq_patients",
        "sql": ["20_validate/00_quarantined_rows.sql", "20_validate/10_patients.sql"]}


def test_a_suite_must_name_existing_sql(tmp_path: Path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"name": "bad", "meta": {**META, "sql": ["20_validate/nope.sql"]},
                                "expectations": [{"type": "expect_column_sum_to_be_between",
                                                  "kwargs": {"column": "a"},
                                                  "meta": {"name": "a", "severity": "warning"}}]}))
    with pytest.raises(RuleFileError, match="no file sql/20_validate/nope.sql"):
        load_suite(path)


@pytest.mark.parametrize("meta, problem", [
    ({"name": "x"}, "meta.severity"),
    ({"name": "x", "severity": "fatal"}, "meta.severity"),
    ({"severity": "critical"}, "meta.name"),
])
def test_a_malformed_expectation_is_rejected(tmp_path: Path, meta, problem):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"name": "bad", "meta": META, "expectations": [
        {"type": "expect_column_sum_to_be_between", "kwargs": {"column": "a"}, "meta": meta}]}))
    with pytest.raises(RuleFileError, match=problem):
        load_suite(path)


def test_duplicate_names_across_suites_are_rejected(tmp_path: Path):
    exp = {"type": "expect_column_sum_to_be_between", "kwargs": {"column": "a"},
           "meta": {"name": "same", "severity": "warning"}}
    for name in ("a", "b"):
        (tmp_path / f"{name}.json").write_text(json.dumps(
            {"name": name, "meta": META, "expectations": [exp]}))
    with pytest.raises(RuleFileError, match="unique"):
        load_suites(tmp_path)
