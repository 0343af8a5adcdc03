-- stage: outcomes / step: survival_input
-- reads: build.line_outcomes, build.lines_of_therapy, build.line_concordance,
--        build.patients, variables outcomes_detail_max_line, outcomes_site_max_line
-- writes: staging.outcome_lines (one row per line: endpoints, groups and covariates),
--         staging.survival_groups (one row per endpoint x grouping x group: n, events),
--         staging.survival_observations (per group and distinct time: events, censored)
-- Kaplan-Meier needs only the number of events and of censored times at each distinct
-- time of a group, so the per-line rows are aggregated here, set-based, and the
-- estimation (lifelines, in Python) loops over groups, never over patients.
-- Groupings: line (every line); line x regimen group, line x concordance (concordant,
-- not_concordant, not_evaluable) and line x category for lines up to
-- getvariable('outcomes_detail_max_line'); line x site for lines up to
-- getvariable('outcomes_site_max_line') (her2audit/rules/outcomes.yaml); and, for overall
-- survival from metastatic
-- diagnosis (one row per patient), overall, site and the first line's regimen group
-- ('no_line' for a patient without a line of therapy).

create or replace table staging.outcome_lines as
with concordance as (
    select
        patient_id,
        line_number,
        category,
        concordant,
        cns,
        hr_positive
    from build.line_concordance
)

select
    outcomes.patient_id,
    outcomes.line_number,
    outcomes.start_date,
    year(outcomes.start_date) as start_year,
    coalesce(lines.regimen_group, 'unknown') as regimen_group,
    coalesce(concordance.category, 'not_evaluable') as category,
    case
        when concordance.category is null or concordance.category = 'not_evaluable'
            then 'not_evaluable'
        when concordance.concordant then 'concordant'
        else 'not_concordant'
    end as concordance,
    coalesce(patients.site_id, 'unknown') as site_id,
    coalesce(
        datediff('day', patients.birth_date, outcomes.start_date) / 365.25,
        patients.age_at_metastatic
            + datediff('day', patients.metastatic_date, outcomes.start_date) / 365.25
    ) as age_at_line_start,
    coalesce(concordance.hr_positive, patients.hr_positive) as hr_positive,
    concordance.cns,
    patients.de_novo,
    outcomes.os_days,
    outcomes.os_event,
    outcomes.ttnt_days,
    outcomes.ttnt_event,
    outcomes.ttd_days,
    outcomes.ttd_event
from build.line_outcomes as outcomes
inner join build.lines_of_therapy as lines
    on outcomes.patient_id = lines.patient_id
    and outcomes.line_number = lines.line_number
inner join build.patients as patients
    on outcomes.patient_id = patients.patient_id
left join concordance
    on outcomes.patient_id = concordance.patient_id
    and outcomes.line_number = concordance.line_number
order by outcomes.patient_id, outcomes.line_number;

-- Each grouping is a plain select of its rows (unioned, then aggregated once): DuckDB
-- scans and aggregates these in parallel, where lateral joins over (values ...) to
-- expand every line into its endpoints and groupings ran about 2.5 times slower.
create or replace table staging.survival_observations as
with line_endpoints as (
    select
        'os' as endpoint,
        line_number,
        regimen_group,
        concordance,
        category,
        site_id,
        os_days as time_days,
        os_event as event
    from staging.outcome_lines
    union all
    select
        'ttnt' as endpoint,
        line_number,
        regimen_group,
        concordance,
        category,
        site_id,
        ttnt_days as time_days,
        ttnt_event as event
    from staging.outcome_lines
    union all
    select
        'ttd' as endpoint,
        line_number,
        regimen_group,
        concordance,
        category,
        site_id,
        ttd_days as time_days,
        ttd_event as event
    from staging.outcome_lines
),

first_lines as (
    select
        patient_id,
        regimen_group
    from staging.outcome_lines
    where line_number = 1
),

patient_endpoints as (
    select
        patients.os_days as time_days,
        patients.os_event as event,
        coalesce(patients.site_id, 'unknown') as site_id,
        coalesce(first_lines.regimen_group, 'no_line') as first_line_regimen_group
    from build.patients as patients
    left join first_lines
        on patients.patient_id = first_lines.patient_id
),

detail_lines as (
    select
        endpoint,
        line_number,
        time_days,
        event,
        regimen_group as line_regimen_group,
        concordance as line_concordance,
        category as line_category
    from line_endpoints
    where line_number <= getvariable('outcomes_detail_max_line')
),

detail_observations as (
    -- line x regimen group, concordance and category: one row per line and grouping
    from detail_lines
    unpivot include nulls (
        group_value for grouping in (line_regimen_group, line_concordance, line_category)
    )
),

patient_groups as (
    select
        'os_from_metastatic' as endpoint,
        null::integer as line_number,
        time_days,
        event,
        site_id as site,
        first_line_regimen_group
    from patient_endpoints
),

patient_observations as (
    -- overall survival from metastatic diagnosis by site and by first-line regimen group
    from patient_groups
    unpivot include nulls (group_value for grouping in (site, first_line_regimen_group))
),

observations as (
    select endpoint, 'line' as grouping, line_number, null::varchar as group_value,
        time_days, event
    from line_endpoints
    union all by name
    select * from detail_observations
    union all by name
    select endpoint, 'site' as grouping, line_number, site_id as group_value, time_days, event
    from line_endpoints
    where line_number <= getvariable('outcomes_site_max_line')
    union all by name
    select 'os_from_metastatic' as endpoint, 'overall' as grouping, null::integer as line_number,
        null::varchar as group_value, time_days, event
    from patient_endpoints
    union all by name
    select * from patient_observations
)

select
    endpoint,
    grouping,
    line_number,
    group_value,
    time_days,
    count(*) filter (where event) as n_events,
    count(*) filter (where not event) as n_censored
from observations
where time_days is not null and event is not null
group by endpoint, grouping, line_number, group_value, time_days;

create or replace table staging.survival_groups as
with groups as (
    select
        endpoint,
        grouping,
        line_number,
        group_value,
        sum(n_events + n_censored)::integer as n,
        sum(n_events)::integer as events
    from staging.survival_observations
    group by endpoint, grouping, line_number, group_value
)

select
    row_number() over (
        order by endpoint, grouping, line_number nulls first, group_value nulls first
    )::integer as group_id,
    endpoint,
    grouping,
    case
        when grouping = 'overall' then 'all patients'
        when grouping = 'line' then 'line ' || line_number
        when grouping = 'first_line_regimen_group' then 'first line · ' || group_value
        when line_number is null then group_value
        else 'line ' || line_number || ' · ' || group_value
    end as group_label,
    line_number,
    group_value,
    n,
    events
from groups
order by group_id;
