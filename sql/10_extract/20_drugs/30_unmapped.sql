-- stage: drugs / step: unmapped drugs and mapping summary
-- reads: staging.drug_sources, staging.drug_mapping, staging.administrations,
--   staging.drug_ingredients
-- writes: build.unmapped_drugs, build.drug_mapping_summary
-- A spelling that maps to nothing is never dropped silently: it is listed with the
-- number of treatment rows that carry it (spellings that differ only in case and
-- spacing are counted together and shown by their first spelling in sort order; a row
-- with only a code is shown as "<code_system> <code>"). Both tables are computed from the
-- distinct source values and their row counts, except the patient count, which needs the
-- administrations themselves.

create or replace table build.unmapped_drugs as
with unmapped as (
    select
        sources.drug,
        coalesce(sources.drug_key, 'code ' || coalesce(sources.code_system, '') || ' '
            || lower(trim(sources.drug_code))) as spelling_key,
        coalesce(sources.code_system, 'code') || ' ' || trim(sources.drug_code) as code_label,
        sources.n_records
    from staging.drug_sources as sources
    anti join staging.drug_mapping as mapping
        on mapping.drug is not distinct from sources.drug
        and mapping.code_system is not distinct from sources.code_system
        and mapping.drug_code is not distinct from sources.drug_code
)

select coalesce(min(drug), min(code_label)) as drug, sum(n_records)::bigint as n_records
from unmapped
group by spelling_key
order by n_records desc, drug;

create or replace table build.drug_mapping_summary as
with mapped as (
    select
        mapping.ingredient,
        mapping.mapped_by,
        lower(mapping.source_drug) as spelling,
        sources.n_records
    from staging.drug_mapping as mapping
    join staging.drug_sources as sources
        on sources.drug is not distinct from mapping.drug
        and sources.code_system is not distinct from mapping.code_system
        and sources.drug_code is not distinct from mapping.drug_code
),

per_ingredient as (
    select
        ingredient,
        sum(n_records) as n_records,
        coalesce(sum(n_records) filter (where mapped_by = 'code'), 0) as n_mapped_by_code,
        coalesce(sum(n_records) filter (where mapped_by = 'name'), 0) as n_mapped_by_name,
        count(distinct spelling) as n_spellings
    from mapped
    group by ingredient
),

patients as (
    select ingredient, count(distinct patient_id) as n_patients
    from staging.administrations
    group by ingredient
)

select
    ingredients.ingredient,
    ingredients.drug_class,
    ingredients.vocabulary_version,
    coalesce(per_ingredient.n_records, 0)::bigint as n_records,
    coalesce(per_ingredient.n_mapped_by_code, 0)::bigint as n_mapped_by_code,
    coalesce(per_ingredient.n_mapped_by_name, 0)::bigint as n_mapped_by_name,
    coalesce(patients.n_patients, 0)::bigint as n_patients,
    coalesce(per_ingredient.n_spellings, 0)::bigint as n_spellings
from staging.drug_ingredients as ingredients
left join per_ingredient using (ingredient)
left join patients using (ingredient)
order by ingredients.drug_class, ingredients.ingredient;
