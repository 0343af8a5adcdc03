"""`her2audit share`: the share layer as Parquet files and a manifest, which any Parquet
reader opens and a receiver can verify."""

from __future__ import annotations

import json
import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from her2audit import cli, share_package
from her2audit.errors import UsageError


@pytest.fixture
def package(published_run, tmp_path):
    db, _ = published_run
    out = tmp_path / "package"
    assert cli.main(["share", "--db", str(db), "--out", str(out), "--centre", "centre-a"]) == 0
    return out


def test_one_parquet_file_per_share_table_and_a_manifest(package, published_run):
    manifest = share_package.verify(package)
    assert manifest["format"] == share_package.FORMAT and manifest["centre"] == "centre-a"
    assert len(manifest["run"]["source_fingerprint"]) == 64
    assert manifest["suppression"]["threshold"] == 11
    assert {r["id"] for r in manifest["rulebooks"]} >= {"her2-mbc-2023"}
    names = {t["name"] for t in manifest["tables"]}
    assert {"quality_indicators", "survival_curves", "concordance_by_site", "run"} <= names
    for entry in manifest["tables"]:
        table = pq.read_table(package / entry["file"])
        assert table.num_rows == entry["rows"]
        assert [c["name"] for c in entry["columns"]] == table.column_names
        assert all(c["description"] for c in entry["columns"])
        # plain types only: any Parquet reader (an older DuckDB, a BI tool) opens them
        assert not any(pa.types.is_decimal(t) and t.precision > 18 for t in table.schema.types)
    assert not list(package.parent.glob(".*"))  # nothing left aside


def test_a_changed_file_is_refused(package):
    path = package / "quality_indicators.parquet"
    table = pq.read_table(path)
    pq.write_table(table.slice(1), path)
    with pytest.raises(UsageError, match="checksum does not match"):
        share_package.verify(package)


def _replace_table(package, name, table):
    path = package / f"{name}.parquet"
    pq.write_table(table, path)
    manifest = json.loads((package / "manifest.json").read_text())
    for entry in manifest["tables"]:
        if entry["name"] == name:
            entry["sha256"] = share_package._sha256(path)
    (package / "manifest.json").write_text(json.dumps(manifest))


def test_a_small_count_is_refused(package):
    table = pq.read_table(package / "quality_indicators.parquet")
    counts = table.column("numerator").to_pylist()
    table = table.set_column(table.schema.get_field_index("numerator"), "numerator",
                             pa.array([3, *counts[1:]], pa.int64()))
    _replace_table(package, "quality_indicators", table)
    with pytest.raises(UsageError, match="numerator holds a count from 1 to 10"):
        share_package.verify(package)


def test_many_packages_are_verified_at_once_and_the_bad_one_is_named(package, tmp_path):
    good = shutil.copytree(package, tmp_path / "good")
    bad = shutil.copytree(package, tmp_path / "bad")
    assert [m["centre"] for m in share_package.verify_all([package, good])] == ["centre-a"] * 2
    table = pq.read_table(bad / "survival_curves.parquet")
    events = table.column("n_events").to_pylist()
    table = table.set_column(table.schema.get_field_index("n_events"), "n_events",
                             pa.array([*events[:-1], 4], table.schema.field("n_events").type))
    _replace_table(bad, "survival_curves", table)
    with pytest.raises(UsageError, match=r"bad/survival_curves.parquet: column n_events holds "
                                         r"a count from 1 to 10 \(4\)"):
        share_package.verify_all([package, good, bad])


def test_a_count_column_that_is_not_numeric_is_refused(package):
    table = pq.read_table(package / "concordance_by_line.parquet")
    column = table.schema.get_field_index("n_evaluable")
    table = table.set_column(column, "n_evaluable", pa.array(["many"] * table.num_rows))
    _replace_table(package, "concordance_by_line", table)
    with pytest.raises(UsageError, match="a count column is not numeric"):
        share_package.verify(package)


def test_a_patient_id_is_refused(package):
    table = pq.read_table(package / "cohort_attrition.parquet")
    table = table.append_column("patient_id", pa.array(["P1"] * table.num_rows))
    _replace_table(package, "cohort_attrition", table)
    with pytest.raises(UsageError, match="patient_id, which identifies patients"):
        share_package.verify(package)


def test_faults_exit_2(published_run, tmp_path, capsys):
    db, _ = published_run
    a_file = tmp_path / "file"
    a_file.write_text("x")
    assert cli.main(["share", "--db", str(db), "--out", str(a_file)]) == 2
    assert "is a file" in capsys.readouterr().err
    assert cli.main(["share", "--db", str(tmp_path / "none.duckdb"), "--out",
                     str(tmp_path / "p")]) == 2
    assert "no such warehouse file" in capsys.readouterr().err
    with pytest.raises(UsageError, match="not a share package"):
        share_package.read_manifest(tmp_path)
