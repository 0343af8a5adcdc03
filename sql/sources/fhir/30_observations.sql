-- stage: fhir adapter / step: observations -> facts and biomarkers
-- reads: fhir_src.resources (Observation), fhir_src.population, map_biomarkers,
--        map_staging, map_m_codes, map_systems, map_fhir_status
-- writes: fhir_src.observations (every Observation: patient_id, kind, what it says),
--         fhir_src.out_biomarkers (canonical biomarkers rows), fhir_src.rejects
-- `kind` by LOINC coding: biomarker (HER2/ER/PR), stage_group, m_category,
-- metastasis_site, or null (not used). The value as written: valueCodeableConcept
-- (text, else display, else code), valueString, valueQuantity (with its comparator; a
-- percentage for ER/PR), valueRatio (numerator / denominator), else the interpretation.
-- Method: the one Observation.method names (IHC, ISH), else the LOINC code's.

create or replace table fhir_src.observations as
with typed as (
    select record_key, file, line_number, from_json(json, '{
        "status": "VARCHAR",
        "subject": {"reference": "VARCHAR"},
        "code": {"coding": [{"system": "VARCHAR", "code": "VARCHAR", "display": "VARCHAR"}], "text": "VARCHAR"},
        "effectiveDateTime": "VARCHAR",
        "effectivePeriod": {"start": "VARCHAR"},
        "issued": "VARCHAR",
        "method": {"coding": [{"system": "VARCHAR", "code": "VARCHAR", "display": "VARCHAR"}], "text": "VARCHAR"},
        "valueCodeableConcept": {"coding": [{"system": "VARCHAR", "code": "VARCHAR", "display": "VARCHAR"}], "text": "VARCHAR"},
        "valueString": "VARCHAR",
        "valueQuantity": {"value": "DOUBLE", "comparator": "VARCHAR", "unit": "VARCHAR", "code": "VARCHAR"},
        "valueRatio": {"numerator": {"value": "DOUBLE"}, "denominator": {"value": "DOUBLE"}},
        "interpretation": [{"coding": [{"system": "VARCHAR", "code": "VARCHAR", "display": "VARCHAR"}], "text": "VARCHAR"}]
    }') as r
    from fhir_src.resources
    where resource_type = 'Observation'
),

loinc as (
    select typed.record_key, min(coding.code) as loinc
    from typed, unnest(codings_of(typed.r.code)) as u(coding)
    join map_systems as s on s.system = coding.system and s.vocabulary = 'LOINC'
    where coding.code in (select loinc from map_biomarkers union all select loinc from map_staging)
    group by typed.record_key
),

described as (
    select
        typed.record_key, typed.file, typed.line_number,
        subject_patient(typed.r.subject.reference) as patient_id,
        typed.r.status,
        fhir_day(coalesce(typed.r.effectiveDateTime, typed.r.effectivePeriod.start,
            typed.r.issued)) as fact_date,
        loinc.loinc,
        biomarker.marker,
        coalesce(test_method_of(concat_ws(' ', typed.r.method.text,
            typed.r.method.coding[1].display)), biomarker.method) as method,
        staging.kind as staging_kind,
        s.vocabulary as value_vocabulary,
        typed.r.valueCodeableConcept.coding[1].code as value_code,
        coalesce(
            nullif(trim(typed.r.valueCodeableConcept.text), ''),
            typed.r.valueCodeableConcept.coding[1].display,
            typed.r.valueCodeableConcept.coding[1].code,
            nullif(trim(typed.r.valueString), ''),
            case when typed.r.valueQuantity.value is not null then
                coalesce(typed.r.valueQuantity.comparator || ' ', '')
                || case when typed.r.valueQuantity.value = round(typed.r.valueQuantity.value)
                    then (typed.r.valueQuantity.value::bigint)::varchar
                    else typed.r.valueQuantity.value::varchar end
                || case when coalesce(typed.r.valueQuantity.code, typed.r.valueQuantity.unit) = '%'
                    or biomarker.marker in ('ER', 'PR') then '%' else '' end
            end,
            case when typed.r.valueRatio.denominator.value > 0 then
                round(typed.r.valueRatio.numerator.value
                    / typed.r.valueRatio.denominator.value, 2)::varchar end,
            nullif(trim(typed.r.interpretation[1].text), ''),
            typed.r.interpretation[1].coding[1].display,
            typed.r.interpretation[1].coding[1].code
        ) as value_text,
        typed.r.code.coding as codings
    from typed
    left join loinc using (record_key)
    left join map_biomarkers as biomarker using (loinc)
    left join map_staging as staging using (loinc)
    left join map_systems as s on s.system = typed.r.valueCodeableConcept.coding[1].system
)

select
    described.*,
    coalesce(status in (select status from map_fhir_status where resource_type = 'Observation'),
        false) as not_a_fact,
    case when marker is not null then 'biomarker' else staging_kind end as kind,
    case when staging_kind = 'stage_group' then
        coalesce(stage_group_of(value_text), stage_group_of(value_code)) end as stage,
    case when staging_kind = 'm_category' then coalesce(
        (select m.m_category from map_m_codes as m
            where m.vocabulary = described.value_vocabulary and m.code = described.value_code),
        m_category_of(value_text), m_category_of(value_code)) end as m_category,
    case when staging_kind = 'metastasis_site' and coalesce(value_text, value_code) is not null
        and not names_no_metastasis(coalesce(value_text, '') || ' ' || coalesce(value_code, ''))
        then coalesce(metastasis_site_of(value_text), 'other') end as site
from described;

-- a test of the population that did not happen (entered in error, cancelled)
insert into fhir_src.rejects
select case kind when 'biomarker' then 'biomarkers' when 'metastasis_site' then 'metastases'
        else 'diagnoses' end,
    record_key, 'not_a_fact', 'Observation status ''' || status || ''': not used'
from fhir_src.observations
semi join fhir_src.population using (patient_id)
where kind is not null and not_a_fact;

create or replace table fhir_src.out_biomarkers as
select
    patient_id,
    fact_date as test_date,
    marker,
    method,
    value_text as result,
    file as _src,
    line_number as _src_row
from fhir_src.observations
semi join fhir_src.population using (patient_id)
where kind = 'biomarker' and not not_a_fact;
