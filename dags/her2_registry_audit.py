"""### her2_registry_audit — the scheduled HER2-positive MBC treatment-sequence audit

Tasks: extract → validate → cohort → lines → concordance → outcomes → report → publish.
Each task is one call into `her2audit.orchestration`, which runs the same pipeline
stages as `her2audit run`; tasks pass the run id and paths, never data, and hand over
through the DuckDB warehouse. A failed data-quality gate (`validate`, or the output
checks in `publish`) fails the run before anything is published.

**Params** (trigger with a config to override): `registry` (folder or source URI), `db`
(DuckDB warehouse file), `reports` (report folder), `guideline` (pin one rulebook),
`rulebooks` (folder of extra rulebooks) and the line-of-therapy parameters. Defaults of
`registry`, `db`, `reports` and `rulebooks` come from the environment of the scheduler
and DAG processor (`HER2AUDIT_REGISTRY`, `HER2AUDIT_DB`, …); the schedule from
`HER2AUDIT_SCHEDULE` (default `@monthly`); `HER2AUDIT_QUEUE` names an executor queue for
every task. See docs/deployment.md.

**No pool to create.** DuckDB allows one writing process per warehouse file, so the DAG
keeps its own writers apart: one active run (`max_active_runs=1`) and one active task per
run (`max_active_tasks=1`).

**Failures.** A permanent error — an unusable param, an unreadable registry, a bad rule
file, a failed data-quality gate — fails its task at once, without retries. Only a
transient one (the warehouse locked by another process, a dropped connection) is retried,
with exponential back-off.

**Assets.** `publish` emits an event for the warehouse file it published and one for the
run's report, as `file://` assets named after the run's own paths, through the asset
aliases `her2audit_warehouse` and `her2audit_report`: schedule a dashboard DAG on an alias
(any warehouse) or on one file's asset.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import Asset, AssetAlias, Param, dag, task

from her2audit import orchestration as orch

ALIASES = {name: AssetAlias(name) for name in (orch.WAREHOUSE_ALIAS, orch.REPORT_ALIAS)}
OUTLETS = {orch.PUBLISHING_TASK: list(ALIASES.values())}


def _stage_task(name: str):
    @task(task_id=name, outlets=OUTLETS.get(name, []))
    def run_stage(audit_run: str, params=None, outlet_events=None) -> str:
        with orch.retry_only_transient():
            orch.run_task(name, audit_run, params["db"], params.get("reports"))
            for alias, uri, extra in orch.asset_events(name, audit_run, params):
                outlet_events[ALIASES[alias]].add(Asset(uri), extra=extra)
        return audit_run

    return run_stage


@dag(
    dag_id=orch.DAG_ID,
    schedule=orch.schedule(),
    start_date=dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=orch.max_active_runs(),  # runs on one warehouse must not interleave
    max_active_tasks=1,  # one DuckDB writer per run
    default_args=orch.default_args(),  # retries (transient errors only), HER2AUDIT_QUEUE
    params={
        "registry": Param(orch.default_param("registry"), type=["null", "string"],
                          description="Registry to audit: a folder of registry files or of "
                                      "OMOP CDM tables, postgresql://user@host:port/db?schema="
                                      "cdm (OMOP on PostgreSQL) or fhir:FOLDER (FHIR R4 bulk "
                                      "export). Default HER2AUDIT_REGISTRY."),
        "db": Param(orch.default_param("db"), type=["null", "string"],
                    description="DuckDB warehouse file the run builds and publishes "
                                "(e.g. /srv/her2audit/her2audit.duckdb). Default HER2AUDIT_DB."),
        "reports": Param(orch.default_param("reports"), type=["null", "string"],
                         description="Folder for the HTML report; empty: no report. "
                                     "Default HER2AUDIT_REPORTS."),
        **{name: Param(**spec) for name, spec in orch.rule_params().items()},
    },
    tags=["her2audit", "audit"],
    doc_md=__doc__,
)
def her2_registry_audit():
    @task(task_id="extract")
    def extract(params=None) -> str:
        with orch.retry_only_transient():
            return orch.start_and_extract(params)

    audit_run = extract()
    for name in list(orch.TASK_STAGES)[1:]:
        audit_run = _stage_task(name)(audit_run)


her2_registry_audit()
