-- stage: cohort / step: cohort and attrition
-- reads: staging.patient_facts, her2audit/rules/cohort_steps (loaded as staging.cohort_steps)
-- writes: build.patient_exclusions (patient_id, step, reason) for every patient left out,
--         build.cohort_attrition (step_order, step, n_patients, n_excluded, reason),
--         build.patients (the cohort: HER2-positive at metastatic diagnosis)
-- A patient is excluded at the first step they fail; steps are data (cohort_steps).

create or replace table staging.patient_first_failed_step as
with step_checks as (
    select
        patient_id,
        case
            when not has_diagnosis then 'has_diagnosis'
            when metastatic_date is null then 'metastatic'
            when her2_status = 'not_tested' then 'her2_tested'
            when her2_status = 'negative' then 'her2_not_negative'
            when her2_status = 'equivocal' then 'her2_positive'
        end as failed_step
    from staging.patient_facts
)

select step_checks.patient_id, step_checks.failed_step, steps.step_order
from step_checks
left join staging.cohort_steps as steps on steps.step = step_checks.failed_step;

create or replace table build.patient_exclusions as
select failed.patient_id, failed.failed_step as step, steps.reason
from staging.patient_first_failed_step as failed
inner join staging.cohort_steps as steps on steps.step = failed.failed_step
order by failed.patient_id;

create or replace table build.cohort_attrition as
with excluded_per_step as (
    select step, count(*) as n_excluded
    from build.patient_exclusions
    group by step
),

steps as (
    select
        cohort_steps.step_order,
        cohort_steps.step,
        cohort_steps.reason,
        coalesce(excluded_per_step.n_excluded, 0) as n_excluded
    from staging.cohort_steps as cohort_steps
    left join excluded_per_step using (step)
)

select
    step_order,
    step,
    (select count(*) from staging.patient_facts)
        - sum(n_excluded) over (order by step_order) as n_patients,
    n_excluded,
    reason
from steps
order by step_order;

create or replace table build.patients as
select
    facts.patient_id,
    facts.site_id,
    facts.birth_date,
    facts.sex,
    facts.age_at_metastatic,
    facts.diagnosis_date,
    facts.stage_at_diagnosis,
    facts.metastatic_date,
    facts.metastatic_year,
    facts.de_novo,
    facts.her2_status,
    facts.her2_test_date,
    facts.hr_status,
    facts.hr_positive,
    facts.early_relapse,
    facts.last_prior_her2_date,
    facts.death_date,
    facts.last_contact_date,
    facts.last_administration_date,
    facts.last_known_alive_date
from staging.patient_facts as facts
inner join staging.patient_first_failed_step as failed using (patient_id)
where failed.failed_step is null
order by facts.patient_id;
