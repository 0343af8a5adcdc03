-- stage: fhir adapter / step: source row dispositions
-- reads: fhir_src.patient_rows, fhir_src.conditions, fhir_src.observations,
--        fhir_src.medications, fhir_src.population, fhir_src.out_diagnoses
-- writes: fhir_src.dispositions (source_table, source_name, patient_id, disposition,
--         reason, n_rows): every Patient, Condition, Observation and medication resource
--         that is neither landed as a row of its own nor quarantined.
-- Resources of patients without a breast cancer Condition: no_breast_cancer_diagnosis.
-- The population's: a further breast cancer Condition or a secondary malignancy without
-- a site is combined into the diagnosis, so is a stage group, M category or "no
-- metastasis" site Observation; any other Condition or Observation is not used; a drug
-- the scope rule leaves out is drug_not_oncology.

create or replace table fhir_src.dispositions as
with resources as (
    select 'patients' as source_table, 'Patient' as source_name, patient_id,
        null::varchar as disposition, null::varchar as reason
    from fhir_src.patient_rows
    union all
    select 'diagnoses', 'Condition', patient_id,
        case
            when record_key in (select record_key from fhir_src.out_diagnoses) then null
            when refuted and (is_breast_cancer or is_metastasis) then null  -- quarantined
            when is_metastasis and site is not null then null  -- a metastases row
            when is_breast_cancer or is_metastasis then 'combined'
            else 'out_of_scope'
        end,
        case when is_breast_cancer then 'breast_cancer_condition'
            when is_metastasis then 'metastatic_evidence'
            else 'condition_not_used' end
    from fhir_src.conditions
    union all
    select 'biomarkers', 'Observation', patient_id,
        case
            when kind is null then 'out_of_scope'
            when not_a_fact then null  -- quarantined
            when kind = 'biomarker' or site is not null then null  -- a biomarkers / metastases row
            else 'combined'
        end,
        case when kind is null then 'observation_not_used' else 'staging_evidence' end
    from fhir_src.observations
    union all
    select 'treatments', resource_type, patient_id,
        case when in_scope then null else 'out_of_scope' end,
        'drug_not_oncology'
    from fhir_src.medications
),

accounted as (
    select
        resources.source_table,
        resources.source_name,
        case
            when population.patient_id is null then 'out_of_scope'
            else resources.disposition
        end as disposition,
        case
            when population.patient_id is null then 'no_breast_cancer_diagnosis'
            else resources.reason
        end as reason,
        case when population.patient_id is not null and resources.disposition = 'combined'
            then resources.patient_id end as patient_id
    from resources
    left join fhir_src.population as population using (patient_id)
)

select source_table, source_name, patient_id, disposition, reason, count(*)::bigint as n_rows
from accounted
where disposition is not null
group by all
order by all;
