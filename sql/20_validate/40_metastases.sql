-- stage: validate / step: metastases batch
-- reads: staging.metastases, staging.diagnoses, staging.dq_quarantined
-- writes: staging.dq_metastases (view; one row per metastases input row)

create or replace view staging.dq_metastases as
with staged as (
    select
        1::tinyint as staged,
        0::tinyint as quarantined,
        date_diff('day', diagnoses.diagnosis_date, metastases.diagnosis_date)
            ::integer as days_from_breast_diagnosis
    from staging.metastases as metastases
    left join staging.diagnoses as diagnoses using (patient_id)
),

quarantined as (
    select
        0::tinyint as staged,
        1::tinyint as quarantined,
        null::integer as days_from_breast_diagnosis
    from dq_quarantined_rows('metastases')
)

select * from staged
union all
select * from quarantined;
