-- stage: omop adapter / step: codes and population
-- reads: omop_src.concept, omop_src.concept_ancestor, omop_src.condition_occurrence,
--        map_conditions (temp, from rules/omop_mapping.yaml)
-- writes: omop_src.concept_codes (a concept and each of its ancestors as vocabulary + code),
--         omop_src.condition_classes (one row per matching condition_occurrence:
--         is_breast_cancer, is_metastasis, site),
--         omop_src.population (person_id of every person with a breast cancer condition)
-- A condition matches a code of the mapping through its standard concept id, its
-- concept's or an ancestor's (vocabulary, code), its source concept, or its source value
-- (ICD-10 by prefix without the dot, ICD-O-3 by pattern). The most specific match gives
-- the site; a metastasis whose code names none takes the site its concept name names.

create or replace table omop_src.concept_codes as
with own as (
    select concept_id, vocabulary_id, concept_code
    from omop_src.concept
),

ancestors as (
    select ca.descendant_concept_id as concept_id, c.vocabulary_id, c.concept_code
    from omop_src.concept_ancestor as ca
    join omop_src.concept as c on c.concept_id = ca.ancestor_concept_id
)

select distinct concept_id, vocabulary_id, concept_code from own
union
select distinct concept_id, vocabulary_id, concept_code from ancestors;

create or replace table omop_src.condition_classes as
with conditions as (
    select condition_occurrence_id, person_id, condition_start_date,
        condition_concept_id, condition_source_concept_id, condition_source_value
    from omop_src.condition_occurrence
),

-- the distinct codings, classified once
keys as (
    select distinct condition_concept_id, condition_source_concept_id,
        trim(condition_source_value) as source_value
    from conditions
),

candidates as (
    -- the standard concept id and its ancestors' ids
    select keys.*, 'OMOP' as vocabulary_id, keys.condition_concept_id as concept_id,
        null::varchar as code
    from keys
    union all
    select keys.*, 'OMOP', ca.ancestor_concept_id, null
    from keys
    join omop_src.concept_ancestor as ca on ca.descendant_concept_id = keys.condition_concept_id
    union all
    -- vocabulary codes of the concept, its ancestors, and the source concept
    select keys.*, cc.vocabulary_id, null, cc.concept_code
    from keys
    join omop_src.concept_codes as cc on cc.concept_id = keys.condition_concept_id
    union all
    select keys.*, cc.vocabulary_id, null, cc.concept_code
    from keys
    join omop_src.concept_codes as cc on cc.concept_id = keys.condition_source_concept_id
    union all
    -- the source value, which may be any of the vocabularies
    select keys.*, vocabularies.vocabulary, null, keys.source_value
    from keys
    cross join (select distinct vocabulary from map_conditions where vocabulary is not null)
        as vocabularies
    where keys.source_value is not null
),

matches as (
    select candidates.condition_concept_id, candidates.condition_source_concept_id,
        candidates.source_value, m.category, m.site, m.rank
    from candidates
    join map_conditions as m
        on (m.omop_concept_id is not null and candidates.vocabulary_id = 'OMOP'
                and m.omop_concept_id = candidates.concept_id)
        or (m.code is not null and m.vocabulary = candidates.vocabulary_id
                and m.code = trim(candidates.code))
        or (m.prefix is not null and m.vocabulary = candidates.vocabulary_id
                and starts_with(upper(replace(trim(candidates.code), '.', '')), m.prefix))
        or (m.pattern is not null and m.vocabulary = candidates.vocabulary_id
                and regexp_matches(upper(replace(trim(candidates.code), '.', '')), m.pattern))
),

classified as (
    select
        condition_concept_id, condition_source_concept_id, source_value,
        bool_or(category = 'breast_cancer') as is_breast_cancer,
        bool_or(category = 'metastasis') as is_metastasis,
        -- the most specific metastasis code decides; it may be one without a site
        nullif(arg_max(coalesce(site, ''), rank) filter (where category = 'metastasis'), '')
            as code_site
    from matches
    group by all
)

select
    conditions.condition_occurrence_id,
    conditions.person_id,
    conditions.condition_start_date,
    classified.is_breast_cancer,
    classified.is_metastasis,
    case when classified.is_metastasis then
        coalesce(classified.code_site, metastasis_site_of(concept.concept_name))
    end as site
from conditions
join classified
    on classified.condition_concept_id is not distinct from conditions.condition_concept_id
    and classified.condition_source_concept_id
        is not distinct from conditions.condition_source_concept_id
    and classified.source_value is not distinct from trim(conditions.condition_source_value)
left join omop_src.concept as concept on concept.concept_id = conditions.condition_concept_id;

create or replace table omop_src.population as
select distinct person_id
from omop_src.condition_classes
where is_breast_cancer;
