-- stage: fhir adapter / step: medications -> treatments
-- reads: fhir_src.resources (MedicationAdministration, MedicationRequest,
--        MedicationStatement), fhir_src.patient_ids, map_fhir_status, map_drug_systems
-- writes: fhir_src.out_treatments (canonical treatments rows), fhir_src.rejects
-- drug: medicationCodeableConcept text, else its first coding's display, else code;
-- drug_code/code_system: a coding of a known drug code system (RxNorm first).
-- Dates: effectiveDateTime or effectivePeriod (administration, statement);
-- dosageInstruction boundsPeriod, dispenseRequest validityPeriod or authoredOn (request).
-- Setting: a category coding of the her2audit treatment-setting system. Route: the
-- dosage route text or display. A medication given only by reference (Medication
-- resource) is quarantined: the bulk export's Medication resources are not read.

create or replace table fhir_src.medications as
with typed as (
    select record_key, file, line_number, resource_type, json, from_json(json, '{
        "identifier": [{"value": "VARCHAR"}],
        "status": "VARCHAR",
        "subject": {"reference": "VARCHAR"},
        "medicationCodeableConcept": {"coding": [{"system": "VARCHAR", "code": "VARCHAR", "display": "VARCHAR"}], "text": "VARCHAR"},
        "medicationReference": {"reference": "VARCHAR"},
        "effectiveDateTime": "VARCHAR",
        "effectivePeriod": {"start": "VARCHAR", "end": "VARCHAR"},
        "authoredOn": "VARCHAR",
        "dispenseRequest": {"validityPeriod": {"start": "VARCHAR", "end": "VARCHAR"}}
    }') as r
    from fhir_src.resources
    where resource_type in ('MedicationAdministration', 'MedicationRequest', 'MedicationStatement')
),

categories as (
    -- category is one CodeableConcept (administration, statement) or a list (request)
    select record_key,
        case when json_type(json->'category') = 'ARRAY'
            then from_json(json->'category', '[{"coding": [{"system": "VARCHAR", "code": "VARCHAR"}]}]')
            when json_type(json->'category') = 'OBJECT'
            then [from_json(json->'category', '{"coding": [{"system": "VARCHAR", "code": "VARCHAR"}]}')]
        end as categories
    from typed
),

codes as (
    select typed.record_key,
        arg_min(coding.code, s.priority) as drug_code,
        arg_min(s.code_system, s.priority) as code_system
    from typed, unnest(codings_of(typed.r.medicationCodeableConcept)) as u(coding)
    join map_drug_systems as s on s.url = coding.system
    where coding.code is not null
    group by typed.record_key
)

select
    typed.record_key, typed.file, typed.line_number, typed.resource_type,
    typed.r.status as status,
    typed.r.identifier[1].value as record_id,
    ref_id(typed.r.subject.reference) as subject_id,
    coalesce(
        nullif(trim(typed.r.medicationCodeableConcept.text), ''),
        typed.r.medicationCodeableConcept.coding[1].display,
        typed.r.medicationCodeableConcept.coding[1].code
    ) as drug,
    typed.r.medicationCodeableConcept is null and typed.r.medicationReference is not null
        as by_reference,
    codes.drug_code,
    codes.code_system,
    fhir_day(coalesce(
        typed.r.effectiveDateTime,
        typed.r.effectivePeriod.start,
        typed.json->>'$.dosageInstruction[0].timing.repeat.boundsPeriod.start',
        typed.r.dispenseRequest.validityPeriod.start,
        typed.r.authoredOn
    )) as start_date,
    fhir_day(coalesce(
        typed.r.effectivePeriod.end,
        typed.json->>'$.dosageInstruction[0].timing.repeat.boundsPeriod.end',
        typed.r.dispenseRequest.validityPeriod.end
    )) as end_date,
    list_filter(
        flatten(list_transform(coalesce(categories.categories, []), lambda c: coalesce(c.coding, []))),
        lambda x: x.system = getvariable('fhir_setting_system'))[1].code as setting,
    coalesce(
        typed.json->>'$.dosage.route.text',
        typed.json->>'$.dosage[0].route.text',
        typed.json->>'$.dosageInstruction[0].route.text',
        typed.json->>'$.dosage.route.coding[0].display',
        typed.json->>'$.dosage[0].route.coding[0].display',
        typed.json->>'$.dosageInstruction[0].route.coding[0].display'
    ) as route
from typed
left join categories using (record_key)
left join codes using (record_key);

insert into fhir_src.rejects
select 'treatments', record_key,
    case when by_reference then 'unsupported_medication_reference' else 'not_a_fact' end,
    case when by_reference
        then resource_type || ' names its drug only by a reference to a Medication resource; '
            || 'give medicationCodeableConcept'
        else resource_type || ' status ''' || status || ''': not given' end
from fhir_src.medications as m
where by_reference
    or status in (select s.status from map_fhir_status as s where s.resource_type = m.resource_type);

create or replace table fhir_src.out_treatments as
select
    coalesce(m.record_id, m.file || ':' || m.line_number) as record_id,
    coalesce(ids.patient_id, m.subject_id) as patient_id,
    m.drug,
    m.drug_code,
    m.code_system,
    m.start_date,
    m.end_date,
    m.setting,
    m.route,
    m.file as _src,
    m.line_number as _src_row
from fhir_src.medications as m
left join fhir_src.patient_ids as ids on ids.resource_id = m.subject_id
where m.record_key not in (select record_key from fhir_src.rejects);
