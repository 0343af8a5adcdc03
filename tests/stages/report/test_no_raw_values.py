"""Nothing from an input row's raw values reaches the shareable report: generated registries
whose quarantined rows carry ids, dates and long free text, through the real extract stage
and the report. The same values do reach the internal case-review file (so the test would
see a leak)."""

from __future__ import annotations

import datetime as dt
import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from her2audit import pipeline
from her2audit.parameters import load_parameters

from ...conftest import MINIMAL_REGISTRY, write_registry

ALPHANUM = string.ascii_uppercase + string.digits
ids = st.text(ALPHANUM, min_size=8, max_size=12).map(lambda s: f"Q{s}")
# dates no valid row of the registry has (its rows are from 1960 and 2020-2024)
old_dates = st.dates(dt.date(1901, 1, 1), dt.date(1939, 12, 31))
long_text = st.text(string.ascii_lowercase + " ", min_size=60, max_size=3000).map(
    lambda s: "zq" + s.replace(" ", "x", 1) + "qz")


@st.composite
def quarantined_rows(draw):
    """A registry's rows that the extract stage quarantines, with the raw values to look for."""
    pid, orphan, malformed_id = draw(ids), draw(ids), draw(ids)
    birth, death, start, end, malformed_date = (draw(old_dates) for _ in range(5))
    if death >= birth:  # death before birth: impossible_date
        birth, death = death + dt.timedelta(days=400), birth
    if end >= start:  # end before start: end_before_start
        start, end = end + dt.timedelta(days=3), start
    drug, orphan_drug, malformed_text = draw(long_text), draw(long_text), draw(long_text)
    tables = {k: [dict(r) for r in v] for k, v in MINIMAL_REGISTRY.items()}
    # enough ordinary rows for the CSV reader to sniff the file's shape before the bad line
    tables["patients"] += [
        {"patient_id": f"P{i}", "site_id": "S1", "birth_date": "1960-01-01", "sex": "F",
         "death_date": "", "last_contact_date": "2024-01-01"} for i in range(2, 60)]
    tables["patients"].append({"patient_id": pid, "site_id": "S1", "birth_date": str(birth),
                               "sex": "F", "death_date": str(death), "last_contact_date": ""})
    tables["treatments"] += [
        {"patient_id": "P1", "drug": drug, "start_date": str(start), "end_date": str(end),
         "setting": "metastatic"},
        {"patient_id": orphan, "drug": orphan_drug, "start_date": "2020-02-01",
         "end_date": "", "setting": "metastatic"},
    ]
    malformed_line = f"{malformed_id},S1,{malformed_date},F,,{malformed_text},EXTRA"
    raw = [pid, orphan, malformed_id, str(birth), str(death), str(start), str(end),
           str(malformed_date), drug, orphan_drug, malformed_text]
    return tables, malformed_line, raw


@given(quarantined_rows())
@settings(max_examples=6, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
def test_no_raw_value_of_a_quarantined_row_reaches_the_shareable_report(tmp_path_factory, case):
    tables, malformed_line, raw = case
    root = tmp_path_factory.mktemp("raw")
    registry = write_registry(root / "registry", tables)
    with open(registry / "patients.csv", "a", encoding="utf-8") as f:
        f.write(malformed_line + "\r\n")  # csv.writer ends lines with CRLF
    reports = root / "reports"
    pipeline.run_pipeline(root / "w.duckdb", str(registry), load_parameters(), reports,
                          command="test", stages=["extract", "report", "publish"],
                          progress=lambda m: None)
    index = (reports / "index.html").read_text(encoding="utf-8")
    review = (reports / "case_review.html").read_text(encoding="utf-8")
    for value in raw:
        probe = value[:40]  # long text: its opening is enough to find it
        assert probe not in index, f"raw value {probe!r} in index.html"
    leaked_to_review = [v for v in raw if v[:40] in review]
    assert leaked_to_review, "the quarantined rows never reached the warehouse"
