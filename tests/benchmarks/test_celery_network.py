"""`make bench-network`: the per-task summary made from the REST API's task instances (the
deployment itself is exercised by tests/dags/test_celery_deployment.py)."""

from __future__ import annotations

from benchmarks.celery_network import task_summary


def _ti(task_id: str, map_index: int, start: str, duration: float, queued: str) -> dict:
    return {"task_id": task_id, "map_index": map_index, "state": "success",
            "start_date": f"2026-11-30T10:{start}Z", "queued_when": f"2026-11-30T10:{queued}Z",
            "duration": duration}


def test_mapped_instances_are_summed_per_task_in_the_order_they_started():
    tasks = [
        _ti("merge", -1, "05:00", 3.0, "04:59"),
        _ti("centre_audit", 0, "00:10", 50.0, "00:08"),
        _ti("centre_audit", 1, "00:10", 70.0, "00:08"),
        _ti("centre_audit", 2, "01:10", 60.0, "00:08"),
        _ti("centre_sources", -1, "00:02", 5.0, "00:01"),
    ]
    summary = task_summary(tasks)
    assert [s["task"] for s in summary] == ["centre_sources", "centre_audit", "merge"]
    audit = summary[1]
    assert (audit["instances"], audit["total_s"], audit["median_s"], audit["max_s"]) == (
        3, 180.0, 60.0, 70.0)
    assert audit["median_queued_s"] == 2.0  # waits 2, 2 and 62 s
    assert audit["states"] == ["success"]
