-- stage: validate / step: progressions batch
-- reads: staging.progressions, staging.diagnoses, staging.dq_quarantined
-- writes: staging.dq_progressions (view; one row per progressions input row)

create or replace view staging.dq_progressions as
with staged as (
    select
        1 as staged,
        0::double as quarantined,
        progressions.progression_date,
        date_diff('day', diagnoses.metastatic_date, progressions.progression_date)
            as days_from_metastatic_diagnosis
    from staging.progressions as progressions
    left join staging.diagnoses as diagnoses using (patient_id)
),

quarantined as (
    select
        0 as staged,
        1::double as quarantined,
        null::date as progression_date,
        null::bigint as days_from_metastatic_diagnosis
    from dq_quarantined_rows('progressions')
)

select * from staged
union all
select * from quarantined;
