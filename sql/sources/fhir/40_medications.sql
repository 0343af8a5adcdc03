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
    -- each resource is parsed once, in the shape its type has in R4: dosage is one
    -- element (administration) or a list (statement; a request's dosageInstruction),
    -- category one CodeableConcept or a list (request)
    select record_key, file, line_number, resource_type, r.status, r.identifier, r.subject,
        r.medicationCodeableConcept, r.medicationReference,
        coalesce(r.effectiveDateTime, r.effectivePeriod.start) as start_text,
        r.effectivePeriod.end as end_text,
        [r.category] as categories,
        coalesce(r.dosage.route.text, r.dosage.route.coding[1].display) as route
    from (
        select record_key, file, line_number, resource_type, from_json(json, '{
        "identifier": [{"value": "VARCHAR"}], "status": "VARCHAR",
        "subject": {"reference": "VARCHAR"},
        "medicationCodeableConcept": {"coding": [{"system": "VARCHAR", "code": "VARCHAR", "display": "VARCHAR"}], "text": "VARCHAR"},
        "medicationReference": {"reference": "VARCHAR"},
        "effectiveDateTime": "VARCHAR", "effectivePeriod": {"start": "VARCHAR", "end": "VARCHAR"},
        "authoredOn": "VARCHAR",
        "dispenseRequest": {"validityPeriod": {"start": "VARCHAR", "end": "VARCHAR"}},
        "category": {"coding": [{"system": "VARCHAR", "code": "VARCHAR"}]}, "dosage": {"route": {"text": "VARCHAR", "coding": [{"display": "VARCHAR"}]}}
        }') as r
        from fhir_src.resources
        where resource_type = 'MedicationAdministration'
    )
    union all
    select record_key, file, line_number, resource_type, r.status, r.identifier, r.subject,
        r.medicationCodeableConcept, r.medicationReference,
        coalesce(r.effectiveDateTime, r.effectivePeriod.start) as start_text,
        r.effectivePeriod.end as end_text,
        [r.category] as categories,
        coalesce(r.dosage[1].route.text, r.dosage[1].route.coding[1].display) as route
    from (
        select record_key, file, line_number, resource_type, from_json(json, '{
        "identifier": [{"value": "VARCHAR"}], "status": "VARCHAR",
        "subject": {"reference": "VARCHAR"},
        "medicationCodeableConcept": {"coding": [{"system": "VARCHAR", "code": "VARCHAR", "display": "VARCHAR"}], "text": "VARCHAR"},
        "medicationReference": {"reference": "VARCHAR"},
        "effectiveDateTime": "VARCHAR", "effectivePeriod": {"start": "VARCHAR", "end": "VARCHAR"},
        "authoredOn": "VARCHAR",
        "dispenseRequest": {"validityPeriod": {"start": "VARCHAR", "end": "VARCHAR"}},
        "category": {"coding": [{"system": "VARCHAR", "code": "VARCHAR"}]}, "dosage": [{"route": {"text": "VARCHAR", "coding": [{"display": "VARCHAR"}]}}]
        }') as r
        from fhir_src.resources
        where resource_type = 'MedicationStatement'
    )
    union all
    select record_key, file, line_number, resource_type, r.status, r.identifier, r.subject,
        r.medicationCodeableConcept, r.medicationReference,
        coalesce(r.dosageInstruction[1].timing.repeat.boundsPeriod.start, r.dispenseRequest.validityPeriod.start, r.authoredOn) as start_text,
        coalesce(r.dosageInstruction[1].timing.repeat.boundsPeriod.end, r.dispenseRequest.validityPeriod.end) as end_text,
        r.category as categories,
        coalesce(r.dosageInstruction[1].route.text, r.dosageInstruction[1].route.coding[1].display) as route
    from (
        select record_key, file, line_number, resource_type, from_json(json, '{
        "identifier": [{"value": "VARCHAR"}], "status": "VARCHAR",
        "subject": {"reference": "VARCHAR"},
        "medicationCodeableConcept": {"coding": [{"system": "VARCHAR", "code": "VARCHAR", "display": "VARCHAR"}], "text": "VARCHAR"},
        "medicationReference": {"reference": "VARCHAR"},
        "effectiveDateTime": "VARCHAR", "effectivePeriod": {"start": "VARCHAR", "end": "VARCHAR"},
        "authoredOn": "VARCHAR",
        "dispenseRequest": {"validityPeriod": {"start": "VARCHAR", "end": "VARCHAR"}},
        "category": [{"coding": [{"system": "VARCHAR", "code": "VARCHAR"}]}], "dosageInstruction": [{"route": {"text": "VARCHAR", "coding": [{"display": "VARCHAR"}]}, "timing": {"repeat": {"boundsPeriod": {"start": "VARCHAR", "end": "VARCHAR"}}}}]
        }') as r
        from fhir_src.resources
        where resource_type = 'MedicationRequest'
    )
),

codes as (
    select typed.record_key,
        arg_min(coding.code, s.priority) as drug_code,
        arg_min(s.code_system, s.priority) as code_system
    from typed, unnest(codings_of(typed.medicationCodeableConcept)) as u(coding)
    join map_drug_systems as s on s.url = coding.system
    where coding.code is not null
    group by typed.record_key
)

select
    typed.record_key, typed.file, typed.line_number, typed.resource_type,
    typed.status,
    typed.identifier[1].value as record_id,
    ref_id(typed.subject.reference) as subject_id,
    coalesce(
        nullif(trim(typed.medicationCodeableConcept.text), ''),
        typed.medicationCodeableConcept.coding[1].display,
        typed.medicationCodeableConcept.coding[1].code
    ) as drug,
    typed.medicationCodeableConcept is null and typed.medicationReference is not null
        as by_reference,
    codes.drug_code,
    codes.code_system,
    fhir_day(typed.start_text) as start_date,
    fhir_day(typed.end_text) as end_date,
    list_filter(
        flatten(list_transform(coalesce(typed.categories, []), lambda c: coalesce(c.coding, []))),
        lambda x: x.system = getvariable('fhir_setting_system'))[1].code as setting,
    typed.route
from typed
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
