"""Stage `cohort`: HER2-positive patients with metastatic disease, their clinical facts
(SPEC §2) and an attrition table that accounts for every patient."""

from __future__ import annotations

import yaml

from her2audit import warehouse, yaml_file
from her2audit.context import RunContext
from her2audit.errors import RuleFileError
from her2audit.paths import RULES_DIR

STEPS_FILE = RULES_DIR / "cohort_steps.yaml"


def load_steps(con) -> None:
    """`staging.cohort_steps(step_order, step, reason)` from rules/cohort_steps.yaml."""
    try:
        steps = yaml_file.load(STEPS_FILE.read_text())["steps"]
        rows = [(i, s["step"], s["reason"]) for i, s in enumerate(steps, start=1)]
    except (OSError, KeyError, TypeError, yaml.YAMLError) as exc:
        raise RuleFileError(f"{STEPS_FILE}: cannot read cohort steps ({exc})") from None
    con.execute(
        "create or replace table staging.cohort_steps "
        "(step_order integer, step varchar, reason varchar)"
    )
    warehouse.insert_rows(con, "staging.cohort_steps", rows)


def run(ctx: RunContext) -> None:
    if "administrations" not in warehouse.table_names(ctx.con, "staging"):
        raise RuntimeError("staging.administrations is missing: run the extract stage first")
    load_steps(ctx.con)
    warehouse.run_sql_stage(ctx.con, "30_cohort")
    n_cohort = warehouse.row_count(ctx.con, "build.patients")
    cutoff = ctx.con.execute("select data_cutoff from staging.data_cutoff").fetchone()[0]
    ctx.progress(f"  cohort: {n_cohort:,} HER2-positive metastatic patients; data cut-off {cutoff}")
