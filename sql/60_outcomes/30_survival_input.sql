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

create or replace table staging.survival_observations as
with line_endpoints as (
    select
        lines.*,
        endpoints.endpoint,
        endpoints.time_days,
        endpoints.event
    from staging.outcome_lines as lines
    cross join lateral (
        values
            ('os', lines.os_days, lines.os_event),
            ('ttnt', lines.ttnt_days, lines.ttnt_event),
            ('ttd', lines.ttd_days, lines.ttd_event)
    ) as endpoints (endpoint, time_days, event)
),

line_groups as (
    select
        line_endpoints.endpoint,
        groups.grouping,
        line_endpoints.line_number,
        groups.group_value,
        line_endpoints.time_days,
        line_endpoints.event
    from line_endpoints
    cross join lateral (
        values
            ('line', null::varchar),
            ('line_regimen_group', line_endpoints.regimen_group),
            ('line_concordance', line_endpoints.concordance),
            ('line_category', line_endpoints.category),
            ('site', line_endpoints.site_id)
    ) as groups (grouping, group_value)
    where groups.grouping = 'line'
        or (groups.grouping = 'site'
            and line_endpoints.line_number <= getvariable('outcomes_site_max_line'))
        or (groups.grouping not in ('line', 'site')
            and line_endpoints.line_number <= getvariable('outcomes_detail_max_line'))
),

first_lines as (
    select
        patient_id,
        regimen_group
    from staging.outcome_lines
    where line_number = 1
),

patient_groups as (
    select
        'os_from_metastatic' as endpoint,
        groups.grouping,
        null::integer as line_number,
        groups.group_value,
        patients.os_days as time_days,
        patients.os_event as event
    from build.patients as patients
    left join first_lines
        on patients.patient_id = first_lines.patient_id
    cross join lateral (
        values
            ('overall', null::varchar),
            ('site', coalesce(patients.site_id, 'unknown')),
            ('first_line_regimen_group', coalesce(first_lines.regimen_group, 'no_line'))
    ) as groups (grouping, group_value)
),

observations as (
    select * from line_groups
    union all
    select * from patient_groups
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
