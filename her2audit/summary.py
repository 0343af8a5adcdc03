"""Short, human summaries printed at the end of `run`, `demo` and `validate`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from her2audit import warehouse


def _accounting_lines(con, schema: str) -> list[str]:
    rows = con.execute(
        f"select source_table, rows_in, rows_staged, rows_quarantined "
        f"from {schema}.row_accounting order by source_table"
    ).fetchall()
    out = ["rows read / staged / quarantined:"]
    out += [f"  {t:<13} {i:>10,} {s:>10,} {q:>8,}" for t, i, s, q in rows]
    rules = con.execute(
        f"select source_table, rule, count(*) from {schema}.quarantine "
        f"group by all order by 3 desc, 1, 2 limit 12"
    ).fetchall()
    if rules:
        out.append("quarantined rows by rule (audit.quarantine has each row and why):")
        out += [f"  {t}.{r}: {n:,}" for t, r, n in rules]
    return out


def print_run_summary(
    db: Path, run_id: str, reports: Path | None, say: Callable[[str], None]
) -> None:
    con = warehouse.connect(db, read_only=True)
    try:
        tables = warehouse.table_names(con, warehouse.AUDIT)
        published = con.execute(
            "select json_keys(row_counts) from audit.runs where run_id = ?", [run_id]
        ).fetchall()
        n_published = len(published[0][0] or []) if published else 0
        say(f"run {run_id} published {n_published} tables to audit")
        for line in _accounting_lines(con, warehouse.AUDIT):
            say(line)
        if "cohort_attrition" in tables:
            say("cohort attrition (audit.cohort_attrition):")
            for step, n, excl, reason in con.execute(
                "select step, n_patients, n_excluded, reason from audit.cohort_attrition "
                "order by step_order"
            ).fetchall():
                say(f"  {step:<32} {n:>8,} patients" + (f"  (-{excl:,} {reason})" if excl else ""))
        if "lines_of_therapy" in tables:
            n_lines, n_patients = con.execute(
                "select count(*), count(distinct patient_id) from audit.lines_of_therapy"
            ).fetchone()
            say(f"lines of therapy: {n_lines:,} lines for {n_patients:,} patients")
        if "quality_indicators" in tables:
            say("quality indicators (all sites, all years):")
            for ind, num, den, rate in con.execute(
                "select indicator, numerator, denominator, rate from audit.quality_indicators "
                "where site_id = 'all' and period = 'all' order by indicator"
            ).fetchall():
                pct = f"{rate:.1%}" if rate is not None else "n/a"
                say(f"  {ind:<26} {pct:>7}  ({num:,}/{den:,})")
        if "survival_summary" in tables:
            say("median survival, months (95% CI) (audit.survival_summary):")
            for label, n, events, med, low, high, status in con.execute(
                "select endpoint || ' ' || group_label, n, events, median_days, "
                "median_ci_lower_days, median_ci_upper_days, status "
                "from audit.survival_summary "
                "where (endpoint = 'os_from_metastatic' and grouping = 'overall') "
                "or (endpoint in ('os', 'ttnt') and grouping = 'line_concordance' "
                "and line_number = 1 and group_value <> 'not_evaluable') order by all"
            ).fetchall():
                months = [f"{v / 30.4375:.1f}" if v is not None else "NR"
                          for v in (med, low, high)]
                say(f"  {label:<36} {months[0]:>6} ({months[1]}–{months[2]})  "
                    f"n={n:,}, events={events:,}" + ("" if status == "estimated"
                                                     else f" [{status}]"))
    finally:
        con.close()
    say(f"warehouse: {Path(db).resolve()}")
    report = Path(reports) / "index.html" if reports is not None else None
    if report is not None and report.exists():
        say(f"report: {report.resolve()}")


def print_validation_summary(db: Path, say: Callable[[str], None]) -> None:
    """From the work file of a `validate` run on `db` (nothing of it is published)."""
    from her2audit import work_file

    con = work_file.open_work(db, read_only=True)
    try:
        for line in _accounting_lines(con, warehouse.BUILD):
            say(line)
        if "data_quality_results" in warehouse.table_names(con, warehouse.BUILD):
            failed = con.execute(
                "select suite, expectation, severity, observed_value "
                "from build.data_quality_results "
                "where not success order by severity, suite, expectation"
            ).fetchall()
            say(f"expectations failed: {len(failed)}")
            for suite, exp, sev, observed in failed:
                say(f"  [{sev}] {suite}: {exp} (observed {observed})")
    finally:
        con.close()
