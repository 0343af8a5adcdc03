"""The report's outcome sections: what a site's report shows of treatment sequences."""

from __future__ import annotations

from her2audit.stages.report import data, labels, outcomes

from .conftest import memory_source


def test_a_sites_flow_is_left_out_where_the_other_sites_patients_are_few(monkeypatch):
    # from a concordant first line, all sites / S01: 45 / 30 patients to a not-concordant
    # second line, 25 / 18 died, 40 / 20 alive and followed. The other sites' 7 deaths would
    # be the difference, so S01's 18 is left out, and with it its 20 followed (S01's 68
    # patients with a concordant first line are shown in its concordance figures)
    def flows(site):
        n = {None: (45, 25, 40), "S01": (30, 18, 20)}[site]
        return [_flow(1, "concordant", target, k)
                for target, k in zip(("L2:not_concordant", "end:died", "end:followed"), n,
                                     strict=True)]

    monkeypatch.setattr(data, "verdict_flows",
                        lambda src, cutoff, days, threshold, site=None: flows(site))
    shown = []
    monkeypatch.setattr(outcomes.figures, "sankey_verdicts", lambda links: shown.extend(links))
    src = memory_source("lines_of_therapy", "patient_id varchar", [])
    outcomes.prepare_sequences(src, None, site="S01")
    assert [r["target"] for r in shown] == ["L2:not_concordant"]


def _flow(source_line, source, target, n):
    return {"source_line": source_line, "source": source, "target": target, "n": n}


def test_a_small_flow_out_of_a_known_node_takes_another_with_it():
    # 500 patients had a concordant first line (the concordance tables show it): with the
    # 5 lost to follow-up left out alone, 500 − 300 − 150 − 45 would give them away
    links = [_flow(1, "concordant", "L2:concordant", 300),
             _flow(1, "concordant", "L2:not_concordant", 150),
             _flow(1, "concordant", "end:died", 45),
             _flow(1, "concordant", "end:lost", 5)]
    assert outcomes.hidden_flows(links) == {2, 3}


def test_flows_of_11_or_more_out_of_every_node_are_all_shown():
    links = [_flow(1, "concordant", "L2:concordant", 300),
             _flow(1, "concordant", "end:died", 45),
             _flow(2, "concordant", "end:died", 300)]
    assert outcomes.hidden_flows(links) == set()


def test_a_count_the_summary_hides_is_hidden_in_the_comparisons_too():
    # the comparison table repeats the summary's counts of a line and of its verdict groups:
    # what the summary hides (here both groups of line 1, as complements) stays hidden
    summary = [{"endpoint": "os", "grouping": "line", "line_number": 1, "group_value": None},
               {"endpoint": "os", "grouping": "line_concordance", "line_number": 1,
                "group_value": "concordant"},
               {"endpoint": "os", "grouping": "line_concordance", "line_number": 1,
                "group_value": "not_concordant"}]
    hidden = outcomes._hidden_in_summary(summary, hidden_n={1, 2}, hidden_events={1, 2})
    assert hidden == {("os", 1, "n_concordant"), ("os", 1, "n_not_concordant"),
                      ("os", 1, "events_concordant"), ("os", 1, "events_not_concordant")}
    cols = ["endpoint", "line_number", "model", "n", "n_concordant", "n_not_concordant",
            "hazard_ratio"]
    comps = [{"endpoint": "os", "line_number": 1, "model": "log_rank", "n": 700,
              "n_concordant": 600, "n_not_concordant": 100, "hazard_ratio": 0.8}]
    row, = outcomes._comparisons(cols, comps, hidden)["rows"]
    assert row[3:6] == ["700", "*", "*"]


def test_no_numbers_at_risk_for_a_group_whose_patients_the_summary_hides(monkeypatch):
    risk = [{"line_number": 1, "group_value": g, "month": m, "n": n}
            for g, n0 in (("concordant", 600), ("not_concordant", 100))
            for m, n in ((0, n0), (12, n0 // 2))]
    monkeypatch.setattr(data, "survival_line_curves", lambda src, endpoint: [])
    monkeypatch.setattr(data, "survival_line_at_risk", lambda src, endpoint, months: risk)
    drawn = []
    monkeypatch.setattr(outcomes.figures, "km_panel",
                        lambda spec, at_risk, title: drawn.append(at_risk))
    outcomes._km_panels(None, "os", {("os", 1, "n_concordant")})
    assert [r["label"] for r in drawn[0]] == [labels.group_value("not_concordant")]
    drawn.clear()
    outcomes._km_panels(None, "os")  # nothing hidden: both groups (line 1's panel first)
    assert len(drawn[0]) == 2
