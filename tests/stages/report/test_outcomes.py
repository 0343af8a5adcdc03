"""The report's outcome sections: what a site's report shows of treatment sequences."""

from __future__ import annotations

import duckdb

from her2audit.stages.report import data, outcomes
from her2audit.stages.report.data import Source


def test_a_sites_flow_is_left_out_where_the_other_sites_patients_are_few(monkeypatch):
    # all sites: 45 patients from a concordant to a not-concordant second line, 30 of them
    # at S01; 25 from concordant to death, 18 of them at S01 (the other sites' 7 would be
    # the difference)
    flows = {None: [{"source_line": 1, "source": "concordant", "target": "L2:not_concordant",
                     "n": 45},
                    {"source_line": 1, "source": "concordant", "target": "end:died", "n": 25}],
             "S01": [{"source_line": 1, "source": "concordant", "target": "L2:not_concordant",
                      "n": 30},
                     {"source_line": 1, "source": "concordant", "target": "end:died",
                      "n": 18}]}
    monkeypatch.setattr(data, "verdict_flows",
                        lambda src, cutoff, days, site=None: flows[site])
    shown = []
    monkeypatch.setattr(outcomes.figures, "sankey_verdicts", lambda links: shown.extend(links))
    con = duckdb.connect()
    con.execute("create schema audit")
    con.execute("create table audit.lines_of_therapy (patient_id varchar)")
    outcomes.prepare_sequences(Source(con, "audit"), None, site="S01")
    assert [r["target"] for r in shown] == ["L2:not_concordant"]
