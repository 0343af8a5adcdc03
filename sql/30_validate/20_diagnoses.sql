-- stage: validate / step: diagnoses batch
-- reads: staging.diagnoses, staging.patients, staging.dq_quarantined
-- writes: staging.dq_diagnoses (view; one row per diagnoses input row)

create or replace view staging.dq_diagnoses as
with staged as (
    select
        1 as staged,
        0::double as quarantined,
        diagnoses.diagnosis_date,
        (diagnoses.metastatic_date is not null)::int as metastatic,
        (diagnoses.stage_at_diagnosis <> 'unknown')::int::double as stage_known,
        date_diff('year', patients.birth_date, diagnoses.diagnosis_date)
            - (strftime(diagnoses.diagnosis_date, '%m-%d') < strftime(patients.birth_date, '%m-%d'))::int
            as age_at_diagnosis
    from staging.diagnoses as diagnoses
    left join staging.patients as patients using (patient_id)
),

quarantined as (
    select
        0 as staged,
        1::double as quarantined,
        null::date as diagnosis_date,
        null::int as metastatic,
        null::double as stage_known,
        null::bigint as age_at_diagnosis
    from dq_quarantined_rows('diagnoses')
)

select * from staged
union all
select * from quarantined;
