-- stage: validate / step: progressions batch
-- reads: staging.progressions, staging.diagnoses, staging.dq_quarantined
-- writes: staging.dq_progressions (view; one row per progressions input row)

create or replace view staging.dq_progressions as
with staged as (
    select
        1::tinyint as staged,
        0::tinyint as quarantined,
        date_diff('day', diagnoses.metastatic_date, progressions.progression_date)
            ::integer as days_from_metastatic_diagnosis
    from staging.progressions as progressions
    left join staging.diagnoses as diagnoses using (patient_id)
),

quarantined as (
    select
        0::tinyint as staged,
        1::tinyint as quarantined,
        null::integer as days_from_metastatic_diagnosis
    from dq_quarantined_rows('progressions')
)

select * from staged
union all
select * from quarantined;
