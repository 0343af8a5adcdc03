-- stage: outcomes / step: follow_up_input
-- reads: build.patients (os_days, os_event from step patient_os; site_id)
-- writes: staging.follow_up_observations (per scope and distinct time: patients whose
--         follow-up ends there alive, and deaths)
-- Median follow-up by the reverse Kaplan-Meier method (Schemper & Smith 1996): the
-- Kaplan-Meier median of the time to censoring, a death counted as censored, over the
-- time from metastatic diagnosis. Scopes: the whole cohort (site_id 'all', as in
-- quality_indicators) and each site; a patient without a site is in the whole cohort only
-- (the report's site pages select patients by site_id).

create or replace table staging.follow_up_observations as
with patients as (
    select
        site_id,
        os_days as time_days,
        coalesce(os_event, false) as died
    from build.patients
    where os_days is not null
),

scoped as (
    select
        'all' as site_id,
        time_days,
        died
    from patients
    union all
    select
        site_id,
        time_days,
        died
    from patients
    where site_id is not null
)

select
    site_id,
    time_days,
    count(*) filter (where not died) as n_followed,
    count(*) filter (where died) as n_died
from scoped
group by site_id, time_days
order by site_id <> 'all', site_id, time_days;
