"""`her2audit network` refuses a bad package with exit 2 and one line naming it and the problem."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from her2audit.cli import main
from tests.network.packages import (
    RULEBOOKS,
    replace_table,
    rewrite_manifest,
    tiny_package,
)


@pytest.fixture
def packages(tmp_path: Path) -> Path:
    folder = tmp_path / "packages"
    for i, scale in enumerate((1, 2, 3), start=1):
        tiny_package(folder / f"centre_{i}", f"centre_{i}", scale=scale, log_hr=-0.4 - 0.1 * i)
    return folder


def network(packages: Path, tmp_path: Path, capsys) -> tuple[int, str]:
    status = main(["network", "--packages", str(packages), "--db",
                   str(tmp_path / "out" / "network_audit.duckdb"),
                   "--reports", str(tmp_path / "out" / "reports")])
    return status, capsys.readouterr().err


def refused(packages: Path, tmp_path: Path, capsys, package: str, problem: str) -> None:
    status, err = network(packages, tmp_path, capsys)
    assert status == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert package in lines[0] and problem in lines[0], lines[0]
    assert not (tmp_path / "out" / "network_audit.duckdb").exists()


def test_good_packages_merge(packages: Path, tmp_path: Path, capsys) -> None:
    status, err = network(packages, tmp_path, capsys)
    assert status == 0, err
    assert (tmp_path / "out" / "network_audit.duckdb").is_file()
    assert (tmp_path / "out" / "reports" / "network.html").is_file()


def test_patient_id_column_is_refused(packages: Path, tmp_path: Path, capsys) -> None:
    replace_table(packages / "centre_2", "concordance_by_line", pa.table({
        "line": ["all"], "n_evaluable": [200], "n_concordant": [160],
        "patient_id": ["P0000001"]}))
    refused(packages, tmp_path, capsys, "centre_2", "holds patient_id, which identifies patients")


def test_date_column_is_refused(packages: Path, tmp_path: Path, capsys) -> None:
    import datetime as dt

    replace_table(packages / "centre_1", "concordance_by_line", pa.table({
        "line": ["all"], "n_evaluable": [100], "n_concordant": [80],
        "seen": [dt.date(2024, 1, 2)]}))
    refused(packages, tmp_path, capsys, "centre_1", "column seen holds dates")


def test_small_count_is_refused(packages: Path, tmp_path: Path, capsys) -> None:
    replace_table(packages / "centre_3", "quality_indicators", pa.table({
        "indicator": ["line_concordance"], "period": ["all"], "site_id": ["all"],
        "numerator": [7], "denominator": [300], "rate": [7 / 300]}))
    refused(packages, tmp_path, capsys, "centre_3",
            "column numerator holds a count from 1 to 10 (7)")


def test_wrong_checksum_is_refused(packages: Path, tmp_path: Path, capsys) -> None:
    file = packages / "centre_2" / "survival_comparisons.parquet"
    file.write_bytes(file.read_bytes() + b"\0")
    refused(packages, tmp_path, capsys, "centre_2",
            "survival_comparisons.parquet: checksum does not match")


def test_different_rulebook_set_is_refused(packages: Path, tmp_path: Path, capsys) -> None:
    rewrite_manifest(packages / "centre_3",
                     rulebooks=[*RULEBOOKS, {"id": "local-pathway", "version": "1"}])
    refused(packages, tmp_path, capsys, "centre_3", "rulebooks")


def test_other_rulebook_version_is_refused(packages: Path, tmp_path: Path, capsys) -> None:
    rewrite_manifest(packages / "centre_1",
                     rulebooks=[RULEBOOKS[0], {**RULEBOOKS[1], "version": "2023.2"}])
    refused(packages, tmp_path, capsys, "centre_2", "rulebooks")


def test_a_locally_changed_rulebook_is_refused(packages: Path, tmp_path: Path, capsys) -> None:
    rewrite_manifest(packages / "centre_2",
                     rulebooks=[RULEBOOKS[0], {**RULEBOOKS[1], "sha256": "c" * 64}])
    refused(packages, tmp_path, capsys, "centre_2", "in their checksums")


def test_other_software_major_is_refused(packages: Path, tmp_path: Path, capsys) -> None:
    rewrite_manifest(packages / "centre_2", software={"name": "her2audit", "version": "1.0.0"})
    refused(packages, tmp_path, capsys, "centre_2", "software version 1.0.0 is another major")


def test_missing_manifest_is_refused(packages: Path, tmp_path: Path, capsys) -> None:
    (packages / "centre_1" / "manifest.json").unlink()
    refused(packages, tmp_path, capsys, "centre_1", "no such file; not a share package")


def test_malformed_manifest_is_refused(packages: Path, tmp_path: Path, capsys) -> None:
    (packages / "centre_1" / "manifest.json").write_text("{not json")
    refused(packages, tmp_path, capsys, "centre_1", "not a readable manifest")


def test_another_package_format_is_refused(packages: Path, tmp_path: Path, capsys) -> None:
    rewrite_manifest(packages / "centre_2", format_version=99)
    refused(packages, tmp_path, capsys, "centre_2", "package format version 99")


def test_unlisted_file_is_refused(packages: Path, tmp_path: Path, capsys) -> None:
    extra = packages / "centre_3" / "patients.parquet"
    extra.write_bytes((packages / "centre_3" / "concordance_by_line.parquet").read_bytes())
    refused(packages, tmp_path, capsys, "centre_3", "patients.parquet is not listed")


def test_low_suppression_threshold_is_refused(packages: Path, tmp_path: Path, capsys) -> None:
    rewrite_manifest(packages / "centre_2", suppression={"threshold": 5, "rule": "?"})
    refused(packages, tmp_path, capsys, "centre_2", "suppression threshold 5 is below")


def test_missing_table_is_refused(packages: Path, tmp_path: Path, capsys) -> None:
    import json

    (packages / "centre_1" / "survival_curves.parquet").unlink()
    manifest = json.loads((packages / "centre_1" / "manifest.json").read_text())
    manifest["tables"] = [t for t in manifest["tables"] if t["name"] != "survival_curves"]
    (packages / "centre_1" / "manifest.json").write_text(json.dumps(manifest))
    refused(packages, tmp_path, capsys, "centre_1", "no table survival_curves")


def test_other_life_table_months_are_refused(packages: Path, tmp_path: Path, capsys) -> None:
    rewrite_manifest(packages / "centre_3", life_table_interval_days=7)
    refused(packages, tmp_path, capsys, "centre_3", "life tables in months of 7.0 days")


def test_a_warehouse_named_after_the_schema_is_refused(packages: Path, tmp_path: Path,
                                                      capsys) -> None:
    status = main(["network", "--packages", str(packages), "--db",
                   str(tmp_path / "network.duckdb"), "--reports", str(tmp_path / "r")])
    assert status == 2
    assert "network_audit.duckdb" in capsys.readouterr().err


def test_no_packages_is_refused(tmp_path: Path, capsys) -> None:
    (tmp_path / "empty").mkdir()
    status = main(["network", "--packages", str(tmp_path / "empty"), "--db",
                   str(tmp_path / "n.duckdb"), "--reports", str(tmp_path / "r")])
    assert status == 2
    assert "no package folders" in capsys.readouterr().err


def test_a_reports_path_that_is_a_file_is_refused(packages: Path, tmp_path: Path, capsys) -> None:
    (tmp_path / "r").write_text("")
    status = main(["network", "--packages", str(packages), "--db",
                   str(tmp_path / "n.duckdb"), "--reports", str(tmp_path / "r")])
    assert status == 2
    assert "is a file, not a folder" in capsys.readouterr().err
