-- stage: fhir adapter / step: diagnoses and metastases
-- reads: fhir_src.conditions, fhir_src.observations, fhir_src.population
-- writes: fhir_src.metastatic_evidence (every dated fact of metastatic disease),
--         fhir_src.out_diagnoses (one row per patient of the population),
--         fhir_src.out_metastases (one row per documented metastasis site)
-- diagnosis_date: the first breast cancer Condition. stage_at_diagnosis: its
-- Condition.stage summary, else the earliest stage group Observation documented within
-- stage_within_days of it. metastatic_date:
-- the earliest evidence of distant disease — a secondary malignancy Condition, an M1
-- category, a stage group IV, a documented metastasis site; stage IV at diagnosis
-- makes it the diagnosis date (de novo), and evidence dated before the diagnosis counts
-- from the diagnosis.

create or replace table fhir_src.metastatic_evidence as
with usable_conditions as (
    select * from fhir_src.conditions
    semi join fhir_src.population using (patient_id)
    where not refuted
),

usable_observations as (
    select * from fhir_src.observations
    semi join fhir_src.population using (patient_id)
    where kind is not null and not not_a_fact
),

breast as (
    select patient_id, min(onset) as diagnosis_date,
        arg_min(stage, (onset, line_number)) as condition_stage
    from usable_conditions
    where is_breast_cancer
    group by patient_id
),

observed_stage as (
    select o.patient_id, arg_min(o.stage, (o.fact_date, o.line_number)) as stage
    from usable_observations as o
    join breast using (patient_id)
    where o.stage is not null
        and try_cast(o.fact_date as date)
            <= try_cast(breast.diagnosis_date as date) + to_days(getvariable('stage_within_days'))
    group by o.patient_id
)

select patient_id, onset as evidence_date, 'secondary_malignancy' as evidence, record_key
from usable_conditions
where is_metastasis
union all
select patient_id, fact_date, 'm1_category', record_key
from usable_observations where m_category = 'M1'
union all
select patient_id, fact_date, 'stage_iv', record_key
from usable_observations where stage = 'IV'
union all
select patient_id, fact_date, 'metastasis_site', record_key
from usable_observations where site is not null
union all
select breast.patient_id, breast.diagnosis_date, 'stage_iv_at_diagnosis', null
from breast
left join observed_stage using (patient_id)
where coalesce(breast.condition_stage, observed_stage.stage) = 'IV';

create or replace table fhir_src.out_diagnoses as
with breast as (
    select patient_id,
        min(onset) as diagnosis_date,
        arg_min(stage, (onset, line_number)) as condition_stage,
        arg_min(file, (onset, line_number)) as file,
        arg_min(line_number, (onset, line_number)) as line_number,
        arg_min(record_key, (onset, line_number)) as record_key
    from fhir_src.conditions
    semi join fhir_src.population using (patient_id)
    where is_breast_cancer and not refuted
    group by patient_id
),

observed_stage as (
    select o.patient_id, arg_min(o.stage, (o.fact_date, o.line_number)) as stage
    from fhir_src.observations as o
    join breast using (patient_id)
    where o.stage is not null and not o.not_a_fact
        and try_cast(o.fact_date as date)
            <= try_cast(breast.diagnosis_date as date) + to_days(getvariable('stage_within_days'))
    group by o.patient_id
),

metastatic as (
    select patient_id, min(evidence_date) as first_evidence
    from fhir_src.metastatic_evidence
    group by patient_id
)

select
    breast.patient_id,
    breast.diagnosis_date,
    coalesce(breast.condition_stage, observed_stage.stage) as stage_at_diagnosis,
    -- (greatest() skips nulls: no evidence must stay no metastatic date)
    case when metastatic.first_evidence is not null then
        greatest(metastatic.first_evidence, breast.diagnosis_date) end as metastatic_date,
    breast.record_key,
    breast.file as _src,
    breast.line_number as _src_row
from breast
left join observed_stage using (patient_id)
left join metastatic using (patient_id);

create or replace table fhir_src.out_metastases as
select patient_id, onset as diagnosis_date, site, file as _src, line_number as _src_row,
    record_key
from fhir_src.conditions
semi join fhir_src.population using (patient_id)
where is_metastasis and not refuted and site is not null
union all
select patient_id, fact_date, site, file, line_number, record_key
from fhir_src.observations
semi join fhir_src.population using (patient_id)
where site is not null and not not_a_fact;
