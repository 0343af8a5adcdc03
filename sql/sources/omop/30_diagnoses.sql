-- stage: omop adapter / step: diagnoses and metastases
-- reads: omop_src.condition_classes, omop_src.population, omop_src.person_ids,
--        omop_src.facts, omop_src.episode, omop_src.concept,
--        variable metastatic_episode_pattern
-- writes: omop_src.metastatic_evidence (person_id, evidence_date, evidence, source_id: every
--         dated fact of metastatic disease), omop_src.out_diagnoses (one row per person of
--         the population), omop_src.out_metastases (one row per documented metastasis site)
-- diagnosis_date: the first breast cancer condition. stage_at_diagnosis: the earliest
-- stage group (a staging measurement/observation or a Cancer Modifier staging concept)
-- documented within stage_within_days of it.
-- metastatic_date: the earliest evidence of distant disease — a secondary malignancy, an
-- M1 category, a stage group IV, a documented metastasis site, a Cancer Modifier
-- metastasis, a metastatic-disease episode; stage IV at diagnosis makes it the diagnosis
-- date (de novo), and evidence dated before the diagnosis counts from the diagnosis.

create or replace table omop_src.metastatic_evidence as
with breast as (
    select person_id, min(condition_start_date) as diagnosis_date
    from omop_src.condition_classes
    where is_breast_cancer
    group by person_id
),

first_stage as (
    -- the stage at diagnosis: the first stage group documented near the diagnosis
    select facts.person_id, arg_min(facts.stage, (facts.fact_date, facts.fact_id)) as stage
    from omop_src.facts
    join breast using (person_id)
    where facts.stage is not null
        and facts.fact_date <= breast.diagnosis_date + to_days(getvariable('stage_within_days'))
    group by facts.person_id
),

episodes as (
    select e.person_id, e.episode_start_date as evidence_date, e.episode_id
    from omop_src.episode as e
    semi join omop_src.population using (person_id)
    left join omop_src.concept as ec on ec.concept_id = e.episode_concept_id
    left join omop_src.concept as oc on oc.concept_id = e.episode_object_concept_id
    where regexp_matches(lower(coalesce(ec.concept_name, '') || ' ' || coalesce(oc.concept_name, '')),
        getvariable('metastatic_episode_pattern'))
)

select person_id, condition_start_date as evidence_date, 'secondary_malignancy' as evidence,
    condition_occurrence_id as source_id
from omop_src.condition_classes
where is_metastasis
union all
select person_id, fact_date, 'm1_category', fact_id from omop_src.facts where m_category = 'M1'
union all
select person_id, fact_date, 'stage_iv', fact_id from omop_src.facts where stage = 'IV'
union all
select person_id, fact_date, 'metastasis_site', fact_id from omop_src.facts where site is not null
union all
select person_id, evidence_date, 'metastatic_episode', episode_id from episodes
union all
select breast.person_id, breast.diagnosis_date, 'stage_iv_at_diagnosis', null
from breast
join first_stage using (person_id)
where first_stage.stage = 'IV';

create or replace table omop_src.out_diagnoses as
with breast as (
    select person_id,
        min(condition_start_date) as diagnosis_date,
        arg_min(condition_occurrence_id, (condition_start_date, condition_occurrence_id))
            as first_id
    from omop_src.condition_classes
    where is_breast_cancer
    group by person_id
),

stages as (
    select facts.person_id, arg_min(facts.stage, (facts.fact_date, facts.fact_id)) as stage
    from omop_src.facts
    join breast using (person_id)
    where facts.stage is not null
        and facts.fact_date <= breast.diagnosis_date + to_days(getvariable('stage_within_days'))
    group by facts.person_id
),

metastatic as (
    select person_id, min(evidence_date) as first_evidence
    from omop_src.metastatic_evidence
    group by person_id
)

select
    -- a person_id missing from person is kept as is; staging quarantines it
    coalesce(ids.patient_id, breast.person_id::varchar) as patient_id,
    strftime(breast.diagnosis_date, '%Y-%m-%d') as diagnosis_date,
    stages.stage as stage_at_diagnosis,
    -- (greatest() skips nulls: no evidence must stay no metastatic date)
    case when metastatic.first_evidence is not null then
        strftime(greatest(metastatic.first_evidence, breast.diagnosis_date), '%Y-%m-%d')
    end as metastatic_date,
    getvariable('omop_prefix') || 'condition_occurrence' as _src,
    breast.first_id as _src_row
from breast
left join omop_src.person_ids as ids using (person_id)
left join stages using (person_id)
left join metastatic using (person_id);

create or replace table omop_src.out_metastases as
select
    coalesce(ids.patient_id, classes.person_id::varchar) as patient_id,
    strftime(classes.condition_start_date, '%Y-%m-%d') as diagnosis_date,
    classes.site,
    getvariable('omop_prefix') || 'condition_occurrence' as _src,
    classes.condition_occurrence_id as _src_row
from omop_src.condition_classes as classes
semi join omop_src.population using (person_id)
left join omop_src.person_ids as ids using (person_id)
where classes.is_metastasis and classes.site is not null
union all
select
    coalesce(ids.patient_id, facts.person_id::varchar),
    strftime(facts.fact_date, '%Y-%m-%d'),
    facts.site,
    getvariable('omop_prefix') || facts.source_table,
    facts.fact_id
from omop_src.facts as facts
left join omop_src.person_ids as ids using (person_id)
where facts.site is not null;
