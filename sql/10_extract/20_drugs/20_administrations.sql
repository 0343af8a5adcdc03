-- stage: drugs / step: administrations
-- reads: staging.treatments, staging.drug_name_map, staging.drug_code_map,
--   staging.drug_noise_words, staging.drug_ingredients
-- writes: staging.drug_mapping (one row per distinct source spelling/code and ingredient),
--   staging.administrations (one row per treatment row x ingredient)
-- A row is mapped by (code_system, drug_code) when both are given and the code is in the
-- vocabulary; otherwise by its name: first the normalised name, then the name with dose
-- figures and noise words (forms, routes, salts) removed.

create or replace table staging.drug_mapping as
with source_drugs as (
    select
        drug_key,
        lower(trim(code_system)) as code_system,
        lower(trim(drug_code)) as code_key,
        drug_name_key(drug_key) as name_key,
        count(*) as n_records
    from staging.treatments
    group by all
),

name_words as (
    select distinct name_key, unnest(string_split(name_key, ' ')) as word,
        generate_subscripts(string_split(name_key, ' '), 1) as word_position
    from source_drugs
    where name_key is not null
),

stripped as (
    select name_key, string_agg(word, ' ' order by word_position) as stripped_key
    from name_words
    where word not in (select word from staging.drug_noise_words)
        and not regexp_matches(word, '^[0-9]+([a-z]{1,2}[0-9]?)?$')
    group by name_key
),

by_code as (
    select source_drugs.drug_key, source_drugs.code_system, source_drugs.code_key,
        code_map.ingredient, 1 as position, 'code' as mapped_by
    from source_drugs
    join staging.drug_code_map as code_map
        on code_map.code_system = source_drugs.code_system
        and code_map.code_key = source_drugs.code_key
),

not_by_code as (
    select source_drugs.*
    from source_drugs
    anti join by_code
        on by_code.drug_key is not distinct from source_drugs.drug_key
        and by_code.code_system is not distinct from source_drugs.code_system
        and by_code.code_key is not distinct from source_drugs.code_key
),

by_exact_name as (
    select not_by_code.drug_key, not_by_code.code_system, not_by_code.code_key,
        name_map.ingredient, name_map.position, 'name' as mapped_by
    from not_by_code
    join staging.drug_name_map as name_map using (name_key)
),

by_stripped_name as (
    select not_by_code.drug_key, not_by_code.code_system, not_by_code.code_key,
        name_map.ingredient, name_map.position, 'name' as mapped_by
    from not_by_code
    join stripped using (name_key)
    join staging.drug_name_map as name_map on name_map.name_key = stripped.stripped_key
    anti join staging.drug_name_map as exact on exact.name_key = not_by_code.name_key
)

select * from by_code
union all
select * from by_exact_name
union all
select * from by_stripped_name;

create or replace table staging.administrations as
select
    treatments.record_key,
    treatments.patient_id,
    treatments.drug as source_drug,
    mapping.ingredient,
    ingredients.drug_class,
    ingredients.line_forming,
    ingredients.her2_directed,
    treatments.start_date,
    treatments.end_date,
    treatments.setting,
    treatments.route,
    mapping.mapped_by
from staging.treatments as treatments
join staging.drug_mapping as mapping
    on mapping.drug_key is not distinct from treatments.drug_key
    and mapping.code_system is not distinct from lower(trim(treatments.code_system))
    and mapping.code_key is not distinct from lower(trim(treatments.drug_code))
join staging.drug_ingredients as ingredients using (ingredient);
-- No ORDER BY: every reader aggregates or sorts for itself (line inference sorts by
-- patient and day), and sorting 10 million rows here cost a quarter of the step.
