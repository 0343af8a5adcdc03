"""The Airflow DAG `her2_network_audit`: one mapped task per centre (its whole audit and its
share package), one merge; run end to end with `dag.test()` over 3 small centres."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from her2audit import guidelines, orchestration
from her2audit.errors import UsageError
from her2audit.network import orchestration as net

pytestmark = pytest.mark.airflow

@pytest.fixture(scope="module")
def network_dag(dagbag):
    return dagbag.get_dag("her2_network_audit")


def test_the_dag_file_imports_cleanly(dagbag, network_dag):
    assert dagbag.import_errors == {}
    assert network_dag is not None


def test_one_mapped_task_per_centre_then_one_merge(network_dag):
    assert sorted(network_dag.task_ids) == ["centre_audit", "centre_sources", "merge"]
    assert network_dag.get_task("centre_sources").downstream_task_ids == {"centre_audit"}
    assert network_dag.get_task("centre_audit").downstream_task_ids == {"merge"}
    assert {"centres", "packages", "network_db", "reports", "guideline"} <= set(
        network_dag.params)
    assert all(network_dag.params.get_param(name).description for name in network_dag.params)


def test_guideline_is_a_choice_of_known_rulebooks_as_in_the_registry_dag(network_dag):
    schema = network_dag.params.get_param("guideline").schema
    known = [b.id for b in guidelines.load_rulebooks()]
    assert schema["enum"] == [orchestration.BY_DATE, *known]
    assert network_dag.params["guideline"] == orchestration.BY_DATE
    assert "rulebooks" in network_dag.params


@pytest.mark.parametrize(("params", "problem"), [
    ({"centres": []}, "non-empty list"),
    ({"centres": [{"centre": "a", "registry": "r"}]}, "lacks db"),
    ({"centres": [{"centre": "a b", "registry": "r", "db": "a.duckdb"}]}, "centre name"),
    ({"centres": [{"centre": "a", "registry": "r", "db": "x.duckdb"},
                  {"centre": "b", "registry": "s", "db": "x.duckdb"}]},
     "db 'x.duckdb' given twice"),
    ({"centres": [{"centre": "a", "registry": "r", "db": "a.duckdb"}], "packages": None},
     "'packages' is not set"),
])
def test_bad_centre_sources_are_refused_before_any_audit(params, problem):
    full = {"packages": "p", "network_db": "n.duckdb", "reports": "r", **params}
    with pytest.raises(UsageError, match=problem):
        net.centre_sources(full)


@pytest.fixture(scope="module")
def centres(tmp_path_factory) -> dict[str, Path]:
    """3 centres split by site from one synthetic registry of 600 patients."""
    from her2audit.synth import write_registry
    from tests.network.packages import split_registry

    root = tmp_path_factory.mktemp("network_dag")
    write_registry(root / "registry", patients=600, seed=3, fmt="csv")
    return split_registry(root / "registry", root / "centres", 3)


def test_a_dag_run_audits_each_centre_and_merges_their_packages(
        network_dag, centres, tmp_path):
    sources = [{"centre": name, "registry": str(folder), "db": str(tmp_path / f"{name}.duckdb")}
               for name, folder in centres.items()]
    dag_run = network_dag.test(run_conf={
        "centres": sources, "packages": str(tmp_path / "packages"),
        "network_db": str(tmp_path / "network_audit.duckdb"),
        "reports": str(tmp_path / "reports")})
    states = {(ti.task_id, ti.map_index): str(ti.state) for ti in dag_run.get_task_instances()}
    assert str(dag_run.state) == "success", states
    assert {(t, i) for t, i in states if t == "centre_audit"} == {
        ("centre_audit", i) for i in range(3)}
    assert set(states.values()) == {"success"}

    for source in sources:  # each centre published its own warehouse and shared it
        con = duckdb.connect(source["db"], read_only=True)
        assert con.sql("select command, status from audit.runs").fetchall() == [
            ("airflow-network", "published")]
        con.close()
        manifest = json.loads((tmp_path / "packages" / source["centre"] / "manifest.json")
                              .read_text())
        assert manifest["centre"] == source["centre"]
    con = duckdb.connect(str(tmp_path / "network_audit.duckdb"), read_only=True)
    assert [r[0] for r in con.sql("select centre from network.centres order by 1").fetchall()] \
        == sorted(centres)
    con.close()
    assert (tmp_path / "reports" / "network.html").is_file()


def test_a_centre_with_a_permanent_error_fails_at_once_without_retries(network_dag,
                                                                       tmp_path):
    for t in network_dag.tasks:  # retries are for transient errors only, as in the audit DAG
        assert t.retries >= 1 and t.retry_exponential_backoff > 1, t.task_id
    sources = [{"centre": "nowhere", "registry": str(tmp_path / "no_such_registry"),
                "db": str(tmp_path / "nowhere.duckdb")}]
    dag_run = network_dag.test(run_conf={
        "centres": sources, "packages": str(tmp_path / "packages"),
        "network_db": str(tmp_path / "network_audit.duckdb"),
        "reports": str(tmp_path / "reports")})
    tis = {ti.task_id: ti for ti in dag_run.get_task_instances()}
    assert str(dag_run.state) == "failed"
    assert str(tis["centre_audit"].state) == "failed"  # not up_for_retry
    assert tis["centre_audit"].try_number == 1
    assert str(tis["merge"].state) == "upstream_failed"
