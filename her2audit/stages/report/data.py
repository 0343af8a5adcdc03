"""Everything the report shows, aggregated in SQL from one schema (`build` during a run,
`audit` for `her2audit report`). Each query returns a few hundred rows at most, whatever
the size of the warehouse; nothing here returns one row per patient except the
case-review listing (`discordant_lines`), which only the internal file uses.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from typing import Any

import duckdb

from her2audit import __version__, warehouse
from her2audit.stages.report.privacy import THRESHOLD

DAYS_PER_MONTH = 30.4375
RISK_MONTHS = (0, 6, 12, 18, 24, 36, 48, 60)
CATEGORIES = ("preferred", "alternative", "not_recommended", "trial", "not_evaluable")
# Evaluable lines, as in the `line_concordance` quality indicator (trial and not-evaluable
# lines are neither concordant nor discordant).
EVALUABLE = "category in ('preferred', 'alternative', 'not_recommended')"
# Survival groupings shown as curves, in order of preference, and how many groups at most.
CURVE_GROUPINGS = ("line_concordance", "line", "line_regimen_group")
MAX_CURVES = 8


class Source:
    """Read-only view of one schema of the warehouse."""

    def __init__(self, con: duckdb.DuckDBPyConnection, schema: str) -> None:
        self.con = con
        self.schema = schema
        self.tables = set(warehouse.table_names(con, schema))

    def has(self, *tables: str) -> bool:
        return all(t in self.tables for t in tables)

    def columns(self, table: str) -> list[str]:
        return warehouse.column_names(self.con, self.t(table))

    def t(self, table: str) -> str:
        return f"{self.schema}.{table}"

    def rows(self, query: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
        cur = self.con.execute(query, params or [])
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]


def _line_group(expr: str = "line_number") -> str:
    return f"case when {expr} >= 4 then '4+' else {expr}::varchar end"


# ---------------------------------------------------------------- run and provenance

def run_info(src: Source) -> dict[str, Any]:
    """Run id, times, registry, parameters, guideline versions, fingerprint, version."""
    info: dict[str, Any] = {}
    if src.schema == warehouse.AUDIT and src.has("runs"):
        rows = src.rows(
            f"select * from {src.t('runs')} order by finished_at desc nulls last, run_id desc "
            "limit 1"
        )
        info = rows[0] if rows else {}
    elif src.has("run_info"):
        rows = src.rows(f"select * from {src.t('run_info')}")
        info = rows[0] if rows else {}
        info.setdefault("software_version", __version__)
        if src.has("guideline_versions"):
            info["guideline_versions"] = src.rows(
                f"select * from {src.t('guideline_versions')} order by all"
            )
    for key in ("parameters", "guideline_versions", "row_counts"):
        value = info.get(key)
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                info[key] = json.loads(value)
    return info


def cohort_size(src: Source) -> int | None:
    if not src.has("patients"):
        return None
    return src.rows(f"select count(*) as n from {src.t('patients')}")[0]["n"]


def data_period(src: Source) -> tuple[dt.date | None, dt.date | None]:
    if not src.has("lines_of_therapy"):
        return None, None
    r = src.rows(f"select min(start_date) as a, max(start_date) as b "
                 f"from {src.t('lines_of_therapy')}")
    return r[0]["a"], r[0]["b"]


# ---------------------------------------------------------------- quality indicators

def quality_indicators(src: Source) -> list[dict[str, Any]]:
    if not src.has("quality_indicators"):
        return []
    definitions = ""
    select_def = "null::varchar as definition"
    order = "q.indicator"
    if src.has("quality_indicator_definitions"):
        cols = src.columns("quality_indicator_definitions")
        extra = [c for c in ("label", "title", "name") if c in cols]
        select_def = "d.definition" + (f", d.{extra[0]} as label" if extra else "")
        definitions = (f"left join {src.t('quality_indicator_definitions')} as d "
                       "using (indicator)")
        if "indicator_order" in cols:
            order = "d.indicator_order nulls last, q.indicator"
    return src.rows(
        f"""
        select q.indicator, q.numerator, q.denominator, q.rate, {select_def}
        from {src.t('quality_indicators')} as q {definitions}
        where q.site_id = 'all' and q.period = 'all'
        order by {order}
        """
    )


def quality_indicator_trend(src: Source) -> list[dict[str, Any]]:
    if not src.has("quality_indicators"):
        return []
    return src.rows(
        f"""
        select indicator, period, numerator, denominator, rate
        from {src.t('quality_indicators')}
        where site_id = 'all' and try_cast(period as integer) is not null
        order by indicator, try_cast(period as integer)
        """
    )


# ---------------------------------------------------------------- concordance

def concordance_by_line(src: Source) -> list[dict[str, Any]]:
    if not src.has("concordance_by_line"):
        return []
    return src.rows(f"select * from {src.t('concordance_by_line')} order by line_order")


def concordance_by_year(src: Source) -> list[dict[str, Any]]:
    if not src.has("concordance_by_year"):
        return []
    return src.rows(f"select * from {src.t('concordance_by_year')} order by year, line_order")


def concordance_by_site(src: Source) -> list[dict[str, Any]]:
    if not src.has("concordance_by_site"):
        return []
    return src.rows(
        f"select * from {src.t('concordance_by_site')} order by line_order, site_id"
    )


def concordance_by_context(src: Source) -> list[dict[str, Any]]:
    """Lines, evaluable lines and concordant lines by context value and line group."""
    if not src.has("line_concordance"):
        return []
    lc = src.t("line_concordance")
    return src.rows(
        f"""
        with judged as (
            select
                {_line_group()} as line,
                category,
                coalesce(concordant, false) as concordant,
                case when cns then 'CNS involvement' when not cns then 'no CNS involvement'
                     else 'CNS unknown' end as cns_value,
                case when hr_positive then 'HR-positive' when not hr_positive then 'HR-negative'
                     else 'HR unknown' end as hr_value,
                case when early_relapse then 'early relapse'
                     when not early_relapse then 'no early relapse'
                     else 'early relapse unknown' end as relapse_value
            from {lc}
        ),

        long as (
            select 'CNS' as context, cns_value as value, * from judged
            union all
            select 'HR status', hr_value, * from judged
            union all
            select 'Early relapse', relapse_value, * from judged
        )

        select
            context,
            value,
            coalesce(line, 'all') as line,
            count(*) as n_lines,
            count(*) filter (where {EVALUABLE}) as n_evaluable,
            count(*) filter (where concordant) as n_concordant
        from long
        group by grouping sets ((context, value, line), (context, value))
        order by context, value, line
        """
    )


def concordance_by_guideline(src: Source) -> list[dict[str, Any]]:
    if not src.has("line_concordance"):
        return []
    return src.rows(
        f"""
        select
            coalesce(guideline_id, 'none in force') as guideline_id,
            min(start_date) as first_line_start,
            max(start_date) as last_line_start,
            count(*) as n_lines,
            {", ".join(f"count(*) filter (where category = '{c}') as n_{c}" for c in CATEGORIES)},
            count(*) filter (where {EVALUABLE}) as n_evaluable,
            count(*) filter (where concordant) as n_concordant
        from {src.t('line_concordance')}
        left join (select patient_id, line_number, start_date
                   from {src.t('lines_of_therapy')}) using (patient_id, line_number)
        group by all
        order by first_line_start nulls last, guideline_id
        """
    ) if src.has("lines_of_therapy") else src.rows(
        f"""
        select coalesce(guideline_id, 'none in force') as guideline_id,
            null::date as first_line_start, null::date as last_line_start,
            count(*) as n_lines,
            {", ".join(f"count(*) filter (where category = '{c}') as n_{c}" for c in CATEGORIES)},
            count(*) filter (where {EVALUABLE}) as n_evaluable,
            count(*) filter (where concordant) as n_concordant
        from {src.t('line_concordance')} group by all order by guideline_id
        """
    )


# ---------------------------------------------------------------- sequences

def sankey_links(src: Source, threshold: int = THRESHOLD) -> list[dict[str, Any]]:
    """Patients flowing from the line-1 regimen to line 2 and line 3 regimens.

    Regimens given to fewer than `threshold` patients at a line are pooled as 'Other
    regimens'; flows of fewer than `threshold` patients are left out (the report says so).
    """
    if not src.has("lines_of_therapy"):
        return []
    return src.rows(
        f"""
        with per_patient as (
            select
                patient_id,
                max(regimen) filter (where line_number = 1) as r1,
                max(regimen) filter (where line_number = 2) as r2,
                max(regimen) filter (where line_number = 3) as r3
            from {src.t('lines_of_therapy')}
            where line_number <= 3
            group by patient_id
        ),

        pooled as (
            select
                case when count(*) over (partition by r1) < {threshold}
                     then 'Other regimens' else coalesce(r1, 'Unnamed regimen') end as r1,
                case when r2 is null then null
                     when count(*) over (partition by r2) < {threshold} then 'Other regimens'
                     else r2 end as r2,
                case when r3 is null then null
                     when count(*) over (partition by r3) < {threshold} then 'Other regimens'
                     else r3 end as r3
            from per_patient
            where r1 is not null
        ),

        links as (
            select 1 as source_line, r1 as source, coalesce(r2, 'No further line') as target,
                   count(*) as n
            from pooled group by all
            union all
            select 2, r2, coalesce(r3, 'No further line'), count(*)
            from pooled where r2 is not null group by all
        )

        select * from links
        where n >= {threshold}
        order by source_line, n desc, source, target
        """
    )


# ---------------------------------------------------------------- outcomes

def survival_groups(src: Source) -> list[dict[str, Any]]:
    """Which curves exist: endpoint, grouping, group_label, n (at risk at the start)."""
    if not src.has("survival_curves"):
        return []
    return src.rows(
        f"""
        select endpoint, grouping, group_label, max(n_at_risk) as n
        from {src.t('survival_curves')}
        group by all
        order by endpoint, grouping, group_label
        """
    )


def choose_curves(groups: list[dict[str, Any]]) -> list[tuple[str, str, list[str]]]:
    """Per endpoint, the first preferred grouping present and its largest groups."""
    chosen = []
    endpoints = sorted({g["endpoint"] for g in groups}, key=lambda e: ({"os": 0, "ttnt": 1,
                                                                          "ttd": 2}.get(e, 9), e))
    for endpoint in endpoints:
        mine = [g for g in groups if g["endpoint"] == endpoint]
        groupings = [gr for gr in CURVE_GROUPINGS if any(g["grouping"] == gr for g in mine)]
        if not groupings:
            groupings = sorted({g["grouping"] for g in mine})
        grouping = groupings[0]
        labels = [g for g in mine if g["grouping"] == grouping and (g["n"] or 0) >= THRESHOLD]
        labels.sort(key=lambda g: (-(g["n"] or 0), str(g["group_label"])))
        chosen.append((endpoint, grouping, sorted(str(g["group_label"]) for g in
                                                  labels[:MAX_CURVES])))
    return chosen


def survival_curve_points(
    src: Source, endpoint: str, grouping: str, labels: list[str], bucket_days: int = 7
) -> list[dict[str, Any]]:
    """The curves thinned to one point per `bucket_days` (the last step in each bucket) and
    cut where fewer than 11 patients remain at risk, so no step reveals a small group."""
    if not labels:
        return []
    return src.rows(
        f"""
        select group_label, time_days, survival, ci_lower, ci_upper, n_at_risk
        from {src.t('survival_curves')}
        where endpoint = ? and grouping = ? and group_label::varchar in
              (select unnest(?::varchar[])) and n_at_risk >= {THRESHOLD}
        qualify row_number() over (
            partition by group_label, floor(time_days / {bucket_days})
            order by time_days desc) = 1
            or time_days = 0
        order by group_label, time_days
        """,
        [endpoint, grouping, labels],
    )


def numbers_at_risk(
    src: Source, endpoint: str, grouping: str, labels: list[str]
) -> dict[str, dict[int, int]]:
    """Patients at risk at 0, 6, 12, … months per group (0 beyond the last follow-up)."""
    if not labels:
        return {}
    rows = src.rows(
        f"""
        with marks as (select unnest(?::integer[]) as month),
        curve as (
            select group_label::varchar as group_label, time_days, n_at_risk
            from {src.t('survival_curves')}
            where endpoint = ? and grouping = ? and group_label::varchar in
                  (select unnest(?::varchar[]))
        )
        select curve.group_label, marks.month, arg_min(curve.n_at_risk, curve.time_days) as n
        from marks
        join curve on curve.time_days >= marks.month * {DAYS_PER_MONTH}
        group by all
        """,
        [list(RISK_MONTHS), endpoint, grouping, labels],
    )
    out: dict[str, dict[int, int]] = {label: dict.fromkeys(RISK_MONTHS, 0) for label in labels}
    for r in rows:
        out[r["group_label"]][r["month"]] = r["n"]
    return out


def survival_summary(src: Source) -> list[dict[str, Any]]:
    if not src.has("survival_summary"):
        return []
    line = "line_number, " if "line_number" in src.columns("survival_summary") else ""
    return src.rows(
        f"""
        select endpoint, grouping, group_label::varchar as group_label,
               {line.rstrip(", ") or "null::integer"} as line_number, n, events, median_days,
               median_ci_lower_days, median_ci_upper_days
        from {src.t('survival_summary')}
        order by case endpoint when 'os' then 0 when 'ttnt' then 1 when 'ttd' then 2 else 9 end,
                 endpoint, grouping, {line} group_label
        """
    )


def survival_comparisons(src: Source) -> tuple[list[str], list[dict[str, Any]]]:
    if not src.has("survival_comparisons"):
        return [], []
    cols = src.columns("survival_comparisons")
    return cols, src.rows(f"select * from {src.t('survival_comparisons')}")


# ---------------------------------------------------------------- cohort and data quality

def cohort_attrition(src: Source) -> list[dict[str, Any]]:
    if not src.has("cohort_attrition"):
        return []
    order = "step_order" if "step_order" in src.columns("cohort_attrition") else "n_patients desc"
    return src.rows(
        f"select step, n_patients, n_excluded, reason from {src.t('cohort_attrition')} "
        f"order by {order}"
    )


def quarantine_by_rule(src: Source) -> list[dict[str, Any]]:
    if not src.has("quarantine"):
        return []
    return src.rows(
        f"select source_table, rule, count(*) as n from {src.t('quarantine')} "
        "group by all order by n desc, source_table, rule"
    )


def quarantine_examples(src: Source) -> list[dict[str, Any]]:
    """One example record per source table and rule (first by record key), with its raw
    values: for the internal case-review file only."""
    if not src.has("quarantine"):
        return []
    has_pid = "patient_id" in src.columns("quarantine")
    pid = "patient_id" if has_pid else "null::varchar as patient_id"
    return src.rows(
        f"""
        select source_table, rule, record_key::varchar as record_key, {pid}, detail
        from {src.t('quarantine')}
        qualify row_number() over (partition by source_table, rule order by record_key) = 1
        order by source_table, rule
        """
    )


def row_accounting(src: Source) -> list[dict[str, Any]]:
    if not src.has("row_accounting"):
        return []
    return src.rows(
        f"select source_table, rows_in, rows_staged, rows_quarantined "
        f"from {src.t('row_accounting')} order by source_table"
    )


def unmapped_drugs(src: Source, limit: int = 40) -> tuple[int, int, list[dict[str, Any]]]:
    """Number of distinct unmapped names, their records, and the most frequent ones."""
    if not src.has("unmapped_drugs"):
        return 0, 0, []
    t = src.t("unmapped_drugs")
    total = src.rows(f"select count(*) as names, coalesce(sum(n_records), 0) as n from {t}")[0]
    top = src.rows(f"select drug, n_records from {t} order by n_records desc, drug limit {limit}")
    return total["names"], int(total["n"]), top


def data_quality_results(src: Source) -> list[dict[str, Any]]:
    if not src.has("data_quality_results"):
        return []
    cols = src.columns("data_quality_results")
    wanted = [c for c in ("suite", "expectation", "severity", "success", "observed_value",
                          "unexpected_count") if c in cols]
    order = ("success, " if "success" in cols else "") + ", ".join(
        c for c in ("severity", "suite", "expectation") if c in cols)
    return src.rows(
        f"select {', '.join(wanted)} from {src.t('data_quality_results')} order by {order}"
    )


# ---------------------------------------------------------------- case review (internal)

CASE_REVIEW_LIMIT = 10_000


def count_discordant_lines(src: Source) -> int:
    if not src.has("line_concordance"):
        return 0
    return src.rows(
        f"select count(*) as n from {src.t('line_concordance')} "
        "where category in ('not_recommended', 'trial', 'not_evaluable')")[0]["n"]


def discordant_lines(src: Source, limit: int = CASE_REVIEW_LIMIT) -> list[dict[str, Any]]:
    """Lines judged `not_recommended`, `trial` or `not_evaluable`, with the patient's real
    id, for clinical review in the internal file (at most `limit`, by site and patient)."""
    if not src.has("line_concordance"):
        return []
    lot = src.has("lines_of_therapy")
    pts = src.has("patients")
    sequences = (
        "left join (select patient_id, string_agg(coalesce(regimen, '?'), ' > ' "
        f"order by line_number) as sequence from {src.t('lines_of_therapy')} "
        "group by patient_id) as s using (patient_id)" if lot else "")
    return src.rows(
        f"""
        select
            {"p.site_id" if pts else "null::varchar as site_id"},
            c.patient_id,
            c.line_number,
            {"l.start_date, l.regimen, l.ingredients" if lot else
             "null::date as start_date, null::varchar as regimen, null::varchar as ingredients"},
            c.guideline_id,
            c.category,
            c.rule_id,
            c.reason,
            {"s.sequence" if lot else "null::varchar as sequence"}
        from {src.t('line_concordance')} as c
        {f"left join {src.t('lines_of_therapy')} as l using (patient_id, line_number)"
         if lot else ""}
        {sequences}
        {f"left join {src.t('patients')} as p using (patient_id)" if pts else ""}
        where c.category in ('not_recommended', 'trial', 'not_evaluable')
        order by 1 nulls last, c.patient_id, c.line_number
        limit {int(limit)}
        """
    )


# ---------------------------------------------------------------- cut-off and follow-up

def data_cutoff(src: Source, info: dict[str, Any]) -> dt.date | None:
    """The run's effective data cut-off: as recorded with the run, else the cohort stage's
    `staging.data_cutoff` (given or derived from the latest follow-up date)."""
    params = info.get("parameters")
    if isinstance(params, dict) and params.get("data_cutoff"):
        with contextlib.suppress(ValueError):
            return dt.date.fromisoformat(str(params["data_cutoff"]))
    if "data_cutoff" in warehouse.table_names(src.con, "staging"):
        rows = src.rows("select max(data_cutoff) as d from staging.data_cutoff")
        return rows[0]["d"] if rows else None
    return None


def cutoff_given(src: Source) -> bool | None:
    """Whether the cut-off was given (--data-cutoff) rather than derived from the data:
    the cohort stage records it in `staging.data_cutoff`."""
    if "data_cutoff" not in warehouse.table_names(src.con, "staging"):
        return None
    if "given" not in [r["column_name"] for r in src.rows(
            "select column_name from information_schema.columns where table_schema = "
            "'staging' and table_name = 'data_cutoff' and table_catalog = current_database()")]:
        return None
    rows = src.rows("select bool_or(given) as g from staging.data_cutoff")
    return rows[0]["g"] if rows else None


def median_follow_up(src: Source, site: str | None = None) -> dict[str, Any] | None:
    """Median follow-up from metastatic diagnosis of the whole cohort or of one site, with
    its interval and number of patients, as the outcomes stage estimated it (reverse
    Kaplan–Meier, table `median_follow_up`); None when the warehouse has no such row."""
    if not src.has("median_follow_up"):
        return None
    rows = src.rows(
        f"select n, median_days, median_ci_lower_days, median_ci_upper_days "
        f"from {src.t('median_follow_up')} where site_id = ?", [site or "all"])
    return rows[0] if rows else None


# ---------------------------------------------------------------- deviations

def _site_filter(src: Source, site: str | None, alias: str = "") -> str:
    if site is None:
        return ""
    return f" and {alias}site_id = '{site.replace(chr(39), chr(39) * 2)}'"


def deviations(src: Source, site: str | None = None) -> list[dict[str, Any]]:
    """Lines per line group × rulebook × verdict × regimen group given, with the groups
    the rule preferred (most frequent list), from `line_context`."""
    if not src.has("line_context"):
        return []
    return src.rows(
        f"""
        select
            {_line_group()} as line,
            coalesce(guideline_id, 'none in force') as guideline_id,
            category,
            coalesce(regimen_group, 'unknown') as regimen_group,
            count(*) as n,
            mode(array_to_string(preferred_groups, ',')) as preferred
        from {src.t('line_context')}
        where true {_site_filter(src, site)}
        group by all
        order by line, guideline_id, category, n desc, regimen_group
        """
    )


def deviation_eras(src: Source) -> dict[str, tuple[dt.date | None, dt.date | None]]:
    """First and last line start judged by each rulebook."""
    if not src.has("line_context"):
        return {}
    rows = src.rows(f"select coalesce(guideline_id, 'none in force') as g, min(start_date) as a,"
                    f" max(start_date) as b from {src.t('line_context')} group by all")
    return {r["g"]: (r["a"], r["b"]) for r in rows}


# ---------------------------------------------------------------- sequences by verdict

def verdict_flows(src: Source, cutoff: dt.date | None, lost_after_days: int,
                  threshold: int = THRESHOLD, site: str | None = None) -> list[dict[str, Any]]:
    """Patients flowing from the verdict of line 1 to that of line 2 and 3, and from each
    patient's last line (of the first three) to what followed: died, still on the line,
    alive without a further line (followed), or lost to follow-up; flows of fewer than
    `threshold` patients are left out."""
    if not src.has("line_concordance", "lines_of_therapy", "patients"):
        return []
    pcols = set(src.columns("patients"))
    alive = ("last_known_alive_date" if "last_known_alive_date" in pcols
             else "last_contact_date" if "last_contact_date" in pcols else "null::date")
    cut = f"date '{cutoff.isoformat()}'" if cutoff else "current_date"
    return src.rows(
        f"""
        with verdicts as (
            select patient_id,
                max(category) filter (where line_number = 1) as c1,
                max(category) filter (where line_number = 2) as c2,
                max(category) filter (where line_number = 3) as c3
            from {src.t('line_concordance')}
            where line_number <= 3
            group by patient_id
        ),

        last_line as (
            select patient_id, max(line_number) as n_lines,
                   arg_max(end_reason, line_number) as last_end_reason
            from {src.t('lines_of_therapy')}
            group by patient_id
        ),

        patients as (
            select v.*, l.n_lines,
                case when p.death_date is not null then 'died'
                     when l.last_end_reason = 'ongoing' then 'ongoing'
                     when p.{alive} >= {cut} - {int(lost_after_days)} then 'followed'
                     else 'lost' end as after_last
            from verdicts as v
            join last_line as l using (patient_id)
            join {src.t('patients')} as p using (patient_id)
            where v.c1 is not null {_site_filter(src, site, 'p.')}
        ),

        links as (
            select 1 as source_line, c1 as source,
                   case when c2 is not null then 'L2:' || c2 else 'end:' || after_last end
                       as target
            from patients
            union all
            select 2, c2, case when c3 is not null then 'L3:' || c3 else 'end:' || after_last end
            from patients where c2 is not null
            union all
            select 3, c3, case when n_lines > 3 then 'L4:further' else 'end:' || after_last end
            from patients where c3 is not null
        )

        select source_line, source, target, count(*) as n
        from links
        group by all
        having count(*) >= {threshold}
        order by source_line, source, target
        """
    )


# ---------------------------------------------------------------- survival per line

def survival_line_curves(src: Source, endpoint: str, bucket_days: int = 7
                         ) -> list[dict[str, Any]]:
    """Kaplan–Meier curves of one endpoint by line and concordance (one curve per line ×
    concordant / not concordant), thinned to one point per `bucket_days` and cut where
    fewer than 11 patients remain at risk."""
    if not src.has("survival_curves"):
        return []
    cols = set(src.columns("survival_curves"))
    if not {"line_number", "group_value"} <= cols:
        return []
    return src.rows(
        f"""
        select line_number, group_value::varchar as group_value, time_days, survival,
               ci_lower, ci_upper, n_at_risk
        from {src.t('survival_curves')}
        where endpoint = ? and grouping = 'line_concordance' and n_at_risk >= {THRESHOLD}
        qualify row_number() over (
            partition by line_number, group_value, floor(time_days / {bucket_days})
            order by time_days desc) = 1
            or time_days = 0
        order by line_number, group_value, time_days
        """,
        [endpoint],
    )


def survival_line_at_risk(src: Source, endpoint: str,
                          months: tuple[int, ...] = RISK_MONTHS) -> list[dict[str, Any]]:
    """Patients at risk at each of `months` per line × concordance group."""
    if not src.has("survival_curves"):
        return []
    if not {"line_number", "group_value"} <= set(src.columns("survival_curves")):
        return []
    return src.rows(
        f"""
        with marks as (select unnest(?::integer[]) as month),
        curve as (
            select line_number, group_value::varchar as group_value, time_days, n_at_risk
            from {src.t('survival_curves')}
            where endpoint = ? and grouping = 'line_concordance'
        ),
        groups as (select distinct line_number, group_value from curve)
        select g.line_number, g.group_value, m.month,
               coalesce(arg_min(c.n_at_risk, c.time_days), 0) as n
        from groups as g
        cross join marks as m
        left join curve as c
            on c.line_number = g.line_number and c.group_value = g.group_value
            and c.time_days >= m.month * {DAYS_PER_MONTH}
        group by all
        order by all
        """,
        [list(months), endpoint],
    )


def survival_endpoints(src: Source) -> list[str]:
    if not src.has("survival_curves"):
        return []
    found = [r["endpoint"] for r in src.rows(
        f"select distinct endpoint from {src.t('survival_curves')} "
        "where grouping = 'line_concordance'")]
    order = {"os": 0, "ttnt": 1, "ttd": 2}
    return sorted(found, key=lambda e: (order.get(e, 9), e))


# ---------------------------------------------------------------- per site

def site_ids(src: Source) -> list[str]:
    if not src.has("concordance_by_site"):
        return []
    return [r["site_id"] for r in src.rows(
        f"select distinct site_id from {src.t('concordance_by_site')} order by site_id")]


def site_indicators(src: Source) -> list[dict[str, Any]]:
    """Every site's indicators over all periods (not the all-sites rows)."""
    if not src.has("quality_indicators"):
        return []
    return src.rows(
        f"select indicator, site_id, period, numerator, denominator, rate "
        f"from {src.t('quality_indicators')} where site_id <> 'all' and period = 'all' "
        "order by indicator, site_id")


# ---------------------------------------------------------------- sensitivity

def sensitivity(src: Source) -> tuple[list[str], list[dict[str, Any]]]:
    """`sensitivity` as written by `her2audit sensitivity` (columns read as found)."""
    if not src.has("sensitivity"):
        return [], []
    cols = src.columns("sensitivity")
    return cols, src.rows(f"select * from {src.t('sensitivity')} order by all")
