-- stage: cohort / step: data cut-off
-- reads: staging.patients, staging.treatments, variable data_cutoff
-- writes: staging.data_cutoff (one row): the run's data cut-off, as given (--data-cutoff),
--         or else the latest follow-up date in the registry: the latest last_contact_date,
--         death_date or administration. Documentation dates (metastases, progressions,
--         biomarkers) do not move it: a late-entered or mistyped scan date must not extend
--         every living patient's follow-up. The same input always gives the same cut-off.

create or replace table staging.data_cutoff as
with follow_up_dates as (
    select max(greatest(death_date, last_contact_date)) as latest from staging.patients
    union all
    select max(greatest(start_date, end_date)) from staging.treatments
)

select
    coalesce(getvariable('data_cutoff')::date, max(latest)) as data_cutoff,
    getvariable('data_cutoff') is not null as given
from follow_up_dates;
