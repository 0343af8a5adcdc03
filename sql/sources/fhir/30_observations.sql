-- stage: fhir adapter / step: observations -> biomarkers
-- reads: fhir_src.resources (Observation), fhir_src.patient_ids, map_biomarkers,
--        map_systems, map_results, map_fhir_status
-- writes: fhir_src.out_biomarkers (canonical biomarkers rows), fhir_src.rejects
-- An Observation is a HER2/ER/PR test when a LOINC coding is one of the mapping's codes.
-- Result: valueCodeableConcept (text, else display, else code), valueString, or
-- valueQuantity (a percentage for ER/PR). Method: Observation.method text or display,
-- else the one implied by the LOINC code.

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
        "valueQuantity": {"value": "DOUBLE", "unit": "VARCHAR", "code": "VARCHAR"}
    }') as r
    from fhir_src.resources
    where resource_type = 'Observation'
),

loinc as (
    select typed.record_key, arg_min(m.loinc, m.loinc) as loinc
    from typed, unnest(codings_of(typed.r.code)) as u(coding)
    join map_systems as s on s.system = coding.system and s.vocabulary = 'LOINC'
    join map_biomarkers as m on m.loinc = coding.code
    group by typed.record_key
)

select
    typed.record_key, typed.file, typed.line_number,
    ref_id(typed.r.subject.reference) as subject_id,
    typed.r.status,
    fhir_day(coalesce(typed.r.effectiveDateTime, typed.r.effectivePeriod.start, typed.r.issued))
        as test_date,
    m.marker,
    coalesce(nullif(trim(typed.r.method.text), ''), typed.r.method.coding[1].display, m.method)
        as method,
    coalesce(
        nullif(trim(typed.r.valueCodeableConcept.text), ''),
        typed.r.valueCodeableConcept.coding[1].display,
        typed.r.valueCodeableConcept.coding[1].code,
        nullif(trim(typed.r.valueString), ''),
        case when typed.r.valueQuantity.value is not null then
            case when typed.r.valueQuantity.value = round(typed.r.valueQuantity.value)
                then (typed.r.valueQuantity.value::bigint)::varchar
                else typed.r.valueQuantity.value::varchar end
            || case when coalesce(typed.r.valueQuantity.code, typed.r.valueQuantity.unit) = '%'
                or m.marker in ('ER', 'PR') then '%' else '' end
        end
    ) as result_text,
    typed.r.code.coding as codings,
    loinc.loinc
from typed
left join loinc using (record_key)
left join map_biomarkers as m on m.loinc = loinc.loinc;

insert into fhir_src.rejects
select 'biomarkers', record_key,
    case when loinc is null then 'unsupported_code' else 'not_a_fact' end,
    case when loinc is null then
        'Observation code ' || coalesce(array_to_string(list_transform(codings,
            lambda x: coalesce(x.system, '?') || '|' || coalesce(x.code, '?')), ', '), 'missing')
        || ' is not a HER2, ER or PR test code in rules/omop_mapping.yaml'
    else 'Observation status ''' || status || ''': not used' end
from fhir_src.observations
where loinc is null
    or status in (select status from map_fhir_status where resource_type = 'Observation');

create or replace table fhir_src.out_biomarkers as
select
    coalesce(ids.patient_id, o.subject_id) as patient_id,
    o.test_date,
    o.marker,
    o.method,
    coalesce(synonyms.result, o.result_text) as result,
    o.file as _src,
    o.line_number as _src_row
from fhir_src.observations as o
left join fhir_src.patient_ids as ids on ids.resource_id = o.subject_id
left join map_results as synonyms on synonyms.source_key = lower(trim(o.result_text))
where o.loinc is not null
    and coalesce(o.status, '') not in (
        select status from map_fhir_status where resource_type = 'Observation');
