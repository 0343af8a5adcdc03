-- stage: fhir adapter / step: medications -> treatments
-- reads: fhir_src.resources (Medication, MedicationAdministration, MedicationRequest,
--        MedicationStatement), fhir_src.resource_keys, fhir_src.conditions,
--        fhir_src.population, map_fhir_status, map_drug_systems, map_systems,
--        map_conditions, map_oncology_atc, map_known_drug_terms, map_known_drug_codes
-- writes: fhir_src.medications (every medication resource: patient, drug, dates, scope),
--         fhir_src.out_treatments (canonical treatments rows), fhir_src.rejects
-- The drug is the medicationCodeableConcept, or the Medication it references
-- (medicationReference: a resource of the export, by fullUrl or Type/id, or a contained
-- one, '#id'): name = text, else the first coding's display, else its code; drug_code /
-- code_system = a coding of a known drug code system (RxNorm first).
-- Dates: effectiveDateTime or effectivePeriod (administration, statement);
-- dosageInstruction boundsPeriod, dispenseRequest validityPeriod or authoredOn (request).
-- Setting: a category coding of the her2audit treatment-setting system. Route: the
-- dosage route text or display.
-- Scope (the population's medications): a drug is kept when one of its codings is an
-- oncology ATC class (L01, L02), its reason is a breast cancer or secondary malignancy
-- Condition (reasonReference, or a reasonCode of those codes), its name holds a spelling
-- of the drug vocabulary as whole words or a code is one the vocabulary lists, or it has
-- no coding of a drug code system at all (it cannot be judged). A drug coded in a drug
-- code system with none of these is out of scope (drug_not_oncology).

create or replace table fhir_src.medications as
with medication_resources as (
    select keys.key, r.record_key,
        from_json(r.json, '{"code": {"coding": [{"system": "VARCHAR", "code": "VARCHAR", "display": "VARCHAR"}], "text": "VARCHAR"}}').code
            as code
    from fhir_src.resources as r
    join fhir_src.resource_keys as keys using (record_key)
    where r.resource_type = 'Medication'
),

typed as (
    -- each resource is parsed once, in the shape its type has in R4: dosage is one
    -- element (administration) or a list (statement; a request's dosageInstruction),
    -- category one CodeableConcept or a list (request)
    select record_key, file, line_number, resource_type, r.status, r.identifier, r.subject,
        r.medicationCodeableConcept, r.medicationReference, r.contained, r.reasonReference,
        r.reasonCode,
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
        "contained": [{"resourceType": "VARCHAR", "id": "VARCHAR", "code": {"coding": [{"system": "VARCHAR", "code": "VARCHAR", "display": "VARCHAR"}], "text": "VARCHAR"}}],
        "reasonReference": [{"reference": "VARCHAR"}],
        "reasonCode": [{"coding": [{"system": "VARCHAR", "code": "VARCHAR"}]}],
        "effectiveDateTime": "VARCHAR", "effectivePeriod": {"start": "VARCHAR", "end": "VARCHAR"},
        "category": {"coding": [{"system": "VARCHAR", "code": "VARCHAR"}]}, "dosage": {"route": {"text": "VARCHAR", "coding": [{"display": "VARCHAR"}]}}
        }') as r
        from fhir_src.resources
        where resource_type = 'MedicationAdministration'
    )
    union all
    select record_key, file, line_number, resource_type, r.status, r.identifier, r.subject,
        r.medicationCodeableConcept, r.medicationReference, r.contained, r.reasonReference,
        r.reasonCode,
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
        "contained": [{"resourceType": "VARCHAR", "id": "VARCHAR", "code": {"coding": [{"system": "VARCHAR", "code": "VARCHAR", "display": "VARCHAR"}], "text": "VARCHAR"}}],
        "reasonReference": [{"reference": "VARCHAR"}],
        "reasonCode": [{"coding": [{"system": "VARCHAR", "code": "VARCHAR"}]}],
        "effectiveDateTime": "VARCHAR", "effectivePeriod": {"start": "VARCHAR", "end": "VARCHAR"},
        "category": {"coding": [{"system": "VARCHAR", "code": "VARCHAR"}]}, "dosage": [{"route": {"text": "VARCHAR", "coding": [{"display": "VARCHAR"}]}}]
        }') as r
        from fhir_src.resources
        where resource_type = 'MedicationStatement'
    )
    union all
    select record_key, file, line_number, resource_type, r.status, r.identifier, r.subject,
        r.medicationCodeableConcept, r.medicationReference, r.contained, r.reasonReference,
        r.reasonCode,
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
        "contained": [{"resourceType": "VARCHAR", "id": "VARCHAR", "code": {"coding": [{"system": "VARCHAR", "code": "VARCHAR", "display": "VARCHAR"}], "text": "VARCHAR"}}],
        "reasonReference": [{"reference": "VARCHAR"}],
        "reasonCode": [{"coding": [{"system": "VARCHAR", "code": "VARCHAR"}]}],
        "authoredOn": "VARCHAR",
        "dispenseRequest": {"validityPeriod": {"start": "VARCHAR", "end": "VARCHAR"}},
        "category": [{"coding": [{"system": "VARCHAR", "code": "VARCHAR"}]}], "dosageInstruction": [{"route": {"text": "VARCHAR", "coding": [{"display": "VARCHAR"}]}, "timing": {"repeat": {"boundsPeriod": {"start": "VARCHAR", "end": "VARCHAR"}}}}]
        }') as r
        from fhir_src.resources
        where resource_type = 'MedicationRequest'
    )
),

