"""`her2audit synth` is seeded: the same seed and size give byte-identical files."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from her2audit.errors import UsageError
from her2audit.synth import write_registry


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_same_seed_gives_identical_bytes(tmp_path: Path) -> None:
    write_registry(tmp_path / "a", patients=400, seed=5, fmt="csv")
    write_registry(tmp_path / "b", patients=400, seed=5, fmt="csv")
    a, b = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert "treatments.csv" in a and "truth/lines.csv" in a
    assert a.keys() == b.keys()
    for name in a:
        assert a[name] == b[name], name


def test_different_seed_gives_different_registry(tmp_path: Path) -> None:
    write_registry(tmp_path / "a", patients=400, seed=5, fmt="csv")
    write_registry(tmp_path / "b", patients=400, seed=6, fmt="csv")
    assert (tmp_path / "a" / "treatments.csv").read_bytes() != \
        (tmp_path / "b" / "treatments.csv").read_bytes()
    assert (tmp_path / "a" / "truth" / "lines.csv").read_bytes() != \
        (tmp_path / "b" / "truth" / "lines.csv").read_bytes()


def test_parquet_holds_the_same_rows_as_csv(tmp_path: Path) -> None:
    import pandas as pd

    write_registry(tmp_path / "csv", patients=300, seed=9, fmt="csv")
    write_registry(tmp_path / "pq", patients=300, seed=9, fmt="parquet")
    write_registry(tmp_path / "pq2", patients=300, seed=9, fmt="parquet")
    for name in ("patients", "treatments", "biomarkers"):
        a = pd.read_csv(tmp_path / "csv" / f"{name}.csv", dtype=str, keep_default_na=False)
        b = pq.read_table(tmp_path / "pq" / f"{name}.parquet").to_pandas().fillna("")
        assert list(a.columns) == list(b.columns)
        assert a.astype(str).values.tolist() == b.astype(str).values.tolist()
        assert (tmp_path / "pq" / f"{name}.parquet").read_bytes() == \
            (tmp_path / "pq2" / f"{name}.parquet").read_bytes()
    assert not (tmp_path / "pq" / "patients.csv").exists()
    assert (tmp_path / "pq" / "truth" / "lines.csv").exists()


def test_rewriting_in_another_format_removes_the_stale_file(tmp_path: Path) -> None:
    write_registry(tmp_path, patients=50, seed=1, fmt="csv")
    write_registry(tmp_path, patients=50, seed=1, fmt="parquet")
    assert (tmp_path / "treatments.parquet").exists()
    assert not (tmp_path / "treatments.csv").exists()


def test_omop_without_exporter_is_a_usage_error(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "her2audit.sources.exporters", None)
    with pytest.raises(UsageError, match="not available"):
        write_registry(tmp_path, patients=10, seed=1, fmt="omop")


def test_fhir_goes_through_the_exporter_with_a_canonical_folder(tmp_path: Path,
                                                                monkeypatch) -> None:
    calls = []

    def export(canonical: Path, out: Path, fmt: str) -> None:
        calls.append((fmt, sorted(p.name for p in canonical.iterdir())))
        (out / "bundle.ndjson").write_text("{}\n")

    fake = types.ModuleType("her2audit.sources.exporters")
    fake.export = export
    monkeypatch.setitem(sys.modules, "her2audit.sources.exporters", fake)
    write_registry(tmp_path / "out", patients=20, seed=1, fmt="fhir")
    assert calls and calls[0][0] == "fhir"
    assert "treatments.parquet" in calls[0][1] and "truth" in calls[0][1]
    assert (tmp_path / "out" / "truth" / "lines.csv").exists()
    assert (tmp_path / "out" / "bundle.ndjson").exists()


def test_unusable_arguments(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        write_registry(tmp_path, patients=0, seed=1, fmt="csv")
    with pytest.raises(UsageError):
        write_registry(tmp_path, patients=10, seed=1, fmt="xlsx")


@pytest.mark.parametrize("patients", [1, 2, 3])
def test_tiny_registries_are_complete(tmp_path: Path, patients: int) -> None:
    """With one to three patients some seeds give nobody metastatic or no lines at all."""
    import pandas as pd

    for seed in range(1, 13):
        out = tmp_path / f"s{seed}"
        write_registry(out, patients=patients, seed=seed, fmt="csv")
        p = pd.read_csv(out / "patients.csv", dtype=str, keep_default_na=False)
        assert len(p) == patients
        lines = pd.read_csv(out / "truth" / "lines.csv", dtype=str, keep_default_na=False)
        assert "regimen_group" in lines.columns
