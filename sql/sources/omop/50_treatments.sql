-- stage: omop adapter / step: treatments
-- reads: omop_src.drug_exposure, omop_src.concept, omop_src.concept_ancestor,
--        omop_src.person_ids, map_ingredient_vocabularies
-- writes: omop_src.out_treatments (a view of canonical treatments rows, text)
-- A drug concept with RxNorm ingredients (through concept_ancestor, or the concept is
-- itself an ingredient) gives one row per ingredient: drug = ingredient name, drug_code =
-- its RxNorm code. Otherwise the row keeps drug_source_value (or the concept's name) and
-- the drug vocabulary maps it downstream. A one-day exposure (end = start) has no end.

-- a view: raw.land reads it once, so the largest table is not written twice
create or replace view omop_src.out_treatments as
with exposures as (
    select drug_exposure_id, person_id, drug_concept_id, drug_source_value,
        drug_exposure_start_date, drug_exposure_end_date, route_source_value
    from omop_src.drug_exposure
),

ingredient_concepts as (
    select c.concept_id, c.concept_name, c.concept_code, c.vocabulary_id
    from omop_src.concept as c
    join map_ingredient_vocabularies as v
        on v.vocabulary = c.vocabulary_id and v.concept_class = c.concept_class_id
),

ingredients as (
    select exposures.drug_exposure_id, i.concept_name, i.concept_code, i.vocabulary_id
    from exposures
    join omop_src.concept_ancestor as ca on ca.descendant_concept_id = exposures.drug_concept_id
    join ingredient_concepts as i on i.concept_id = ca.ancestor_concept_id
    union
    select exposures.drug_exposure_id, i.concept_name, i.concept_code, i.vocabulary_id
    from exposures
    join ingredient_concepts as i on i.concept_id = exposures.drug_concept_id
),

rows as (
    select exposures.*, ingredients.concept_name as drug,
        case when ingredients.vocabulary_id = 'RxNorm' then ingredients.concept_code end
            as drug_code
    from exposures
    join ingredients using (drug_exposure_id)
    union all
    select exposures.*,
        coalesce(nullif(trim(exposures.drug_source_value), ''), drug_concept.concept_name),
        case when drug_concept.vocabulary_id = 'RxNorm' then drug_concept.concept_code end
    from exposures
    left join omop_src.concept as drug_concept on drug_concept.concept_id = exposures.drug_concept_id
    where not exists (
        select 1 from ingredients where ingredients.drug_exposure_id = exposures.drug_exposure_id
    )
)

select
    rows.drug_exposure_id::varchar as record_id,
    coalesce(ids.patient_id, rows.person_id::varchar) as patient_id,
    rows.drug,
    rows.drug_code,
    case when rows.drug_code is not null then 'rxnorm' end as code_system,
    rows.drug_exposure_start_date::varchar as start_date,
    case when rows.drug_exposure_end_date > rows.drug_exposure_start_date
        then rows.drug_exposure_end_date::varchar end as end_date,
    null::varchar as setting,
    rows.route_source_value as route,
    getvariable('omop_prefix') || 'drug_exposure' as _src,
    rows.drug_exposure_id as _src_row
from rows
left join omop_src.person_ids as ids using (person_id);
