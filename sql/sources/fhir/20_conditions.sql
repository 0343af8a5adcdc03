-- stage: fhir adapter / step: conditions and population
-- reads: fhir_src.resources (Condition), fhir_src.patient_rows, map_conditions,
--        map_systems, map_fhir_status
-- writes: fhir_src.conditions (every Condition: patient_id, onset, is_breast_cancer,
--         is_metastasis, site, refuted, stage_text), fhir_src.population (patient_id of
--         every patient with a breast cancer Condition), fhir_src.out_patients (the
--         population's Patient rows), fhir_src.rejects (refuted or entered-in-error
--         breast cancer / metastasis Conditions of the population: not_a_fact)
-- Codings match the mapping by (system, code); ICD-10 codes by prefix without the dot,
-- ICD-O-3 by pattern. Onset: onsetDateTime, else onsetPeriod.start, else recordedDate.
-- A secondary malignancy's site: its code's, else the one its bodySite or display names.

create or replace table fhir_src.conditions as
with typed as (
    select record_key, file, line_number, from_json(json, '{
        "subject": {"reference": "VARCHAR"},
        "code": {"coding": [{"system": "VARCHAR", "code": "VARCHAR", "display": "VARCHAR"}], "text": "VARCHAR"},
        "bodySite": [{"coding": [{"system": "VARCHAR", "code": "VARCHAR", "display": "VARCHAR"}], "text": "VARCHAR"}],
        "verificationStatus": {"coding": [{"system": "VARCHAR", "code": "VARCHAR"}]},
        "onsetDateTime": "VARCHAR",
        "onsetPeriod": {"start": "VARCHAR"},
        "recordedDate": "VARCHAR",
        "stage": [{"summary": {"coding": [{"system": "VARCHAR", "code": "VARCHAR", "display": "VARCHAR"}], "text": "VARCHAR"}}]
    }') as r
    from fhir_src.resources
    where resource_type = 'Condition'
),

conditions as (
    select
        record_key, file, line_number,
        subject_patient(r.subject.reference) as patient_id,
        fhir_day(coalesce(r.onsetDateTime, r.onsetPeriod.start, r.recordedDate)) as onset,
        codings_of(r.code) as codings,
        concat_ws(' ', r.code.text, r.code.coding[1].display,
            array_to_string(list_transform(coalesce(r.bodySite, []),
                lambda b: concat_ws(' ', b.text, b.coding[1].display)), ' ')) as site_text,
        r.verificationStatus.coding[1].code as verification,
        r.stage[1].summary as stage_summary
    from typed
),

codes as (
    select c.record_key, coalesce(s.vocabulary, coding.system) as vocabulary, coding.code
    from conditions as c, unnest(c.codings) as u(coding)
    left join map_systems as s on s.system = coding.system
),

matches as (
    select codes.record_key, m.category, m.site, m.rank
    from codes
    join map_conditions as m
        on m.vocabulary = codes.vocabulary
        and ((m.code is not null and m.code = codes.code)
            or (m.prefix is not null and starts_with(upper(replace(codes.code, '.', '')), m.prefix))
            or (m.pattern is not null
                and regexp_matches(upper(replace(codes.code, '.', '')), m.pattern)))
),

classes as (
    select
        record_key,
        bool_or(category = 'breast_cancer') as is_breast_cancer,
        bool_or(category = 'metastasis') as is_metastasis,
        nullif(arg_max(coalesce(site, ''), rank) filter (where category = 'metastasis'), '')
            as code_site
    from matches
    group by record_key
)

select
    conditions.record_key, conditions.file, conditions.line_number, conditions.patient_id,
    conditions.onset, conditions.codings,
    coalesce(classes.is_breast_cancer, false) as is_breast_cancer,
    coalesce(classes.is_metastasis, false) as is_metastasis,
    case when classes.is_metastasis then
        coalesce(classes.code_site, metastasis_site_of(conditions.site_text)) end as site,
    coalesce(conditions.verification in (
        select status from map_fhir_status where resource_type = 'Condition'), false) as refuted,
    conditions.verification,
    coalesce(stage_group_of(conditions.stage_summary.text),
        stage_group_of(conditions.stage_summary.coding[1].display),
        stage_group_of(conditions.stage_summary.coding[1].code)) as stage
from conditions
left join classes using (record_key);

create or replace table fhir_src.population as
select distinct patient_id
from fhir_src.conditions
where is_breast_cancer and not refuted and patient_id is not null;

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
from fhir_src.patient_rows
semi join fhir_src.population using (patient_id);

insert into fhir_src.rejects
select 'diagnoses', record_key, 'not_a_fact',
    'Condition verificationStatus ''' || verification || ''': not used'
from fhir_src.conditions
semi join fhir_src.population using (patient_id)
where refuted and (is_breast_cancer or is_metastasis);
