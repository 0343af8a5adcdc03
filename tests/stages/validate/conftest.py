"""Fixtures for the data-quality gate: copies of the small test registry, optionally broken."""

from __future__ import annotations

import csv
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

SMALL_REGISTRY = Path(__file__).resolve().parents[2] / "dags" / "data" / "registry"


def _rewrite(path: Path, change: Callable[[int, dict[str, str]], dict[str, str] | None]) -> None:
    """Rewrite a registry CSV row by row; `change(i, row)` returns the new row, or None to
    drop it."""
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        header = list(reader.fieldnames or [])
        rows = [r for i, row in enumerate(reader) if (r := change(i, row)) is not None]
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)


@pytest.fixture
def small_registry(tmp_path: Path) -> Path:
    """A writable copy of tests/dags/data/registry (60 patients, 2 quarantined treatment rows)."""
    return Path(shutil.copytree(SMALL_REGISTRY, tmp_path / "registry"))


@pytest.fixture(name="rewrite")
def rewrite_fixture():
    """`rewrite(path, change)`: edit a registry CSV row by row."""
    return _rewrite
