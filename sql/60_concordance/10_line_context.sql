-- stage: concordance / step: context at each line and the rulebook that judges it
-- reads: build.lines_of_therapy, build.patients, staging.metastases,
--        staging.guideline_rulebooks (from rules/guidelines/*.yaml, see her2audit/guidelines.py)
-- writes: staging.line_context (one row per line: clinical context, regimen groups received in
--         earlier lines, evaluated_as_line, and the rulebook in force or pinned)
--
-- CNS involvement at a line: a brain or leptomeningeal metastasis documented on or before the
-- line's start + 14 days (SPEC §2). An early-relapse patient's lines are evaluated one line
-- later (the first line as line 2, SPEC §6). The rulebook is the pinned one, else the one in
-- force on the line's start date (periods resolved by the loader never overlap).

create or replace table staging.line_context as
with cns_onset as (
    select patient_id, min(diagnosis_date) as first_cns_date
    from staging.metastases
    where site in ('brain', 'leptomeningeal')
    group by patient_id
),

lines as (
    select
        patient_id,
        line_number,
        start_date,
        regimen,
        regimen_group,
        ingredients,
        her2_directed,
        list(regimen_group) over (
            partition by patient_id order by line_number
            rows between unbounded preceding and 1 preceding
        ) as earlier_groups
    from build.lines_of_therapy
),

lines_with_context as (
    select
        lines.patient_id,
        lines.line_number,
        lines.start_date,
        year(lines.start_date) as start_year,
        lines.regimen,
        lines.regimen_group,
        lines.ingredients,
        coalesce(lines.her2_directed, false) as her2_directed,
        coalesce(patients.site_id, 'unknown') as site_id,
        coalesce(patients.hr_positive, false) as hr_positive,
        coalesce(patients.early_relapse, false) as early_relapse,
        coalesce(patients.de_novo, false) as de_novo,
        coalesce(cns_onset.first_cns_date <= lines.start_date + 14, false) as cns,
        lines.line_number + case when patients.early_relapse then 1 else 0 end
            as evaluated_as_line,
        list_sort(list_distinct(coalesce(lines.earlier_groups, []))) as received_groups
    from lines
    left join build.patients as patients using (patient_id)
    left join cns_onset using (patient_id)
),

rulebooks as (
    select guideline_id, version, effective_from, effective_to, pinned, judges_by_date
    from staging.guideline_rulebooks
    where pinned or judges_by_date
)

select
    lines_with_context.*,
    rulebooks.guideline_id,
    rulebooks.version as guideline_version
from lines_with_context
left join rulebooks
    on rulebooks.pinned
    or (
        rulebooks.judges_by_date
        and lines_with_context.start_date >= rulebooks.effective_from
        and (rulebooks.effective_to is null or lines_with_context.start_date <= rulebooks.effective_to)
    )
order by lines_with_context.patient_id, lines_with_context.line_number;
