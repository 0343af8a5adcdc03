"""The report's data-quality section: unmapped drug names."""

from __future__ import annotations

from her2audit.stages.report import quality

from .conftest import memory_source


def _source(unmapped: list[tuple[str, int]]):
    return memory_source("unmapped_drugs", "drug varchar, n_records bigint", unmapped)


def test_the_records_of_the_names_not_listed_cannot_be_worked_out():
    # 'zolta' (40 records) is listed; 'xyz 5mg' (3) is not: the total, 43, would give it away
    out = quality.prepare_data_quality(_source([("zolta", 40), ("xyz 5mg", 3)]))["unmapped"]
    assert out["rows"] == [["zolta", "40"]] and out["records"] == "*"
    out = quality.prepare_data_quality(_source([("zolta", 40), ("abc", 12)]))["unmapped"]
    assert out["records"] == "52"
