"""Reproducibility: what the report was computed from and with."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from her2audit import __version__
from her2audit.stages.report import data
from her2audit.stages.report.data import Source
from her2audit.stages.report.privacy import fmt_count
from her2audit.stages.report.suppression import redact_credentials

FIRST_COLUMNS = ["guideline_id", "version", "title", "effective_from", "effective_to"]
HIDDEN_COLUMNS = {"file", "sha256"}  # where a rulebook lies on the machine that ran it


def _text(value: Any) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, default=str)
    return "–" if value is None else str(value)


def prepare(src: Source, info: dict[str, Any], generated_at: dt.datetime,
            cutoff: dt.date | None) -> dict[str, Any]:
    run = [
        ["run id", info.get("run_id")],
        ["command", info.get("command")],
        ["started", info.get("started_at")],
        ["finished", info.get("finished_at")],
        ["registry", redact_credentials(info.get("registry"))],
        ["source fingerprint (SHA-256 of the input files)", info.get("source_fingerprint")],
        ["software", f"her2audit {info.get('software_version') or __version__}"],
        ["report generated", f"{generated_at:%Y-%m-%d %H:%M:%S} UTC from schema {src.schema}"],
    ]
    params = info.get("parameters")
    params = dict(params) if isinstance(params, dict) else {}
    if params or cutoff:
        derived = data.cutoff_given(src) is False or not params.get("data_cutoff")
        params["data_cutoff"] = (f"{cutoff:%Y-%m-%d}" + (
            " (derived: latest follow-up date in the registry)" if derived else " (given)")
            if cutoff else params.get("data_cutoff"))
    versions = info.get("guideline_versions")
    table: dict[str, Any] = {"available": False}
    if isinstance(versions, list) and versions and isinstance(versions[0], dict):
        cols = [c for c in FIRST_COLUMNS if c in versions[0]] + [
            c for c in versions[0] if c not in FIRST_COLUMNS and c not in HIDDEN_COLUMNS]
        table = {"available": True, "headers": [c.replace("_", " ") for c in cols],
                 "kinds": ["count" if c.startswith("n_lines") else "" for c in cols],
                 "rows": [[fmt_count(v.get(c)) if c.startswith("n_lines") else _text(v.get(c))
                           for c in cols] for v in versions]}
    return {"run": [[k, _text(v)] for k, v in run],
            "parameters": [[k, _text(v)] for k, v in sorted(params.items())],
            "versions": table}
