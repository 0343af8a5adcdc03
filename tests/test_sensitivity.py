"""`her2audit sensitivity` on a published warehouse: at the run's own parameters it reproduces
the published quality indicators and lines exactly; moving max_gap_days moves line
boundaries the way the line rules say (a gap longer than max_gap_days ends a line, so a
longer allowed gap never adds a line); the table has the documented columns; bad input is
refused with exit 2."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import duckdb
import pytest
import yaml

from her2audit import cli, pipeline, sensitivity, synth
from her2audit.errors import RuleFileError
from her2audit.parameters import load_parameters

STAGES = ["extract", "cohort", "lines", "concordance", "publish"]
COLUMNS = ["parameter_set", "pre_index_days", "regimen_window_days", "max_gap_days",
           "is_run_parameters", "measure_type", "measure", "numerator", "denominator", "rate",
           "run_rate", "rate_change", "n_lines", "run_lines", "lines_changed",
           "lines_recategorized", "lines_boundary_moved", "run_id"]
D = dt.date.fromisoformat


def _every_21_days(first: str, cycles: int) -> list[str]:
    return [(D(first) + dt.timedelta(days=21 * i)).isoformat() for i in range(cycles)]


def _write_registry(folder: Path) -> Path:
    """Three HER2-positive metastatic patients (metastatic 2021-01-01):
    G100  THP x8, then 100 days without treatment, then THP again x4;
    G150  T-DM1 x6, then 150 days without treatment, then T-DM1 again x4;
    A1    THP x6, then T-DXd x6 (no long gap)."""
    folder.mkdir(parents=True)
    treatments: list[list[str]] = []

    def give(pid: str, drugs: list[str], days: list[str]) -> None:
        for day in days:
            for drug in drugs:
                treatments.append([f"R{len(treatments) + 1}", pid, drug, "", "", day, "",
                                   "metastatic", "IV"])

    thp = ["docetaxel", "trastuzumab", "pertuzumab"]
    first = _every_21_days("2021-01-05", 8)
    give("G100", thp, first)
    give("G100", thp, _every_21_days((D(first[-1]) + dt.timedelta(days=101)).isoformat(), 4))
    first = _every_21_days("2021-01-05", 6)
    give("G150", ["Kadcyla"], first)
    give("G150", ["Kadcyla"],
         _every_21_days((D(first[-1]) + dt.timedelta(days=151)).isoformat(), 4))
    give("A1", thp, _every_21_days("2021-01-05", 6))
    give("A1", ["Enhertu"], _every_21_days("2021-05-20", 6))
    tables = {
        "patients": (["patient_id", "site_id", "birth_date", "sex", "death_date",
                      "last_contact_date"],
                     [[p, "S1", "1960-01-01", "F", "", "2022-06-30"]
                      for p in ("G100", "G150", "A1")]),
        "diagnoses": (["patient_id", "diagnosis_date", "stage_at_diagnosis", "metastatic_date"],
                      [[p, "2021-01-01", "IV", "2021-01-01"] for p in ("G100", "G150", "A1")]),
        "biomarkers": (["patient_id", "test_date", "marker", "method", "result"],
                       [[p, "2021-01-02", "HER2", "IHC", "3+"] for p in ("G100", "G150", "A1")]),
        "metastases": (["patient_id", "diagnosis_date", "site"],
                       [[p, "2021-01-01", "liver"] for p in ("G100", "G150", "A1")]),
        "treatments": (["record_id", "patient_id", "drug", "drug_code", "code_system",
                        "start_date", "end_date", "setting", "route"], treatments),
    }
    for name, (header, rows) in tables.items():
        with open(folder / f"{name}.csv", "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(header)
            writer.writerows(rows)
    return folder


def _publish(registry: Path, db: Path, **params) -> None:
    pipeline.run_pipeline(db, str(registry), load_parameters(overrides=params), None, "test",
                          stages=STAGES, progress=lambda m: None)


@pytest.fixture(scope="module")
def hand_warehouse(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("sensitivity_hand")
    db = tmp / "her2audit.duckdb"
    _publish(_write_registry(tmp / "registry"), db, data_cutoff="2022-06-30")
    return db


@pytest.fixture(scope="module")
def synthetic_warehouse(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("sensitivity_synth")
    synth.write_registry(tmp / "registry", patients=400, seed=7, fmt="csv")
    db = tmp / "her2audit.duckdb"
    _publish(tmp / "registry", db)
    return db


@pytest.fixture(scope="module")
def default_grid_result(synthetic_warehouse) -> sensitivity.SensitivityResult:
    """The default grid run on the synthetic warehouse (audit.sensitivity written)."""
    return sensitivity.run_sensitivity(synthetic_warehouse)


def _table(db: Path) -> list[dict]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        rel = con.sql("select * from audit.sensitivity")
        cols = rel.columns
        return [dict(zip(cols, r, strict=True)) for r in rel.fetchall()]
    finally:
        con.close()


def _row(rows: list[dict], max_gap: int, window: int, measure: str) -> dict:
    return next(r for r in rows if (r["max_gap_days"], r["regimen_window_days"], r["measure"])
                == (max_gap, window, measure))


def test_at_the_run_parameters_it_reproduces_the_published_run(synthetic_warehouse,
                                                              default_grid_result):
    result = default_grid_result
    rows = _table(synthetic_warehouse)
    assert list(rows[0]) == COLUMNS
    assert len(result.grid) == 9 and {r["parameter_set"] for r in rows} == {
        p.label for p in result.grid}
    own = [r for r in rows if r["is_run_parameters"]]
    assert {(r["max_gap_days"], r["regimen_window_days"], r["pre_index_days"]) for r in own} \
        == {(120, 28, 30)}
    con = duckdb.connect(str(synthetic_warehouse), read_only=True)
    published = {r[0]: r[1:] for r in con.execute(
        "select indicator, numerator, denominator, rate from audit.quality_indicators "
        "where period = 'all' and site_id = 'all'").fetchall()}
    run_id = con.execute("select max(run_id) from audit.runs").fetchone()[0]
    con.close()
    indicators = {r["measure"]: (r["numerator"], r["denominator"], r["rate"])
                  for r in own if r["measure_type"] == "indicator"}
    assert indicators == published  # exactly, every indicator
    for r in own:
        assert r["run_id"] == run_id
        assert r["rate"] == r["run_rate"] or (r["rate"] is None and r["run_rate"] is None)
        if r["measure_type"] == "line":
            assert r["n_lines"] == r["run_lines"] > 0
            assert (r["lines_changed"], r["lines_recategorized"], r["lines_boundary_moved"]) \
                == (0, 0, 0)
    assert {r["measure"] for r in own if r["measure_type"] == "line"} == {
        "1", "2", "3", "4+", "all"}


def test_a_longer_allowed_gap_never_adds_a_line(default_grid_result):
    rows = default_grid_result.table.to_pylist()
    for window in (21, 28, 42):
        counts = [_row(rows, gap, window, "all")["n_lines"] for gap in (90, 120, 180)]
        assert counts == sorted(counts, reverse=True), (window, counts)


def test_moving_max_gap_days_moves_line_boundaries(hand_warehouse):
    result = sensitivity.run_sensitivity(hand_warehouse, overrides={
        "max_gap_days": [90, 180], "regimen_window_days": [28]})
    assert [p.max_gap_days for p in result.grid] == [90, 120, 180]  # the run's 120 added
    rows = _table(hand_warehouse)
    run = _row(rows, 120, 28, "all")
    # the run (120 days): G100 one line (gap 100), G150 two lines (gap 150), A1 two lines
    assert (run["run_lines"], run["n_lines"], run["lines_changed"]) == (5, 5, 0)
    # 90 days: G100's gap of 100 days ends its line, so a sixth line starts; every line of
    # the run still starts where it did
    at_90 = _row(rows, 90, 28, "all")
    assert (at_90["n_lines"], at_90["lines_boundary_moved"]) == (6, 0)
    # 180 days: G150's gap of 150 days no longer ends its line, so the run's second line of
    # G150 (T-DM1 again) is no longer a line of its own
    at_180 = _row(rows, 180, 28, "all")
    assert (at_180["n_lines"], at_180["lines_boundary_moved"]) == (4, 1)
    assert _row(rows, 180, 28, "2")["lines_boundary_moved"] == 1
    assert _row(rows, 180, 28, "1")["lines_boundary_moved"] == 0


def test_the_command_prints_a_summary_and_writes_the_table(hand_warehouse, capsys):
    status = cli.main(["sensitivity", "--db", str(hand_warehouse), "--max-gap-days", "60,90",
                       "--regimen-window-days", "21,28"])
    out = capsys.readouterr().out
    assert status == 0
    assert "5 parameter sets" in out and "written to audit.sensitivity" in out
    assert "line_concordance" in out and "(the run's own parameters)" in out
    labels = {r["parameter_set"] for r in _table(hand_warehouse)}
    assert "max_gap_days=120, regimen_window_days=28, pre_index_days=30" in labels
    assert len(labels) == 5


def test_grid_from_rules_config_and_options(tmp_path):
    run = sensitivity.ParameterSet(max_gap_days=100, regimen_window_days=28, pre_index_days=30)
    grid = sensitivity.load_grid(run)
    assert len(grid) == 10 and run in grid  # 3 x 3 from rules/parameters.yaml, plus the run
    config = tmp_path / "grid.yaml"
    config.write_text(yaml.safe_dump({"sensitivity": {"max_gap_days": [60, 90],
                                                      "pre_index_days": [14, 30]}}))
    grid = sensitivity.load_grid(run, config, {"regimen_window_days": [28]})
    assert {(p.max_gap_days, p.regimen_window_days, p.pre_index_days) for p in grid} == {
        (60, 28, 14), (60, 28, 30), (90, 28, 14), (90, 28, 30), (100, 28, 30)}
    # a run config may carry the grid too; load_parameters ignores it
    assert load_parameters(config).max_gap_days == 120
    config.write_text(yaml.safe_dump({"sensitivity": {"max_gap_days": [90, "long"]}}))
    with pytest.raises(RuleFileError, match="sensitivity max_gap_days must be a list"):
        sensitivity.load_grid(run, config)
    config.write_text(yaml.safe_dump({"sensitivity": {"gap": [90]}}))
    with pytest.raises(RuleFileError, match="unknown parameter 'gap'"):
        sensitivity.load_grid(run, config)


def test_unusable_warehouses_are_refused_with_exit_2(tmp_path, capsys):
    assert cli.main(["sensitivity", "--db", str(tmp_path / "missing.duckdb")]) == 2
    assert "no such warehouse file" in capsys.readouterr().err
    empty = tmp_path / "empty.duckdb"
    duckdb.connect(str(empty)).close()
    assert cli.main(["sensitivity", "--db", str(empty)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "staging.administrations" in err and "missing" in err
    assert cli.main(["sensitivity", "--db", str(empty), "--max-gap-days", "ninety"]) == 2
    assert "expected whole numbers of days" in capsys.readouterr().err
