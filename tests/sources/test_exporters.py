"""The exporters write what the adapters read: OMOP CDM tables with the verified
concept ids, and FHIR NDJSON with one JSON resource per line and no empty elements."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from her2audit.errors import UsageError
from her2audit.sources import exporters


def test_omop_export_tables_and_codes(hand_registry: Path, tmp_path: Path):
    written = exporters.export(hand_registry, tmp_path / "omop", "omop")
    assert written["person.csv"] == 5 and written["drug_exposure.csv"] == 13
    con = duckdb.connect()
    person = con.execute(
        f"select person_source_value, gender_concept_id from read_csv('{tmp_path}/omop/person.csv')"
        " order by person_id").fetchall()
    assert person[0] == ("P001", 8532) and person[3] == ("P004", 8507) and person[4][1] == 0
    breast = con.execute(
        f"select count(*) from read_csv('{tmp_path}/omop/condition_occurrence.csv') "
        "where condition_concept_id = 4112853").fetchone()[0]
    assert breast == 5
    loinc = con.execute(
        f"select measurement_source_value, value_source_value, value_as_number "
        f"from read_csv('{tmp_path}/omop/measurement.csv') where measurement_id = 2").fetchone()
    assert loinc == ("85337-4", "80%", 80.0)


def test_fhir_export_is_valid_ndjson(hand_registry: Path, tmp_path: Path):
    written = exporters.export(hand_registry, tmp_path / "fhir", "fhir")
    assert written["MedicationStatement.ndjson"] == 3
    assert written["MedicationAdministration.ndjson"] == 10
    for path in (tmp_path / "fhir").glob("*.ndjson"):
        for line in path.read_text().splitlines():
            resource = json.loads(line)
            assert resource["resourceType"] == path.stem
            assert "null" not in line  # FHIR JSON leaves empty elements out


def test_export_rejects_unknown_format(hand_registry: Path, tmp_path: Path):
    with pytest.raises(UsageError, match="not one of omop, fhir"):
        exporters.export(hand_registry, tmp_path / "x", "csv")
