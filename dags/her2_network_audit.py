"""### her2_network_audit — the audit across a network of centres

For each centre in the `centres` param (a list of `{centre, registry, db}`), one mapped task
`centre_audit` runs the whole audit of that centre's registry into its own warehouse (every
stage of `her2_registry_audit`, in one process, as `her2audit run` does) and writes its
share package (aggregates only, counts 1-10 suppressed) to `<packages>/<centre>/`. When
every centre is done, `merge` checks the packages and merges them into the network
warehouse and report (`her2audit network`).

Centres run in parallel as far as the executor allows (each writes its own DuckDB file);
on Celery workers this is how the work spreads across machines. A centre is one task, not
one per stage: on a network of centres the start-up of a task process per stage (and of
each stage's libraries) cost more than the centres' audits. Params `packages`,
`network_db` and `reports` default to `HER2AUDIT_PACKAGES`, `HER2AUDIT_NETWORK_DB` and
`HER2AUDIT_NETWORK_REPORTS`; the line-of-therapy parameters apply to every centre.

**Failures.** A permanent error (an unusable param, an unreadable registry, a failed
data-quality gate) fails its task at once; only a transient one (a warehouse locked by
another process, a dropped connection) is retried. `HER2AUDIT_QUEUE` names an executor
queue for every task.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import Param, dag, task

from her2audit import orchestration as orch
from her2audit.network import orchestration as net


@dag(
    dag_id=net.DAG_ID,
    schedule=None,
    start_date=dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    default_args=orch.default_args(),  # retries (transient errors only), HER2AUDIT_QUEUE
    params={
        "centres": Param([], type="array", items={"type": "object"},
                         description="one {centre, registry, db} per centre: its name (names "
                                     "its package folder), registry folder or source URI, "
                                     "and its own DuckDB warehouse file"),
        "packages": Param(orch.default_param("packages"), type=["null", "string"],
                          description="folder for the centres' share packages"),
        "network_db": Param(orch.default_param("network_db"), type=["null", "string"],
                            description="network DuckDB warehouse file to write"),
        "reports": Param(orch.default_param("network_reports"), type=["null", "string"],
                         description="folder for the network report"),
        # the rules apply to every centre
        **{name: Param(**spec) for name, spec in orch.rule_params().items()},
    },
    tags=["her2audit", "network"],
    doc_md=__doc__,
)
def her2_network_audit():
    @task
    def centre_sources(params=None) -> list[dict]:
        with orch.retry_only_transient():
            return net.centre_sources(params)

    @task
    def centre_audit(source: dict, params=None) -> str:
        with orch.retry_only_transient():
            return net.audit_centre(source, params)

    @task
    def merge(packages: list[str], params=None) -> dict:
        with orch.retry_only_transient():
            return net.merge(params["packages"], params["network_db"], params["reports"])

    merge(centre_audit.expand(source=centre_sources()))


her2_network_audit()
