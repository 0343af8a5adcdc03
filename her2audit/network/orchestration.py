"""Task callables for the Airflow DAG `her2_network_audit` (dags/her2_network_audit.py).

Per centre (one mapped task each): the whole audit in one process
(`orchestration.run_audit`, the stages of `her2_registry_audit` on the centre's own
warehouse file), then its share package (`her2audit share`) into `<packages>/<centre>/`.
Then one task merges every package with `her2audit network`. Tasks hand each other only
names and paths. Nothing here imports Airflow.

One task per centre rather than one per stage: on the Celery benchmark (10 centres of
10,000 patients, 2 worker slots) the 9 tasks per centre spent more in task start-up
(process, Airflow task runner, each stage's libraries, the warehouse opened and closed
again) and in scheduling gaps between tasks than in the audits themselves.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from her2audit import orchestration
from her2audit.errors import UsageError

DAG_ID = "her2_network_audit"
CENTRE_KEYS = ("centre", "registry", "db")


def centre_sources(params: Mapping[str, Any]) -> list[dict[str, str]]:
    """The DAG params checked before any centre starts: `packages`, `network_db` and
    `reports` set, and `centres` a non-empty list of {centre, registry, db} with centre
    names usable as folder names and distinct, one warehouse file per centre."""
    for name in ("packages", "network_db", "reports"):
        orchestration._require(params, name)  # the audit DAG's check of a param
    centres = params.get("centres")
    if not isinstance(centres, Sequence) or isinstance(centres, str) or not centres:
        raise UsageError("DAG param 'centres' must be a non-empty list of "
                         "{centre, registry, db}")
    out: list[dict[str, str]] = []
    for i, entry in enumerate(centres):
        if not isinstance(entry, Mapping):
            raise UsageError(f"DAG param 'centres'[{i}] is not an object")
        missing = [k for k in CENTRE_KEYS if not str(entry.get(k) or "").strip()]
        if missing:
            raise UsageError(f"DAG param 'centres'[{i}] lacks {', '.join(missing)}")
        source = {k: str(entry[k]).strip() for k in CENTRE_KEYS}
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", source["centre"]):
            raise UsageError(f"centre name {source['centre']!r}: use letters, digits, "
                             "'_', '-' or '.' (it names the centre's package folder)")
        out.append(source)
    for key in ("centre", "db"):
        values = [s[key] for s in out]
        repeated = sorted({v for v in values if values.count(v) > 1})
        if repeated:
            raise UsageError(f"DAG param 'centres': {key} {repeated[0]!r} given twice")
    return out


def audit_centre(source: Mapping[str, str], params: Mapping[str, Any]) -> str:
    """A centre's whole audit in one task — every stage in one process, on the centre's own
    warehouse (`orchestration.run_audit`) — then its share package; returns the package's
    folder."""
    orchestration.run_audit(
        {**params, "registry": source["registry"], "db": source["db"], "reports": None},
        command="airflow-network",
    )
    return share_centre(source, orchestration._require(params, "packages"))


def share_centre(source: Mapping[str, str], packages: str | Path) -> str:
    """Write the centre's share package (`her2audit share`) to `<packages>/<centre>/`;
    returns its folder."""
    from her2audit import share_package

    out = Path(packages) / source["centre"]
    share_package.write(Path(source["db"]), out, source["centre"])
    return str(out)


def merge(packages: str | Path, db: str | Path, reports: str | Path) -> dict[str, Any]:
    """`her2audit network` over every package folder; what the merge task reports."""
    from her2audit.network.build import build_network

    result = build_network(Path(packages), Path(db), Path(reports),
                           progress=orchestration.log.info)
    return {"db": str(result.db), "report": str(result.report),
            "centres": [p.centre for p in result.packages]}
