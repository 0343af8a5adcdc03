-- stage: staging / step: metastatic date from every piece of evidence
-- reads: staging.diagnoses_checked, staging.metastases
-- writes: staging.diagnoses (one row per patient: the good diagnoses rows, with
--         metastatic_date the earliest evidence of metastatic disease and
--         metastatic_date_source saying which evidence set it)
-- Evidence: the registry's own metastatic_date, stage IV at diagnosis (de novo: the
-- diagnosis date) and a documented distant metastasis site (its date, and never before
-- the breast cancer diagnosis: metastases found first are de novo disease). The earliest
-- wins; on a tie the registry's own date is named.

create or replace table staging.diagnoses as
with diagnoses as (
    select patient_id, diagnosis_date, stage_at_diagnosis, metastatic_date
    from staging.diagnoses_checked
    where rule is null
),

first_site as (
    select patient_id, min(diagnosis_date) as first_site_date
    from staging.metastases
    group by patient_id
),

evidence as (
    select
        diagnoses.patient_id,
        diagnoses.diagnosis_date,
        diagnoses.stage_at_diagnosis,
        diagnoses.metastatic_date as registry_date,
        case when diagnoses.stage_at_diagnosis = 'IV' then diagnoses.diagnosis_date end
            as stage_iv_date,
        -- greatest and least skip nulls: a patient without a metastases row has no site date
        case when first_site.first_site_date is not null
            then greatest(first_site.first_site_date, diagnoses.diagnosis_date) end as site_date
    from diagnoses
    left join first_site using (patient_id)
)

select
    patient_id,
    diagnosis_date,
    stage_at_diagnosis,
    least(registry_date, stage_iv_date, site_date) as metastatic_date,
    case least(registry_date, stage_iv_date, site_date)
        when registry_date then 'registry_metastatic_date'
        when stage_iv_date then 'stage_iv_at_diagnosis'
        when site_date then 'metastasis_site'
    end as metastatic_date_source
from evidence;
