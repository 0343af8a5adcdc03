-- stage: cohort / step: data cut-off
-- reads: staging.patients, staging.diagnoses, staging.biomarkers, staging.metastases,
--        staging.treatments, staging.progressions, variable data_cutoff
-- writes: staging.data_cutoff (one row): the run's data cut-off, as given, or else the
--         latest date anywhere in the registry (so the same input gives the same cut-off)

create or replace table staging.data_cutoff as
with latest_dates as (
    select max(greatest(death_date, last_contact_date)) as latest from staging.patients
    union all
    select max(greatest(diagnosis_date, metastatic_date)) from staging.diagnoses
    union all
    select max(test_date) from staging.biomarkers
    union all
    select max(diagnosis_date) from staging.metastases
    union all
    select max(greatest(start_date, end_date)) from staging.treatments
    union all
    select max(progression_date) from staging.progressions
)

select
    coalesce(getvariable('data_cutoff')::date, max(latest)) as data_cutoff,
    getvariable('data_cutoff') is not null as given
from latest_dates;
