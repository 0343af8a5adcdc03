-- stage: export to FHIR / step: resources
-- reads: raw.patients, raw.diagnoses, raw.biomarkers, raw.metastases, raw.treatments,
--        export_codes_* and export_fhir (temp, from rules/omop_mapping.yaml)
-- writes: export.fhir_patient, export.fhir_condition, export.fhir_observation,
--         export.fhir_medicationadministration, export.fhir_medicationstatement
--         (one column `resource`: one FHIR R4 resource as compact JSON per row)
-- Elements are left out when empty (concat_ws skips nulls), as FHIR JSON requires.
-- Patient.id is the patient_id when it is a valid FHIR id, else a hash; the registry's
-- id is always in Patient.identifier. A treatment with an end_date is a
-- MedicationStatement (a course), one without is a MedicationAdministration.

create or replace macro iso_date(x) as try_strptime(trim(x), '%Y-%m-%d')::date;
create or replace macro jstr(x) as to_json(x::varchar)::varchar;
create or replace macro jfield(name, x) as '"' || name || '":' || jstr(x);
create or replace macro jobj(body) as '{' || body || '}';
create or replace macro fhir_id(x) as
    case when regexp_full_match(x, '[A-Za-z0-9\-\.]{1,64}') then x
        else 'h' || left(md5(x), 40) end;
create or replace macro patient_ref(pid) as
    '"subject":{"reference":' || jstr('Patient/' || fhir_id(pid)) || '}';

create or replace table export.fhir_patient as
select jobj(concat_ws(',',
    '"resourceType":"Patient"',
    jfield('id', fhir_id(p.patient_id)),
    '"identifier":[{"system":' || jstr(cfg.patient_id_system) || ',"value":'
        || jstr(p.patient_id) || '}]',
    '"extension":[{"url":' || jstr(cfg.last_contact_extension) || ',"valueDate":'
        || jstr(strftime(iso_date(p.last_contact_date), '%Y-%m-%d')) || '}]',
    jfield('gender', case upper(p.sex) when 'F' then 'female' when 'M' then 'male'
        when 'U' then 'unknown' end),
    jfield('birthDate', strftime(iso_date(p.birth_date), '%Y-%m-%d')),
    jfield('deceasedDateTime', strftime(iso_date(p.death_date), '%Y-%m-%d')),
    '"managingOrganization":{"reference":' || jstr('Organization/' || fhir_id(p.site_id))
        || ',"display":' || jstr(p.site_id) || '}'
)) as resource
from raw.patients as p
cross join export_fhir as cfg
where p.patient_id is not null
order by p._row_number;

create or replace table export.fhir_condition as
with conditions as (
    select d.patient_id, iso_date(d.diagnosis_date) as onset, c.snomed, c.icd10cm,
        c.display, d.stage_at_diagnosis as stage, 1 as kind, d._row_number
    from raw.diagnoses as d
    cross join export_codes_breast as c
    union all
    select d.patient_id, iso_date(d.metastatic_date), c.snomed, c.icd10cm, c.display, null,
        2, d._row_number
    from raw.diagnoses as d
    cross join export_codes_metastasis as c
    where iso_date(d.metastatic_date) is not null
    union all
    select m.patient_id, iso_date(m.diagnosis_date), c.snomed, c.icd10cm, c.display, null,
        3, m._row_number
    from raw.metastases as m
    join export_codes_sites as c on c.site = lower(m.site)
)

select jobj(concat_ws(',',
    '"resourceType":"Condition"',
    jfield('id', 'cond-' || kind || '-' || _row_number),
    '"clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-clinical","code":"active"}]}',
    '"code":{"coding":[' || concat_ws(',',
        '{"system":"http://snomed.info/sct","code":' || jstr(snomed) || '}',
        '{"system":"http://hl7.org/fhir/sid/icd-10-cm","code":' || jstr(icd10cm) || '}'
    ) || '],"text":' || jstr(display) || '}',
    patient_ref(patient_id),
    jfield('onsetDateTime', strftime(onset, '%Y-%m-%d')),
    case when stage is not null and lower(stage) <> 'unknown' then
        '"stage":[{"summary":{"text":' || jstr(stage) || '}}]' end
)) as resource
from conditions
where onset is not null and patient_id is not null
order by kind, _row_number;

create or replace table export.fhir_observation as
select jobj(concat_ws(',',
    '"resourceType":"Observation"',
    jfield('id', 'bm-' || b._row_number),
    '"status":"final"',
    '"code":{"coding":[{"system":"http://loinc.org","code":' || jstr(codes.loinc) || '}],'
        || '"text":' || jstr(b.marker) || '}',
    patient_ref(b.patient_id),
    jfield('effectiveDateTime', strftime(iso_date(b.test_date), '%Y-%m-%d')),
    case when b.method is not null then '"method":{"text":' || jstr(b.method) || '}' end,
    case
        when b.result like '%\%%' escape '\' and try_cast(rtrim(b.result, ' %') as double) is not null
            then '"valueQuantity":{"value":' || rtrim(b.result, ' %')
                || ',"unit":"%","system":"http://unitsofmeasure.org","code":"%"}'
        when b.result is not null then '"valueCodeableConcept":{"text":' || jstr(b.result) || '}'
    end
)) as resource
from raw.biomarkers as b
join export_codes_biomarkers as codes
    on codes.marker = upper(b.marker)
    and (codes.method = coalesce(upper(b.method), 'UNKNOWN') or codes.method = '*')
where iso_date(b.test_date) is not null and b.patient_id is not null
order by b._row_number;

create or replace table export.fhir_treatments as
select
    iso_date(t.end_date) is not null as is_course,
    t._row_number,
    concat_ws(',',
        jfield('id', 'tx-' || t._row_number),
        case when t.record_id is not null then
            '"identifier":[{"value":' || jstr(t.record_id) || '}]' end,
        '"status":"completed"',
        case when t.setting is not null then
            '"category":{"coding":[{"system":' || jstr(cfg.treatment_setting_system)
                || ',"code":' || jstr(lower(t.setting)) || '}]}' end,
        '"medicationCodeableConcept":{' || concat_ws(',',
            case when t.drug_code is not null and systems.url is not null then
                '"coding":[{"system":' || jstr(systems.url) || ',"code":' || jstr(t.drug_code)
                    || '}]' end,
            jfield('text', t.drug)) || '}',
        patient_ref(t.patient_id)
    ) as common,
    strftime(iso_date(t.start_date), '%Y-%m-%d') as start_date,
    strftime(iso_date(t.end_date), '%Y-%m-%d') as end_date,
    t.route
from raw.treatments as t
cross join export_fhir as cfg
left join export_drug_systems as systems on systems.code_system = lower(t.code_system)
where iso_date(t.start_date) is not null and t.patient_id is not null and t.drug is not null;

create or replace table export.fhir_medicationadministration as
select jobj(concat_ws(',',
    '"resourceType":"MedicationAdministration"',
    common,
    jfield('effectiveDateTime', start_date),
    case when route is not null then '"dosage":{"route":{"text":' || jstr(route) || '}}' end
)) as resource
from export.fhir_treatments
where not is_course
order by _row_number;

create or replace table export.fhir_medicationstatement as
select jobj(concat_ws(',',
    '"resourceType":"MedicationStatement"',
    common,
    '"effectivePeriod":{"start":' || jstr(start_date) || ',"end":' || jstr(end_date) || '}',
    case when route is not null then '"dosage":[{"route":{"text":' || jstr(route) || '}}]' end
)) as resource
from export.fhir_treatments
where is_course
order by _row_number;

drop table export.fhir_treatments;
