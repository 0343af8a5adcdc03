-- stage: validate / step: diagnoses batch
-- reads: staging.diagnoses, staging.patients, staging.dq_quarantined
-- writes: staging.dq_diagnoses (view; one row per diagnoses input row)

create or replace view staging.dq_diagnoses as
with staged as (
    select
        1::tinyint as staged,
        0::tinyint as quarantined,
        year(diagnoses.diagnosis_date)::smallint as diagnosis_year,
        (diagnoses.metastatic_date is not null)::tinyint as metastatic,
        (diagnoses.stage_at_diagnosis <> 'unknown')::tinyint as stage_known,
        (date_diff('year', patients.birth_date, diagnoses.diagnosis_date)
            - (strftime(diagnoses.diagnosis_date, '%m-%d') < strftime(patients.birth_date, '%m-%d'))::int
            )::smallint as age_at_diagnosis
    from staging.diagnoses as diagnoses
    left join staging.patients as patients using (patient_id)
),

quarantined as (
    select
        0::tinyint as staged,
        1::tinyint as quarantined,
        null::smallint as diagnosis_year,
        null::tinyint as metastatic,
        null::tinyint as stage_known,
        null::smallint as age_at_diagnosis
    from dq_quarantined_rows('diagnoses')
)

select * from staged
union all
select * from quarantined;
