-- stage: fhir adapter / step: conditions -> diagnoses and metastases
-- reads: fhir_src.resources (Condition), fhir_src.patient_ids, map_conditions,
--        map_systems, map_fhir_status
-- writes: fhir_src.out_diagnoses (one row per patient with a breast cancer Condition),
--         fhir_src.out_metastases (one row per site-specific secondary malignancy),
--         fhir_src.rejects (Conditions the audit cannot use, with the reason)
-- Codings match the mapping by (system, code); ICD-10 codes by prefix without the dot.
-- Onset: onsetDateTime, else onsetPeriod.start, else recordedDate. Stage: the
-- breast cancer Condition's stage.summary (text, else first coding's code or display).

create or replace table fhir_src.conditions as
with typed as (
    select record_key, file, line_number, from_json(json, '{
        "id": "VARCHAR",
        "subject": {"reference": "VARCHAR"},
        "code": {"coding": [{"system": "VARCHAR", "code": "VARCHAR", "display": "VARCHAR"}], "text": "VARCHAR"},
        "verificationStatus": {"coding": [{"system": "VARCHAR", "code": "VARCHAR"}]},
        "onsetDateTime": "VARCHAR",
        "onsetPeriod": {"start": "VARCHAR"},
        "recordedDate": "VARCHAR",
        "stage": [{"summary": {"coding": [{"system": "VARCHAR", "code": "VARCHAR", "display": "VARCHAR"}], "text": "VARCHAR"}}]
    }') as r
    from fhir_src.resources
    where resource_type = 'Condition'
)

select
    record_key, file, line_number,
    ref_id(r.subject.reference) as subject_id,
    fhir_day(coalesce(r.onsetDateTime, r.onsetPeriod.start, r.recordedDate)) as onset,
    codings_of(r.code) as codings,
    r.verificationStatus.coding[1].code as verification,
    coalesce(r.stage[1].summary.text, r.stage[1].summary.coding[1].code,
        r.stage[1].summary.coding[1].display) as stage_text
from typed;

create or replace table fhir_src.condition_classes as
with codes as (
    select c.record_key, coalesce(s.vocabulary, coding.system) as vocabulary, coding.code
    from fhir_src.conditions as c, unnest(c.codings) as u(coding)
    left join map_systems as s on s.system = coding.system
),

matches as (
    select codes.record_key, m.category, m.site, m.rank
    from codes
    join map_conditions as m
        on m.vocabulary = codes.vocabulary
        and ((m.code is not null and m.code = codes.code)
            or (m.prefix is not null and starts_with(upper(replace(codes.code, '.', '')), m.prefix)))
)

select
    record_key,
    bool_or(category = 'breast_cancer') as is_breast_cancer,
    bool_or(category = 'metastasis') as is_metastasis,
    nullif(arg_max(coalesce(site, ''), rank) filter (where category = 'metastasis'), '') as site
from matches
group by record_key;

create or replace table fhir_src.usable_conditions as
select c.*, classes.is_breast_cancer, classes.is_metastasis, classes.site,
    coalesce(ids.patient_id, c.subject_id) as patient_id
from fhir_src.conditions as c
join fhir_src.condition_classes as classes using (record_key)
left join fhir_src.patient_ids as ids on ids.resource_id = c.subject_id
where coalesce(c.verification, '') not in (
    select status from map_fhir_status where resource_type = 'Condition'
);

insert into fhir_src.rejects
select 'diagnoses', c.record_key,
    case when c.verification in (select status from map_fhir_status where resource_type = 'Condition')
        then 'not_a_fact' else 'unsupported_code' end,
    case when c.verification in (select status from map_fhir_status where resource_type = 'Condition')
        then 'Condition verificationStatus ''' || c.verification || ''': not used'
        else 'Condition code ' || coalesce(
            array_to_string(list_transform(c.codings, lambda x: coalesce(x.system, '?') || '|' || coalesce(x.code, '?')), ', '),
            'missing')
            || ' is neither breast cancer nor a secondary malignancy in rules/omop_mapping.yaml' end
from fhir_src.conditions as c
where c.record_key not in (select record_key from fhir_src.usable_conditions);

create or replace table fhir_src.out_diagnoses as
with breast as (
    select patient_id,
        min(onset) as diagnosis_date,
        arg_min(stage_text, onset) as stage_text,
        arg_min(file, onset) as file,
        arg_min(line_number, onset) as line_number
    from fhir_src.usable_conditions
    where is_breast_cancer
    group by patient_id
),

metastatic as (
    select patient_id, min(onset) as metastatic_date
    from fhir_src.usable_conditions
    where is_metastasis
    group by patient_id
)

select
    breast.patient_id,
    breast.diagnosis_date,
    coalesce(
        nullif(regexp_extract(regexp_replace(upper(trim(breast.stage_text)), '^(AJCC\s*)?STAGE\s*', ''),
            '^(IV|III|II|I|0)'), ''),
        breast.stage_text) as stage_at_diagnosis,
    metastatic.metastatic_date,
    breast.file as _src,
    breast.line_number as _src_row
from breast
left join metastatic using (patient_id);

create or replace table fhir_src.out_metastases as
select patient_id, onset as diagnosis_date, site, file as _src, line_number as _src_row
from fhir_src.usable_conditions
where is_metastasis and site is not null;