resolved as (
    -- the drug's CodeableConcept: given inline, or the referenced Medication's code
    select
        typed.*,
        subject_patient(typed.subject.reference) as patient_id,
        coalesce(
            typed.medicationCodeableConcept,
            case when typed.medicationReference.reference like '#%' then
                list_filter(coalesce(typed.contained, []),
                    lambda c: c.id = substr(typed.medicationReference.reference, 2))[1].code
            end,
            referenced.code
        ) as drug_concept
    from typed
    left join medication_resources as referenced
        on referenced.key = ref_key(typed.medicationReference.reference)
),

codings as (
    select resolved.record_key, coding.system, coding.code, coding.display,
        s.vocabulary, d.code_system, d.priority
    from resolved, unnest(codings_of(resolved.drug_concept)) as u(coding)
    left join map_systems as s on s.system = coding.system
    left join map_drug_systems as d on d.url = coding.system
    where coding.code is not null
),

codes as (
    select record_key,
        arg_min(code, priority) filter (where code_system is not null) as drug_code,
        arg_min(code_system, priority) filter (where code_system is not null) as code_system,
        bool_or(code_system is not null or vocabulary in ('RxNorm', 'NDC', 'ATC')) as coded,
        bool_or(vocabulary = 'ATC' and exists (
            select 1 from map_oncology_atc as p where starts_with(codings.code, p.prefix)))
            as atc_oncology,
        bool_or(exists (
            select 1 from map_known_drug_codes as k
            where k.code_system = codings.code_system and k.code = lower(codings.code)))
            as known_code,
        string_agg(display, ' ') as displays
    from codings
    group by record_key
),

reason_conditions as (
    -- reasonReference to a breast cancer or secondary malignancy Condition of the export
    select distinct resolved.record_key
    from resolved, unnest(coalesce(resolved.reasonReference, [])) as u(reason)
    join fhir_src.resource_keys as keys
        on keys.key = ref_key(reason.reference) and keys.resource_type = 'Condition'
    join fhir_src.conditions as c on c.record_key = keys.record_key
    where c.is_breast_cancer or c.is_metastasis
    union
    -- a reasonCode of those codes
    select resolved.record_key
    from resolved, unnest(coalesce(resolved.reasonCode, [])) as u(reason),
        unnest(coalesce(reason.coding, [])) as v(coding)
    join map_systems as s on s.system = coding.system
    join map_conditions as m
        on m.vocabulary = s.vocabulary
        and ((m.code is not null and m.code = trim(coding.code))
            or (m.prefix is not null
                and starts_with(upper(replace(trim(coding.code), '.', '')), m.prefix))
            or (m.pattern is not null
                and regexp_matches(upper(replace(trim(coding.code), '.', '')), m.pattern)))
),

named as (
    select
        resolved.*,
        coalesce(
            nullif(trim(resolved.drug_concept.text), ''),
            resolved.drug_concept.coding[1].display,
            resolved.drug_concept.coding[1].code
        ) as drug,
        codes.drug_code,
        codes.code_system,
        coalesce(codes.coded, false) as coded,
        coalesce(codes.atc_oncology, false) as atc_oncology,
        coalesce(codes.known_code, false) as known_code,
        codes.displays,
        reason_conditions.record_key is not null as cancer_reason
    from resolved
    left join codes using (record_key)
    left join reason_conditions using (record_key)
)

select
    record_key, file, line_number, resource_type, status, patient_id,
    identifier[1].value as record_id,
    drug,
    drug_concept is null and medicationReference.reference is not null as unresolved_reference,
    medicationReference.reference as medication_reference,
    drug_code,
    code_system,
    not coded or atc_oncology or cancer_reason or known_code or exists (
        select 1 from map_known_drug_terms as t
        where contains(text_words(concat_ws(' ', named.drug, named.displays)), ' ' || t.term || ' ')
    ) as in_scope,
    coalesce(status in (
        select s.status from map_fhir_status as s where s.resource_type = named.resource_type),
        false) as not_given,
    fhir_day(start_text) as start_date,
    fhir_day(end_text) as end_date,
    list_filter(
        flatten(list_transform(coalesce(categories, []), lambda c: coalesce(c.coding, []))),
        lambda x: x.system = getvariable('fhir_setting_system'))[1].code as setting,
    route
from named;

insert into fhir_src.rejects
select 'treatments', record_key,
    case when unresolved_reference then 'unsupported_medication_reference' else 'not_a_fact' end,
    case when unresolved_reference
        then resource_type || ' names its drug by a reference to ' || medication_reference
            || ', which is not in the export (as a Medication resource or a contained one)'
        else resource_type || ' status ''' || status || ''': not given' end
from fhir_src.medications
semi join fhir_src.population using (patient_id)
where in_scope and (unresolved_reference or not_given);

create or replace table fhir_src.out_treatments as
select
    coalesce(record_id, file || ':' || line_number) as record_id,
    patient_id,
    drug,
    drug_code,
    code_system,
    start_date,
    end_date,
    setting,
    route,
    file as _src,
    line_number as _src_row
from fhir_src.medications
semi join fhir_src.population using (patient_id)
where in_scope and not unresolved_reference and not not_given;
