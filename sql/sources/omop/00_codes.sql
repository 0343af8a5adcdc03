-- stage: omop adapter / step: codes
-- reads: omop_src.concept, omop_src.concept_ancestor, omop_src.condition_occurrence,
--        map_conditions (temp, from rules/omop_mapping.yaml)
-- writes: omop_src.concept_codes (a concept and each of its ancestors as vocabulary + code),
--         omop_src.condition_classes (one row per matching condition_occurrence:
--         is_breast_cancer, is_metastasis, site)
-- A condition matches a code of the mapping through its standard concept id, its
-- concept's or an ancestor's (vocabulary, code), its source concept, or its source value
-- (ICD-10 by prefix without the dot). The most specific match gives the site.

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

candidates as (
    -- the standard concept id and its ancestors' ids
    select condition_occurrence_id, 'OMOP' as vocabulary_id, condition_concept_id as concept_id,
        null::varchar as code
    from conditions
    union all
    select conditions.condition_occurrence_id, 'OMOP', ca.ancestor_concept_id, null
    from conditions
    join omop_src.concept_ancestor as ca on ca.descendant_concept_id = conditions.condition_concept_id
    union all
    -- vocabulary codes of the concept, its ancestors, and the source concept
    select conditions.condition_occurrence_id, cc.vocabulary_id, null, cc.concept_code
    from conditions
    join omop_src.concept_codes as cc on cc.concept_id = conditions.condition_concept_id
    union all
    select conditions.condition_occurrence_id, cc.vocabulary_id, null, cc.concept_code
    from conditions
    join omop_src.concept_codes as cc on cc.concept_id = conditions.condition_source_concept_id
    union all
    -- the source value, which may be any of the vocabularies
    select condition_occurrence_id, vocabularies.vocabulary, null, trim(condition_source_value)
    from conditions
    cross join (select distinct vocabulary from map_conditions where vocabulary is not null)
        as vocabularies
    where condition_source_value is not null
),

matches as (
    select candidates.condition_occurrence_id, m.category, m.site, m.rank
    from candidates
    join map_conditions as m
        on (m.omop_concept_id is not null and candidates.vocabulary_id = 'OMOP'
                and m.omop_concept_id = candidates.concept_id)
        or (m.code is not null and m.vocabulary = candidates.vocabulary_id
                and m.code = candidates.code)
        or (m.prefix is not null and m.vocabulary = candidates.vocabulary_id
                and starts_with(upper(replace(candidates.code, '.', '')), m.prefix))
)

select
    conditions.condition_occurrence_id,
    conditions.person_id,
    conditions.condition_start_date,
    bool_or(matches.category = 'breast_cancer') as is_breast_cancer,
    bool_or(matches.category = 'metastasis') as is_metastasis,
    -- the most specific metastasis code decides; it may be one without a site
    nullif(arg_max(coalesce(matches.site, ''), matches.rank)
        filter (where matches.category = 'metastasis'), '') as site
from conditions
join matches using (condition_occurrence_id)
group by all;
