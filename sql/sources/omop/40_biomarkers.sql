-- stage: omop adapter / step: biomarkers
-- reads: omop_src.facts, omop_src.person_ids
-- writes: omop_src.out_biomarkers (canonical biomarkers rows)
-- A measurement or observation is a HER2, ER or PR test when its concept (or source
-- concept) is a LOINC code of the mapping, or its source value is that code. The result
-- is the value as written (value_as_string, value_source_value), else the value
-- concept's name, else the number (a percentage for ER/PR); staging reads the spellings
-- systems write (rules/biomarker_results.yaml).

create or replace table omop_src.out_biomarkers as
select
    coalesce(ids.patient_id, facts.person_id::varchar) as patient_id,
    strftime(facts.fact_date, '%Y-%m-%d') as test_date,
    facts.marker,
    facts.method,
    facts.value_text as result,
    getvariable('omop_prefix') || facts.source_table as _src,
    facts.fact_id as _src_row
from omop_src.facts as facts
left join omop_src.person_ids as ids using (person_id)
where facts.kind = 'biomarker';
