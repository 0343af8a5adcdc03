-- stage: fhir adapter / step: patients
-- reads: fhir_src.resources (Patient), map_fhir_gender
-- writes: fhir_src.patient_ids (Patient.id -> canonical patient_id),
--         fhir_src.out_patients (canonical patients rows, text)
-- patient_id is the Patient's her2audit identifier when present, else Patient.id.
-- site_id: managingOrganization display, else the referenced Organization id.
-- last_contact_date: the her2audit last-contact extension (FHIR has no element for it).

create or replace table fhir_src.patient_rows as
with typed as (
    select record_key, file, line_number, from_json(json, '{
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
    r.id as resource_id,
    coalesce(
        list_filter(coalesce(r.identifier, []), lambda i: i.system = getvariable('fhir_patient_id_system'))[1].value,
        r.id
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

create or replace table fhir_src.patient_ids as
select resource_id, arg_min(patient_id, line_number) as patient_id
from fhir_src.patient_rows
where resource_id is not null
group by resource_id;

create or replace table fhir_src.out_patients as
select
    patient_id,
    site_id,
    birth_date,
    coalesce(sex, gender_text) as sex,
    death_date,
    last_contact_date,
    file as _src,
    line_number as _src_row
from fhir_src.patient_rows;
