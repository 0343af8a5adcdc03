-- stage: omop adapter / step: diagnoses and metastases
-- reads: omop_src.condition_classes, omop_src.person_ids, omop_src.measurement,
--        omop_src.observation, omop_src.concept_codes, omop_src.concept, map_stage
-- writes: omop_src.out_diagnoses (one row per person with a breast cancer condition),
--         omop_src.out_metastases (one row per site-specific secondary malignancy)
-- diagnosis_date: first breast cancer condition; metastatic_date: first secondary
-- malignancy of any site; stage: the earliest 'Stage group.clinical' value, reduced to
-- 0, I, II, III or IV.

create or replace table omop_src.out_diagnoses as
with breast as (
    select person_id,
        min(condition_start_date) as diagnosis_date,
        min(condition_occurrence_id) as first_id
    from omop_src.condition_classes
    where is_breast_cancer
    group by person_id
),

metastatic as (
    select person_id, min(condition_start_date) as metastatic_date
    from omop_src.condition_classes
    where is_metastasis
    group by person_id
),

stage_facts as (
    select person_id, measurement_date as fact_date, measurement_id as fact_id,
        measurement_concept_id as concept_id, measurement_source_concept_id as source_concept_id,
        measurement_source_value as source_value,
        coalesce(value_source_value, value_concept.concept_name) as value_text
    from omop_src.measurement
    left join omop_src.concept as value_concept on value_concept.concept_id = value_as_concept_id
    union all
    select person_id, observation_date, observation_id,
        observation_concept_id, observation_source_concept_id, observation_source_value,
        coalesce(value_as_string, value_source_value, value_concept.concept_name)
    from omop_src.observation
    left join omop_src.concept as value_concept on value_concept.concept_id = value_as_concept_id
),

stages as (
    select
        facts.person_id,
        arg_min(
            regexp_extract(regexp_replace(upper(trim(facts.value_text)), '^(AJCC\s*)?STAGE\s*', ''),
                '^(IV|III|II|I|0)'),
            facts.fact_date
        ) as stage
    from stage_facts as facts
    where exists (
        select 1 from map_stage
        where map_stage.loinc = trim(facts.source_value)
            or exists (
                select 1 from omop_src.concept_codes as cc
                where cc.vocabulary_id = 'LOINC' and cc.concept_code = map_stage.loinc
                    and cc.concept_id in (facts.concept_id, facts.source_concept_id)
            )
    )
    group by facts.person_id
)

select
    -- a person_id missing from person is kept as is; staging quarantines it
    coalesce(ids.patient_id, breast.person_id::varchar) as patient_id,
    strftime(breast.diagnosis_date, '%Y-%m-%d') as diagnosis_date,
    nullif(stages.stage, '') as stage_at_diagnosis,
    strftime(metastatic.metastatic_date, '%Y-%m-%d') as metastatic_date,
    getvariable('omop_prefix') || 'condition_occurrence' as _src,
    breast.first_id as _src_row
from breast
left join omop_src.person_ids as ids using (person_id)
left join metastatic using (person_id)
left join stages using (person_id);

create or replace table omop_src.out_metastases as
select
    coalesce(ids.patient_id, classes.person_id::varchar) as patient_id,
    strftime(classes.condition_start_date, '%Y-%m-%d') as diagnosis_date,
    classes.site,
    getvariable('omop_prefix') || 'condition_occurrence' as _src,
    classes.condition_occurrence_id as _src_row
from omop_src.condition_classes as classes
left join omop_src.person_ids as ids using (person_id)
where classes.is_metastasis and classes.site is not null;
