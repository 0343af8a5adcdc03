-- stage: outcomes / step: patient_os
-- reads: build.patients, staging.data_cutoff
-- writes: build.patients (adds os_days, os_event: overall survival from metastatic_date)
-- Same censoring as line outcomes: last date known alive, never after the data cut-off.
-- Re-runnable: earlier os columns are dropped first; every other column is kept.

alter table build.patients drop column if exists os_days;
alter table build.patients drop column if exists os_event;

create or replace table build.patients as
with cutoff as (
    select max(data_cutoff) as data_cutoff
    from staging.data_cutoff
),

survival as (
    select
        patients.patient_id,
        case
            when patients.death_date <= cutoff.data_cutoff then patients.death_date
        end as death_date,
        least(
            coalesce(patients.last_known_alive_date, cutoff.data_cutoff), cutoff.data_cutoff
        ) as censor_date
    from build.patients as patients
    cross join cutoff
)

select
    patients.*,
    greatest(
        datediff('day', patients.metastatic_date, coalesce(survival.death_date, survival.censor_date)),
        0
    )::integer as os_days,
    survival.death_date is not null as os_event
from build.patients as patients
inner join survival
    on patients.patient_id = survival.patient_id
order by patients.patient_id;
