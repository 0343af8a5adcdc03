-- stage: omop adapter / step: measurement and observation facts
-- reads: omop_src.measurement, omop_src.observation, omop_src.population, omop_src.concept,
--        map_biomarkers, map_staging, map_m_codes, variables cancer_modifier_*, macros of
--        sql/sources/common
-- writes: omop_src.facts (one row per measurement / observation row of the population:
--         what it is and what it says)
-- `kind`: biomarker (a HER2/ER/PR test, by LOINC code), stage_group, m_category,
-- metastasis_site (by LOINC code), cancer_modifier_metastasis / cancer_modifier_staging
-- (OMOP oncology extension concepts), or null (not used). The LOINC code comes from the
-- concept, the source concept or the source value.

create or replace table omop_src.facts as
with rows as (
    select 'measurement' as source_table, measurement_id as fact_id, person_id,
        measurement_date as fact_date, measurement_concept_id as concept_id,
        measurement_source_concept_id as source_concept_id,
        trim(measurement_source_value) as source_value,
        null::varchar as value_string, value_source_value, value_as_concept_id,
        value_as_number, unit_source_value
    from omop_src.measurement
    semi join omop_src.population using (person_id)
    union all
    select 'observation', observation_id, person_id, observation_date, observation_concept_id,
        observation_source_concept_id, trim(observation_source_value),
        value_as_string, value_source_value, value_as_concept_id, value_as_number,
        unit_source_value
    from omop_src.observation
    semi join omop_src.population using (person_id)
),

loinc as (
    -- every LOINC code a row carries, the first one the mapping knows wins
    select source_table, fact_id, min(code) as loinc
    from (
        select rows.source_table, rows.fact_id, c.concept_code as code
        from rows
        join omop_src.concept as c
            on c.concept_id in (rows.concept_id, rows.source_concept_id)
            and c.vocabulary_id = 'LOINC'
        union all
        select source_table, fact_id, source_value from rows
    ) as codes
    where code in (select loinc from map_biomarkers union all select loinc from map_staging)
    group by all
),

modifier as (
    -- an OMOP oncology extension Cancer Modifier concept
    select rows.source_table, rows.fact_id, c.concept_class_id, c.concept_name
    from rows
    join omop_src.concept as c
        on c.concept_id = rows.concept_id
        and c.vocabulary_id = getvariable('cancer_modifier_vocabulary')
        and c.concept_class_id in (getvariable('cancer_modifier_metastasis_class'),
            getvariable('cancer_modifier_staging_class'))
),

described as (
    select
        rows.*,
        loinc.loinc,
        biomarker.marker,
        biomarker.method,
        staging.kind as staging_kind,
        modifier.concept_class_id as modifier_class,
        modifier.concept_name as modifier_name,
        value_concept.concept_name as value_name,
        value_concept.concept_code as value_code,
        value_concept.vocabulary_id as value_vocabulary,
        -- the value as written: text, else the value concept's name, else the number
        coalesce(
            nullif(trim(rows.value_string), ''),
            nullif(trim(rows.value_source_value), ''),
            value_concept.concept_name,
            case when rows.value_as_number is not null then
                case when rows.value_as_number = round(rows.value_as_number)
                    then (rows.value_as_number::bigint)::varchar
                    else rows.value_as_number::varchar end
                || case when biomarker.marker in ('ER', 'PR') then '%' else '' end
            end
        ) as value_text
    from rows
    left join loinc using (source_table, fact_id)
    left join map_biomarkers as biomarker using (loinc)
    left join map_staging as staging using (loinc)
    left join modifier using (source_table, fact_id)
    left join omop_src.concept as value_concept
        on value_concept.concept_id = rows.value_as_concept_id and rows.value_as_concept_id <> 0
)

select
    described.*,
    case
        when marker is not null then 'biomarker'
        when staging_kind is not null then staging_kind
        when modifier_class = getvariable('cancer_modifier_metastasis_class')
            then 'cancer_modifier_metastasis'
        when modifier_class is not null then 'cancer_modifier_staging'
    end as kind,
    case
        when staging_kind = 'stage_group' then
            coalesce(stage_group_of(value_text), stage_group_of(value_code))
        when modifier_class = getvariable('cancer_modifier_staging_class') then
            stage_group_of(modifier_name)
    end as stage,
    case
        when staging_kind = 'm_category' then coalesce(
            (select m.m_category from map_m_codes as m
                where m.vocabulary = described.value_vocabulary and m.code = described.value_code),
            m_category_of(value_text), m_category_of(value_code))
        when modifier_class = getvariable('cancer_modifier_staging_class') then
            m_category_of(modifier_name)
    end as m_category,
    case
        when staging_kind = 'metastasis_site' then
            case when coalesce(value_text, value_code) is not null and not names_no_metastasis(
                    coalesce(value_text, '') || ' ' || coalesce(value_code, ''))
                then coalesce(metastasis_site_of(value_text), 'other') end
        when modifier_class = getvariable('cancer_modifier_metastasis_class') then
            coalesce(metastasis_site_of(modifier_name), 'other')
    end as site
from described;
