-- stage: fhir adapter / step: patients
-- reads: fhir_src.resources (Patient), fhir_src.resource_keys, map_fhir_gender
-- writes: fhir_src.patient_rows (every Patient, canonical columns as text),
--         fhir_src.patient_keys (reference key -> canonical patient_id)
-- patient_id is the Patient's her2audit identifier when present, else Patient.id (else
-- the id of its fullUrl). site_id: managingOrganization display, else the referenced
-- Organization id. last_contact_date: the her2audit last-contact extension (FHIR has no
-- element for it). The population's rows are written by 20_conditions.sql.

create or replace table fhir_src.patient_rows as
with typed as (
    select record_key, file, line_number, full_url, from_json(json, '{
        "id": "VARCHAR",
        "identifier": [{"system": "VARCHAR", "value": "VARCHAR"}],
        "gender": "VARCHAR",
        "birthDate": "VARCHAR",
        "deceasedDateTime": "VARCHAR",
        "managingOrganization": {"reference": "VARCHAR", "display": "VARCHAR"},
        "extension": [{"url": "VARCHAR", "valueDate": "VARCHAR", "valueDateTime": "VARCHAR"}]
    }') as r
    from fhir_src.resources
    where resource_type = 'Patient'
)

select
    record_key, file, line_number,
    coalesce(
        list_filter(coalesce(r.identifier, []), lambda i: i.system = getvariable('fhir_patient_id_system'))[1].value,
        r.id,
        ref_id(full_url)
    ) as patient_id,
    coalesce(nullif(trim(r.managingOrganization.display), ''),
        regexp_extract(r.managingOrganization.reference, '([^/]+)$', 1)) as site_id,
    fhir_day(r.birthDate) as birth_date,
    gender.sex,
    r.gender as gender_text,
    fhir_day(r.deceasedDateTime) as death_date,
    fhir_day(coalesce(
        list_filter(coalesce(r.extension, []), lambda e: e.url = getvariable('fhir_last_contact_url'))[1].valueDate,
        list_filter(coalesce(r.extension, []), lambda e: e.url = getvariable('fhir_last_contact_url'))[1].valueDateTime
    )) as last_contact_date
from typed
left join map_fhir_gender as gender on gender.gender = lower(trim(typed.r.gender));

create or replace table fhir_src.patient_keys as
select keys.key, arg_min(rows.patient_id, rows.line_number) as patient_id
from fhir_src.resource_keys as keys
join fhir_src.patient_rows as rows using (record_key)
where keys.resource_type = 'Patient'
group by keys.key;

-- the canonical patient_id a subject reference names (the reference's id when the
-- Patient is not in the export: staging then quarantines the row as unknown_patient)
create or replace macro subject_patient(reference) as coalesce(
    (select k.patient_id from fhir_src.patient_keys as k where k.key = ref_key(reference)),
    ref_id(reference)
);
