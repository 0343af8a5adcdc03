-- stage: omop adapter / step: source row dispositions
-- reads: omop_src.person, omop_src.condition_occurrence, omop_src.measurement,
--        omop_src.observation, omop_src.drug_exposure, omop_src.episode,
--        omop_src.population, omop_src.person_ids, omop_src.condition_classes,
--        omop_src.out_diagnoses, omop_src.facts, omop_src.drug_scope,
--        omop_src.metastatic_evidence, omop_src.server_counts
-- writes: omop_src.dispositions (source_table, source_name, patient_id, disposition,
--         reason, n_rows): every row of the clinical tables that is not landed as a row
--         of its own — out of scope, or combined into the patient's diagnoses row.
-- Rows of persons without a breast cancer condition: no_breast_cancer_diagnosis (on
-- PostgreSQL counted on the server, `server_counts`, and never transferred). Rows of
-- the population: a further breast cancer condition or a secondary malignancy without a
-- site is combined into the diagnosis; a staging observation (stage group, M category,
-- a metastasis-site 'none') too; any other condition, measurement, observation or
-- episode is not used; a drug the scope rule leaves out is drug_not_oncology.

create or replace table omop_src.dispositions as
with tables(source_name, source_table) as (
    values ('person', 'patients'), ('condition_occurrence', 'diagnoses'),
        ('measurement', 'biomarkers'), ('observation', 'biomarkers'),
        ('drug_exposure', 'treatments'), ('episode', 'diagnoses')
),

local_rows as (
    select 'person' as source_name, person_id from omop_src.person
    union all select 'condition_occurrence', person_id from omop_src.condition_occurrence
    union all select 'measurement', person_id from omop_src.measurement
    union all select 'observation', person_id from omop_src.observation
    union all select 'drug_exposure', person_id from omop_src.drug_exposure
    union all select 'episode', person_id from omop_src.episode
),

local_counts as (
    select source_name, count(*) as n_rows,
        count(*) filter (where person_id not in (select person_id from omop_src.population))
            as n_outside
    from local_rows
    group by source_name
),

outside as (
    -- rows of persons outside the population: here, or left on the server
    select source_name, null::varchar as patient_id, 'out_of_scope' as disposition,
        'no_breast_cancer_diagnosis' as reason, n_outside as n_rows
    from local_counts
    union all
    select source_name, null, 'out_of_scope', 'no_breast_cancer_diagnosis', n_all - n_selected
    from omop_src.server_counts
),

not_transferred as (
    -- rows of the population the server kept back (measurements and observations that
    -- are none of the codes the audit reads)
    select server.source_name, null::varchar as patient_id, 'out_of_scope' as disposition,
        server.source_name || '_not_used' as reason,
        server.n_selected - coalesce(local_counts.n_rows, 0) as n_rows
    from omop_src.server_counts as server
    left join local_counts using (source_name)
),

conditions as (
    select 'condition_occurrence' as source_name,
        coalesce(ids.patient_id, co.person_id::varchar) as patient_id,
        case when classes.is_breast_cancer or classes.is_metastasis then 'combined'
            else 'out_of_scope' end as disposition,
        case when classes.is_breast_cancer then 'breast_cancer_condition'
            when classes.is_metastasis then 'metastatic_evidence'
            else 'condition_not_used' end as reason
    from omop_src.condition_occurrence as co
    semi join omop_src.population using (person_id)
    left join omop_src.condition_classes as classes using (condition_occurrence_id)
    left join omop_src.person_ids as ids using (person_id)
    where co.condition_occurrence_id not in (select _src_row from omop_src.out_diagnoses)
        and not coalesce(classes.is_metastasis and classes.site is not null, false)
),

facts as (
    select source_table as source_name,
        coalesce(ids.patient_id, facts.person_id::varchar) as patient_id,
        case when kind is null then 'out_of_scope' else 'combined' end as disposition,
        case when kind is null then source_table || '_not_used' else 'staging_evidence' end
            as reason
    from omop_src.facts as facts
    left join omop_src.person_ids as ids using (person_id)
    where kind is distinct from 'biomarker' and site is null
),

drugs as (
    select 'drug_exposure' as source_name, null::varchar as patient_id,
        'out_of_scope' as disposition, 'drug_not_oncology' as reason
    from omop_src.drug_exposure as exposures
    semi join omop_src.population using (person_id)
    join omop_src.drug_scope as keys
        on keys.drug_concept_id = coalesce(exposures.drug_concept_id, 0)
        and keys.drug_source_concept_id = coalesce(exposures.drug_source_concept_id, 0)
        and keys.source_value is not distinct from nullif(trim(exposures.drug_source_value), '')
    where not keys.in_scope
),

episodes as (
    select 'episode' as source_name,
        coalesce(ids.patient_id, e.person_id::varchar) as patient_id,
        case when evidence.source_id is not null then 'combined' else 'out_of_scope' end
            as disposition,
        case when evidence.source_id is not null then 'metastatic_evidence'
            else 'episode_not_used' end as reason
    from omop_src.episode as e
    semi join omop_src.population using (person_id)
    left join omop_src.person_ids as ids using (person_id)
    left join (
        select distinct source_id from omop_src.metastatic_evidence
        where evidence = 'metastatic_episode'
    ) as evidence on evidence.source_id = e.episode_id
),

population_rows as (
    select source_name, case when disposition = 'combined' then patient_id end as patient_id,
        disposition, reason, count(*) as n_rows
    from (
        select * from conditions
        union all select * from facts
        union all select * from drugs
        union all select * from episodes
    )
    group by all
),

all_rows as (
    select * from outside
    union all select * from not_transferred
    union all select * from population_rows
)

select tables.source_table, getvariable('omop_prefix') || all_rows.source_name as source_name,
    all_rows.patient_id, all_rows.disposition, all_rows.reason, sum(all_rows.n_rows)::bigint
        as n_rows
from all_rows
join tables using (source_name)
where all_rows.n_rows > 0
group by all
order by all;
