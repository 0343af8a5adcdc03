-- stage: omop adapter / step: biomarkers
-- reads: omop_src.measurement, omop_src.observation, omop_src.concept_codes,
--        omop_src.concept, omop_src.person_ids, map_biomarkers, map_results
-- writes: omop_src.out_biomarkers (canonical biomarkers rows)
-- A row is a HER2, ER or PR test when its concept (or source concept) is the LOINC code
-- of the mapping, or its source value is that code. The result is the value as written
-- (value_as_string, value_source_value), else the value concept's name, else the number
-- as a percentage; known spellings are normalised through map_results.

create or replace table omop_src.out_biomarkers as
with facts as (
    select 'measurement' as source_table, measurement_id as fact_id, person_id,
        measurement_date as test_date, measurement_concept_id as concept_id,
        measurement_source_concept_id as source_concept_id,
        trim(measurement_source_value) as source_value,
        null::varchar as value_string, value_source_value, value_as_concept_id,
        value_as_number, unit_source_value
    from omop_src.measurement
    union all
    select 'observation', observation_id, person_id, observation_date, observation_concept_id,
        observation_source_concept_id, trim(observation_source_value),
        value_as_string, value_source_value, value_as_concept_id, value_as_number,
        unit_source_value
    from omop_src.observation
),

loinc as (
    select fact_id, source_table, cc.concept_code as loinc
    from facts
    join omop_src.concept_codes as cc
        on cc.concept_id in (facts.concept_id, facts.source_concept_id)
        and cc.vocabulary_id = 'LOINC'
    union
    select fact_id, source_table, source_value
    from facts
),

tests as (
    select facts.*, m.marker, m.method
    from facts
    join (
        select source_table, fact_id, arg_min(loinc.loinc, loinc.loinc) as loinc
        from loinc
        join map_biomarkers using (loinc)
        group by all
    ) as matched using (source_table, fact_id)
    join map_biomarkers as m using (loinc)
),

valued as (
    select
        tests.*,
        coalesce(
            nullif(trim(value_string), ''),
            nullif(trim(value_source_value), ''),
            value_concept.concept_name,
            case when value_as_number is not null then
                case when value_as_number = round(value_as_number)
                    then (value_as_number::bigint)::varchar else value_as_number::varchar end
                || case when marker in ('ER', 'PR') then '%' else '' end
            end
        ) as result_text
    from tests
    left join omop_src.concept as value_concept on value_concept.concept_id = tests.value_as_concept_id
)

select
    coalesce(ids.patient_id, valued.person_id::varchar) as patient_id,
    strftime(valued.test_date, '%Y-%m-%d') as test_date,
    valued.marker,
    valued.method,
    coalesce(synonyms.result, valued.result_text) as result,
    getvariable('omop_prefix') || valued.source_table as _src,
    valued.fact_id as _src_row
from valued
left join omop_src.person_ids as ids using (person_id)
left join map_results as synonyms on synonyms.source_key = lower(trim(valued.result_text));
