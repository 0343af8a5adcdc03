"""### her2_registry_audit — the scheduled HER2-positive MBC treatment-sequence audit

Tasks: extract → validate → cohort → lines → concordance → outcomes → report → publish.
Each task is one call into `her2audit.orchestration`, which runs the same pipeline
stages as `her2audit run`; tasks pass the run id and paths, never data, and hand over
through the DuckDB warehouse. A failed data-quality gate (`validate`, or the output
checks in `publish`) fails the run before anything is published.

Params (trigger with a config to override): `registry` (folder or source URI), `db`
(DuckDB warehouse file), `reports` (report folder), `guideline` (pin one rulebook id),
and the line-of-therapy parameters. Defaults of `registry`, `db` and `reports` come from
the scheduler's environment (`HER2AUDIT_REGISTRY`, `HER2AUDIT_DB`, `HER2AUDIT_REPORTS`);
the schedule from `HER2AUDIT_SCHEDULE` (default `@monthly`). Every task uses the
`her2audit_duckdb` pool (one slot: one DuckDB writer at a time). The warehouse and the
report are Assets, so a dashboard refresh DAG can be scheduled on them.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import Asset, Param, dag, task

from her2audit import orchestration as orch
from her2audit.parameters import load_parameters

WAREHOUSE = Asset(name="her2audit_warehouse", uri="x-her2audit://warehouse/audit")
REPORT = Asset(name="her2audit_report", uri="x-her2audit://reports/index.html")
OUTLETS = {"report": [REPORT], "publish": [WAREHOUSE]}

_rules = load_parameters()  # defaults from her2audit/rules/parameters.yaml


def _stage_task(name: str):
    @task(task_id=name, outlets=OUTLETS.get(name, []))
    def run_stage(audit_run: str, params=None, outlet_events=None) -> str:
        orch.run_task(name, audit_run, params["db"], params.get("reports"))
        for asset in OUTLETS.get(name, []):
            outlet_events[asset].extra = orch.asset_extra(name, audit_run, params)
        return audit_run

    return run_stage


@dag(
    dag_id=orch.DAG_ID,
    schedule=orch.schedule(),
    start_date=dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=orch.max_active_runs(),  # 1: runs on one warehouse must not interleave
    default_args={"owner": "her2audit", "pool": orch.POOL, "pool_slots": 1, "retries": 0},
    params={
        "registry": Param(orch.default_param("registry"), type=["null", "string"],
                          description="registry folder or source URI"),
        "db": Param(orch.default_param("db"), type=["null", "string"],
                    description="DuckDB warehouse file"),
        "reports": Param(orch.default_param("reports"), type=["null", "string"],
                         description="folder for the HTML report"),
        "guideline": Param(_rules.guideline, type=["null", "string"],
                           description="pin one rulebook id (e.g. her2-mbc-2023); empty: "
                                       "the version in force at each line's start"),
        "pre_index_days": Param(_rules.pre_index_days, type="integer", minimum=0),
        "regimen_window_days": Param(_rules.regimen_window_days, type="integer", minimum=0),
        "max_gap_days": Param(_rules.max_gap_days, type="integer", minimum=0),
        "data_cutoff": Param(None, type=["null", "string"], format="date",
                             description="censoring date YYYY-MM-DD (default: latest date "
                                         "in the data)"),
    },
    tags=["her2audit", "audit"],
    doc_md=__doc__,
)
def her2_registry_audit():
    @task(
        task_id="extract",
        retries=3,
        retry_delay=dt.timedelta(minutes=2),
        retry_exponential_backoff=2.0,
        max_retry_delay=dt.timedelta(minutes=30),
    )
    def extract(params=None) -> str:
        return orch.start_and_extract(params)

    audit_run = extract()
    for name in list(orch.TASK_STAGES)[1:]:
        audit_run = _stage_task(name)(audit_run)


her2_registry_audit()
