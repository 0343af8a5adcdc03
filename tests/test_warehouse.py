"""Publishing is atomic: a failed run leaves the previously published audit tables as
they were; a re-run on the same input gives identical tables."""

from __future__ import annotations

import duckdb
import pytest

from her2audit import context, pipeline, warehouse
from her2audit.parameters import RunParameters
from tests.conftest import MINIMAL_REGISTRY, row_groups_after_later_writes

STAGES = ["extract", "publish"]


def audit_snapshot(db):
    """Published tables' contents, less what names the run itself (run ids, append-only
    history), which differs between runs by design."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        snapshot = {}
        for t in warehouse.table_names(con, "audit"):
            if t in warehouse.APPEND_ONLY:
                continue
            columns = [r[0] for r in con.execute(f"describe audit.{t}").fetchall()]
            exclude = " exclude (run_id)" if "run_id" in columns else ""
            snapshot[t] = con.execute(f"select *{exclude} from audit.{t} order by all").fetchall()
        return snapshot
    finally:
        con.close()


def test_publish_replaces_audit_tables_and_records_the_run(tmp_path, registry_factory):
    db = tmp_path / "w.duckdb"
    run_id, _ = pipeline.run_pipeline(db, str(registry_factory()), RunParameters(), None,
                                      stages=STAGES, progress=lambda m: None)
    con = duckdb.connect(str(db), read_only=True)
    assert {"quarantine", "row_accounting", "runs"} <= set(warehouse.table_names(con, "audit"))
    assert warehouse.table_names(con, "build") == []
    run = con.execute("select run_id, status, source_fingerprint, parameters->>'max_gap_days' "
                      "from audit.runs").fetchall()
    assert run == [(run_id, "published", run[0][2], "120")]
    assert len(run[0][2]) == 64
    con.close()


def test_rerun_on_same_input_gives_identical_tables(tmp_path, registry_factory):
    folder = registry_factory()
    db = tmp_path / "w.duckdb"
    pipeline.run_pipeline(db, str(folder), RunParameters(), None, stages=STAGES,
                          progress=lambda m: None)
    first = audit_snapshot(db)
    pipeline.run_pipeline(db, str(folder), RunParameters(), None, stages=STAGES,
                          progress=lambda m: None)
    assert audit_snapshot(db) == first
    con = duckdb.connect(str(db), read_only=True)
    fingerprints = con.execute("select distinct source_fingerprint from audit.runs").fetchall()
    assert con.execute("select count(*) from audit.runs").fetchone()[0] == 2
    assert len(fingerprints) == 1
    con.close()


def explode_stage(ctx):
    """A stage that dies after extract has rebuilt the build tables."""
    raise RuntimeError("disk full")


def test_run_failing_midway_leaves_last_published_tables(tmp_path, registry_factory,
                                                         monkeypatch):
    db = tmp_path / "w.duckdb"
    good = registry_factory()
    pipeline.run_pipeline(db, str(good), RunParameters(), None, stages=STAGES,
                          progress=lambda m: None)
    before = audit_snapshot(db)

    # A different registry whose run dies after extract has rebuilt the build tables.
    tables = dict(MINIMAL_REGISTRY)
    tables["patients"] = [*MINIMAL_REGISTRY["patients"], {"patient_id": "P1"}]
    changed = registry_factory(tables)

    monkeypatch.setattr(pipeline, "STAGES", [
        pipeline.stage("extract"),
        pipeline.Stage("explode", "fails", "tests.test_warehouse:explode_stage"),
        pipeline.stage("publish"),
    ])
    with pytest.raises(RuntimeError, match="disk full"):
        pipeline.run_pipeline(db, str(changed), RunParameters(), None,
                              progress=lambda m: None)
    assert audit_snapshot(db) == before


def test_failure_inside_publish_rolls_back(tmp_path, registry_factory, monkeypatch):
    db = tmp_path / "w.duckdb"
    folder = registry_factory()
    pipeline.run_pipeline(db, str(folder), RunParameters(), None, stages=STAGES,
                          progress=lambda m: None)
    before = audit_snapshot(db)
    con = warehouse.connect(db)
    context.start_run(con, "r2", str(folder), RunParameters(), "test")
    con.execute("create table build.quarantine as select 'x' as only_column")
    con.execute("create table build.row_accounting as select 1 as n")
    real_append = warehouse.append_run

    def failing_append(con, run_row):
        real_append(con, run_row)
        raise RuntimeError("crash after the tables were replaced")

    monkeypatch.setattr(warehouse, "append_run", failing_append)
    with pytest.raises(RuntimeError, match="crash after"):
        warehouse.publish(con, {"run_id": "r2"}, ["quarantine", "row_accounting"])
    con.close()
    assert audit_snapshot(db) == before


def test_a_warehouse_opened_in_place_keeps_its_row_groups_at_checkpoints(tmp_path):
    # as a work file does (a run in place, `her2audit sensitivity` writing its table)
    db = tmp_path / "her2audit.duckdb"
    assert row_groups_after_later_writes(lambda: warehouse.connect(db)) == 4
