-- stage: omop adapter / step: treatments
-- reads: omop_src.drug_exposure, omop_src.population, omop_src.person_ids,
--        omop_src.concept, omop_src.concept_ancestor, omop_src.concept_relationship,
--        map_ingredient_vocabularies, map_code_vocabularies, map_oncology_atc,
--        map_known_drug_terms, map_known_drug_codes (temp, rules/omop_mapping.yaml and
--        rules/vocabulary.yaml)
-- writes: omop_src.drug_keys and omop_src.drug_scope (each distinct drug coding of the
--         population; drug_scope adds in_scope), omop_src.drug_rows (the treatments rows
--         each in-scope coding gives),
--         omop_src.out_treatments (a view of canonical treatments rows, text)
-- A drug row names concepts: drug_concept_id, drug_source_concept_id, and the RxNorm /
-- NDC concept whose code drug_source_value is; 'Maps to' (concept_relationship) and
-- concept_ancestor lead to its RxNorm ingredients. It is in scope when
--   - an ingredient is one the drug vocabulary knows (its name holds a spelling of the
--     vocabulary as whole words, or its RxNorm code is listed), or
--   - one of its ancestors is an oncology ATC class (L01 antineoplastic, L02 endocrine), or
--   - it resolves to no ingredient at all (no vocabulary tables, an unknown concept,
--     free text): it cannot be judged, so it stays and the vocabulary maps it or lists it
--     in audit.unmapped_drugs.
-- Otherwise it is out of scope (drug_not_oncology). An in-scope drug gives one row per
-- ingredient the vocabulary knows (Phesgo: pertuzumab and trastuzumab; Herceptin
-- Hylecta: trastuzumab, not the hyaluronidase), or every ingredient when it is in scope
-- by its ATC class only: drug = the ingredient's name, drug_code its RxNorm code. Without
-- ingredients the row keeps drug_source_value, or the concept's name when the source
-- value is only a code. A one-day exposure (end = start) has no end.

create or replace table omop_src.drug_keys as
select
    row_number() over (order by drug_concept_id, drug_source_concept_id, source_value)
        as key_id,
    *
from (
    select distinct
        coalesce(drug_concept_id, 0) as drug_concept_id,
        coalesce(drug_source_concept_id, 0) as drug_source_concept_id,
        nullif(trim(drug_source_value), '') as source_value
    from omop_src.drug_exposure
    semi join omop_src.population using (person_id)
);

create or replace table omop_src.drug_rows as
with named as (
    -- the concepts a drug coding names, the most specific first
    select key_id, drug_concept_id as concept_id, 1 as priority
    from omop_src.drug_keys where drug_concept_id <> 0
    union all
    select key_id, drug_source_concept_id, 2
    from omop_src.drug_keys where drug_source_concept_id <> 0
    union all
    select keys.key_id, c.concept_id, 3
    from omop_src.drug_keys as keys
    join omop_src.concept as c
        on c.concept_code = keys.source_value
        and c.vocabulary_id in (select vocabulary from map_code_vocabularies)
),

mapped as (
    select key_id, concept_id from named
    union
    select named.key_id, cr.concept_id_2
    from named
    join omop_src.concept_relationship as cr
        on cr.concept_id_1 = named.concept_id and cr.relationship_id = 'Maps to'
),

ingredient_concepts as (
    select c.concept_id, c.concept_name, c.concept_code, c.vocabulary_id
    from omop_src.concept as c
    join map_ingredient_vocabularies as v
        on v.vocabulary = c.vocabulary_id and v.concept_class = c.concept_class_id
),

ingredients as (
    select mapped.key_id, i.*
    from mapped
    join omop_src.concept_ancestor as ca on ca.descendant_concept_id = mapped.concept_id
    join ingredient_concepts as i on i.concept_id = ca.ancestor_concept_id
    union
    select mapped.key_id, i.*
    from mapped
    join ingredient_concepts as i on i.concept_id = mapped.concept_id
),

judged as (
    select
        ingredients.*,
        exists (
            select 1 from map_known_drug_terms as t
            where contains(text_words(ingredients.concept_name), ' ' || t.term || ' ')
        ) or exists (
            select 1 from map_known_drug_codes as k
            where ingredients.vocabulary_id = 'RxNorm' and k.code_system = 'rxnorm'
                and k.code = lower(ingredients.concept_code)
        ) as known
    from ingredients
),

oncology_atc as (
    select distinct mapped.key_id
    from mapped
    join omop_src.concept_ancestor as ca on ca.descendant_concept_id = mapped.concept_id
    join omop_src.concept as a on a.concept_id = ca.ancestor_concept_id and a.vocabulary_id = 'ATC'
    join map_oncology_atc as p on starts_with(a.concept_code, p.prefix)
),

per_key as (
    select keys.key_id,
        bool_or(judged.known) as any_known,
        count(judged.concept_id) > 0 as has_ingredients,
        oncology_atc.key_id is not null as atc_oncology
    from omop_src.drug_keys as keys
    left join judged using (key_id)
    left join oncology_atc using (key_id)
    group by all
),

names as (
    -- the name and code of the most specific concept the coding names
    select named.key_id,
        arg_min(c.concept_name, named.priority) as concept_name,
        arg_min(c.concept_code, named.priority) as concept_code,
        arg_min(c.vocabulary_id, named.priority) as vocabulary_id
    from named
    join omop_src.concept as c using (concept_id)
    group by named.key_id
)

select per_key.key_id, judged.concept_name as drug,
    case when judged.vocabulary_id = 'RxNorm' then judged.concept_code end as drug_code
from per_key
join judged using (key_id)
where per_key.has_ingredients and (judged.known or (not per_key.any_known and per_key.atc_oncology))
union all
select per_key.key_id,
    case
        when keys.source_value is null
            or (names.concept_name is not null and (keys.source_value = names.concept_code
                or regexp_full_match(keys.source_value, '[0-9][0-9-]*')))
            then coalesce(names.concept_name, keys.source_value)
        else keys.source_value
    end,
    case when names.vocabulary_id = 'RxNorm' then names.concept_code end
from per_key
join omop_src.drug_keys as keys using (key_id)
left join names using (key_id)
where not per_key.has_ingredients;

create or replace table omop_src.drug_scope as
select keys.*, exists (select 1 from omop_src.drug_rows as r where r.key_id = keys.key_id)
    as in_scope
from omop_src.drug_keys as keys;

-- a view: raw.land reads it once, so the largest table is not written twice
create or replace view omop_src.out_treatments as
select
    exposures.drug_exposure_id::varchar as record_id,
    coalesce(ids.patient_id, exposures.person_id::varchar) as patient_id,
    rows.drug,
    rows.drug_code,
    case when rows.drug_code is not null then 'rxnorm' end as code_system,
    exposures.drug_exposure_start_date::varchar as start_date,
    case when exposures.drug_exposure_end_date > exposures.drug_exposure_start_date
        then exposures.drug_exposure_end_date::varchar end as end_date,
    null::varchar as setting,
    exposures.route_source_value as route,
    getvariable('omop_prefix') || 'drug_exposure' as _src,
    exposures.drug_exposure_id as _src_row
from omop_src.drug_exposure as exposures
semi join omop_src.population using (person_id)
join omop_src.drug_scope as keys
    on keys.drug_concept_id = coalesce(exposures.drug_concept_id, 0)
    and keys.drug_source_concept_id = coalesce(exposures.drug_source_concept_id, 0)
    and keys.source_value is not distinct from nullif(trim(exposures.drug_source_value), '')
join omop_src.drug_rows as rows using (key_id)
left join omop_src.person_ids as ids using (person_id);
