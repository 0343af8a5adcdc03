-- stage: cohort / step: clinical facts per patient (SPEC §2 "Derived clinical facts")
-- reads: staging.patients, staging.diagnoses, staging.biomarkers, staging.administrations,
--        staging.data_cutoff, variable pre_index_days
-- writes: staging.patient_facts (one row per staged patient, cohort or not)
--
-- HER2 status (ASCO/CAP): per specimen date, IHC 3+ or ISH amplified is positive; IHC 0/1+
-- or ISH not amplified is negative; IHC 2+ without an ISH result of the same date (or ISH
-- equivocal) is equivocal. A result written only as an interpretation (HER2 'positive',
-- 'negative', 'equivocal', with or without a method) counts as that status. The status at metastatic diagnosis is the latest specimen on or
-- before metastatic_date + 60 days.
-- HR status: positive when the ER or PR result is positive or at least 1%, from the latest
-- test on or before metastatic_date + 60 days (else the earliest after it).

create or replace table staging.patient_facts as
with her2_specimens as (
    select
        patient_id,
        test_date,
        case
            when bool_or(result in ('3+', 'amplified', 'positive')) then 'positive'
            when bool_or(result in ('0', '1+', 'not amplified', 'negative')) then 'negative'
            else 'equivocal'
        end as her2_status
    from staging.biomarkers
    where marker = 'HER2'
    group by patient_id, test_date
),

her2_at_metastasis as (
    select
        diagnoses.patient_id,
        arg_max(her2_specimens.her2_status, her2_specimens.test_date) as her2_status,
        max(her2_specimens.test_date) as her2_test_date
    from staging.diagnoses as diagnoses
    inner join her2_specimens
        on her2_specimens.patient_id = diagnoses.patient_id
        and her2_specimens.test_date <= diagnoses.metastatic_date + 60
    where diagnoses.metastatic_date is not null
    group by diagnoses.patient_id
),

hormone_tests as (
    select
        biomarkers.patient_id,
        biomarkers.marker,
        biomarkers.result = 'positive' or biomarkers.result_percent >= 1 as is_positive,
        row_number() over (
            partition by biomarkers.patient_id, biomarkers.marker
            order by
                biomarkers.test_date <= diagnoses.metastatic_date + 60 desc,
                case when biomarkers.test_date <= diagnoses.metastatic_date + 60
                    then -epoch(biomarkers.test_date) else epoch(biomarkers.test_date) end
        ) as preference
    from staging.biomarkers as biomarkers
    inner join staging.diagnoses as diagnoses using (patient_id)
    where biomarkers.marker in ('ER', 'PR')
),

hr_status as (
    select
        patient_id,
        case when bool_or(is_positive) then 'positive' else 'negative' end as hr_status
    from hormone_tests
    where preference = 1
    group by patient_id
),

administration_dates as (
    -- one pass over the administrations: each patient's latest, and the latest
    -- HER2-directed one given before metastatic disease (neo/adjuvant)
    select
        administrations.patient_id,
        max(greatest(administrations.start_date, administrations.end_date)) filter (
            where administrations.her2_directed
                and administrations.start_date < diagnoses.metastatic_date
                and (
                    administrations.setting in ('neoadjuvant', 'adjuvant')
                    or administrations.start_date
                        < diagnoses.metastatic_date - getvariable('pre_index_days')::integer
                )
        ) as last_prior_her2_date,
        max(greatest(administrations.start_date, administrations.end_date))
            as last_administration_date
    from staging.administrations as administrations
    left join staging.diagnoses as diagnoses using (patient_id)
    group by administrations.patient_id
)

select
    patients.patient_id,
    patients.site_id,
    patients.birth_date,
    patients.sex,
    date_part('year', age(diagnoses.metastatic_date, patients.birth_date))::integer
        as age_at_metastatic,
    diagnoses.patient_id is not null as has_diagnosis,
    diagnoses.diagnosis_date,
    diagnoses.stage_at_diagnosis,
    diagnoses.metastatic_date,
    year(diagnoses.metastatic_date) as metastatic_year,
    diagnoses.metastatic_date - diagnoses.diagnosis_date <= 90 as de_novo,
    coalesce(her2_at_metastasis.her2_status, 'not_tested') as her2_status,
    her2_at_metastasis.her2_test_date,
    coalesce(hr_status.hr_status, 'unknown') as hr_status,
    coalesce(hr_status.hr_status = 'positive', false) as hr_positive,
    administration_dates.last_prior_her2_date,
    coalesce(
        diagnoses.metastatic_date - diagnoses.diagnosis_date > 90
        and diagnoses.metastatic_date - administration_dates.last_prior_her2_date <= 183,
        false
    ) as early_relapse,
    patients.death_date,
    patients.last_contact_date,
    administration_dates.last_administration_date,
    case when patients.death_date is null then
        greatest(patients.last_contact_date, administration_dates.last_administration_date,
            cutoff.data_cutoff)
    end as last_known_alive_date
from staging.patients as patients
cross join staging.data_cutoff as cutoff
left join staging.diagnoses as diagnoses using (patient_id)
left join her2_at_metastasis using (patient_id)
left join hr_status using (patient_id)
left join administration_dates using (patient_id);
