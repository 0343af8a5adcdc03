-- stage: drugs / step: unmapped drugs and mapping summary
-- reads: staging.treatments, staging.administrations, staging.drug_ingredients
-- writes: build.unmapped_drugs, build.drug_mapping_summary
-- A spelling that maps to nothing is never dropped silently: it is listed with the
-- number of treatment rows that carry it (spellings that differ only in case and
-- spacing are counted together and shown by their first spelling in sort order).

create or replace table build.unmapped_drugs as
with unmapped as (
    select treatments.drug, treatments.drug_key
    from staging.treatments as treatments
    anti join staging.administrations as administrations using (record_key)
)

select min(drug) as drug, count(*) as n_records
from unmapped
group by drug_key
order by n_records desc, drug;

create or replace table build.drug_mapping_summary as
with mapped as (
    select ingredient, drug_class, mapped_by, patient_id, lower(source_drug) as spelling
    from staging.administrations
)

select
    ingredients.ingredient,
    ingredients.drug_class,
    ingredients.vocabulary_version,
    count(mapped.ingredient) as n_records,
    count(mapped.ingredient) filter (where mapped.mapped_by = 'code') as n_mapped_by_code,
    count(mapped.ingredient) filter (where mapped.mapped_by = 'name') as n_mapped_by_name,
    count(distinct mapped.patient_id) as n_patients,
    count(distinct mapped.spelling) as n_spellings
from staging.drug_ingredients as ingredients
left join mapped using (ingredient)
group by all
order by ingredients.drug_class, ingredients.ingredient;
