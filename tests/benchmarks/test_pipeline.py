"""`make bench` on a small registry: every stage reported with status, wall and CPU time,
the same-run baseline and the ratio; a failing stage is a row of the table, not only a
traceback."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from benchmarks import pipeline as bench
from her2audit import pipeline
from her2audit.synth import write_registry


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bench") / "registry"
    write_registry(out, patients=300, seed=3, fmt="csv")
    return out


@pytest.mark.slow
def test_every_stage_and_the_baseline_are_measured(registry: Path, tmp_path: Path, capsys):
    assert bench.main(["--patients", "300", "--registry", str(registry),
                       "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "bench_n300.json").read_text())
    steps = {s["step"]: s for s in result["steps"]}
    assert [s for s in steps if s.startswith("baseline")] == [
        "baseline load", "baseline type", "baseline sort"]
    for stage in pipeline.STAGES:
        assert steps[stage.name]["status"] == "ok"
        assert steps[stage.name]["cpu_s"] > 0 and steps[stage.name]["peak_mib"] > 0
    assert result["ratio"]["cpu_s"] > 0 and result["machine"]
    printed = capsys.readouterr().out
    assert "pipeline / baseline" in printed


@pytest.mark.slow
def test_a_failing_stage_is_reported_in_the_table(registry: Path, tmp_path: Path, capsys):
    broken = tmp_path / "broken"
    shutil.copytree(registry, broken)
    (broken / "treatments.csv").write_text("patient_id,drug,start_date\nP1,x,2020-01-01,extra\n"
                                           "P1,\xe9\n", encoding="latin-1")
    assert bench.main(["--patients", "300", "--registry", str(broken),
                       "--out", str(tmp_path / "out")]) == 1
    result = json.loads((tmp_path / "out" / "bench_n300.json").read_text())
    status = {s["step"]: s["status"] for s in result["steps"]}
    assert status["extract"] == "failed" and status["validate"] == "not run"
    assert result["failed_stage"] == "extract"
    assert "failed" in capsys.readouterr().out


BURN_IN_A_WORKER = """
import multiprocessing, sys, time
sys.path.insert(0, {root!r})
from benchmarks import pipeline as bench

def burn():
    end = time.process_time() + 0.5
    while time.process_time() < end:
        pass

if __name__ == "__main__":
    multiprocessing.get_context("spawn").Process(target=burn).start()
    print("stage done", end="")
    bench.exit_like_a_task(0)
"""


def test_a_stage_process_ends_like_a_task_and_its_workers_cpu_is_counted(tmp_path: Path):
    script = tmp_path / "stage.py"
    script.write_text(BURN_IN_A_WORKER.format(root=str(Path(bench.__file__).parents[1])))
    measured = bench._measure([sys.executable, str(script)],
                              stdout=(tmp_path / "out.txt").open("w"))
    assert measured["exit"] == 0
    assert (tmp_path / "out.txt").read_text() == "stage done"  # flushed before os._exit
    assert measured["cpu_s"] >= 0.45  # the worker was waited for, so its CPU is the stage's
