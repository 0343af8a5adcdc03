-- stage: validate / step: patients batch
-- reads: staging.patients, staging.diagnoses, staging.biomarkers, staging.treatments,
--        staging.dq_quarantined
-- writes: staging.dq_patients (view; one row per patients input row)

create or replace view staging.dq_patients as
with diagnosed as (
    select distinct patient_id from staging.diagnoses
),

her2_tested as (
    select distinct patient_id from staging.biomarkers where marker = 'HER2'
),

treated as (
    select distinct patient_id from staging.treatments
),

staged as (
    select
        1::tinyint as staged,
        0::tinyint as quarantined,
        year(patients.birth_date)::smallint as birth_year,
        (patients.site_id <> 'unknown')::tinyint as site_known,
        (diagnosed.patient_id is not null)::tinyint as has_diagnosis,
        (her2_tested.patient_id is not null)::tinyint as has_her2_test,
        (treated.patient_id is not null)::tinyint as has_treatment,
        (patients.death_date is not null or patients.last_contact_date is not null)::tinyint
            as has_follow_up_date
    from staging.patients as patients
    left join diagnosed using (patient_id)
    left join her2_tested using (patient_id)
    left join treated using (patient_id)
),

quarantined as (
    select
        0::tinyint as staged,
        1::tinyint as quarantined,
        null::smallint as birth_year,
        null::tinyint as site_known,
        null::tinyint as has_diagnosis,
        null::tinyint as has_her2_test,
        null::tinyint as has_treatment,
        null::tinyint as has_follow_up_date
    from dq_quarantined_rows('patients')
)

select * from staged
union all
select * from quarantined;
