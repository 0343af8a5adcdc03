-- stage: concordance / step: quality indicators by site and calendar year
-- reads: build.line_context, build.patients, build.quality_indicator_definitions,
--        variable concordance_data_cutoff (staging.data_cutoff, set by her2audit.stages.concordance)
-- writes: build.quality_indicators (indicator, period, site_id, numerator, denominator, rate):
--         every combination of period ('all' or a calendar year) and site ('all' or one
--         site); every indicator has its ('all', 'all') row even when its denominator is 0.
-- Definitions (text) are in build.quality_indicator_definitions (rules/concordance.yaml).

create or replace table build.quality_indicators as
with evaluable_lines as (
    select *
    from build.line_context
    where category in ('preferred', 'alternative', 'not_recommended')
),

first_lines as (
    select patient_id, min(start_date) as first_start
    from build.line_context
    group by patient_id
),

events as (
    select 'first_line_thp' as indicator, site_id, start_year as year,
        regimen_group = 'taxane_trastuzumab_pertuzumab' as counted
    from build.line_context
    where line_number = 1 and not early_relapse and guideline_id is not null

    union all
    select 'first_line_preferred', site_id, start_year, category = 'preferred'
    from build.line_context
    where line_number = 1 and not early_relapse and guideline_id is not null

    union all
    select 'second_line_preferred', site_id, start_year, category = 'preferred'
    from evaluable_lines
    where evaluated_as_line = 2

    union all
    select 'third_line_preferred', site_id, start_year, category = 'preferred'
    from evaluable_lines
    where evaluated_as_line = 3

    union all
    select 'her2_blockade', site_id, start_year, her2_directed
    from build.line_context

    union all
    select 'line_concordance', site_id, start_year, category in ('preferred', 'alternative')
    from evaluable_lines

    union all
    select
        'treated_within_90_days',
        coalesce(patients.site_id, 'unknown'),
        year(patients.metastatic_date),
        coalesce(first_lines.first_start <= patients.metastatic_date + 90, false)
    from build.patients as patients
    left join first_lines using (patient_id)
    where patients.metastatic_date is not null
        and (patients.death_date is null or patients.death_date >= patients.metastatic_date + 90)
        and patients.metastatic_date + 90 <= getvariable('concordance_data_cutoff')::date
),

counted as (
    select
        indicator,
        case when grouping(year) = 1 then 'all' else cast(year as varchar) end as period,
        case when grouping(site_id) = 1 then 'all' else site_id end as site_id,
        count(*) filter (where counted) as numerator,
        count(*) as denominator
    from events
    group by grouping sets ((indicator), (indicator, site_id), (indicator, year),
        (indicator, site_id, year))
),

with_empty_totals as (
    select definitions.indicator, 'all' as period, 'all' as site_id, 0 as numerator,
        0 as denominator
    from build.quality_indicator_definitions as definitions
    anti join counted
        on counted.indicator = definitions.indicator
        and counted.period = 'all' and counted.site_id = 'all'
    union all
    select * from counted
)

select
    with_empty_totals.indicator,
    with_empty_totals.period,
    with_empty_totals.site_id,
    with_empty_totals.numerator::bigint as numerator,
    with_empty_totals.denominator::bigint as denominator,
    with_empty_totals.numerator / nullif(with_empty_totals.denominator, 0) as rate
from with_empty_totals
left join build.quality_indicator_definitions as definitions using (indicator)
order by definitions.indicator_order, with_empty_totals.period <> 'all',
    with_empty_totals.period, with_empty_totals.site_id <> 'all', with_empty_totals.site_id;
