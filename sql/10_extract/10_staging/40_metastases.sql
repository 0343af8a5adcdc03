-- stage: staging / step: metastases
-- reads: raw.metastases, staging.patients, staging.allowed_values
-- writes: staging.metastases_checked, staging.metastases

create or replace table staging.metastases_checked as
with source as (
    select _source_file, _row_number, patient_id,
        diagnosis_date as diagnosis_date_text, site as site_text
    from raw.metastases
),

typed as (
    select
        source.*,
        parse_iso_date(diagnosis_date_text) as diagnosis_date,
        site.value as site,
        patients.patient_id is not null as known_patient
    from source
    left join staging.patients as patients using (patient_id)
    left join staging.allowed_values as site
        on site.source_table = 'metastases' and site.column_name = 'site'
        and site.value_key = text_key(source.site_text)
),

checked as (
    select
        *,
        [
            missing_patient_problem(patient_id),
            unknown_patient_problem(patient_id, known_patient),
            required_problem('diagnosis_date', diagnosis_date_text),
            date_problem('diagnosis_date', diagnosis_date_text, diagnosis_date),
            required_problem('site', site_text),
            case when site_text is not null and site is null then
                problem('value_not_allowed', 'site ''' || site_text || ''' is not one of brain, '
                    || 'leptomeningeal, bone, liver, lung, lymph_node, pleura, skin, other') end
        ] as problems
    from typed
)

select
    'metastases' as source_table,
    _source_file as source_file,
    _row_number as row_number,
    patient_id,
    diagnosis_date,
    site,
    first_rule(problems) as rule,
    all_details(problems) as detail
from checked;

create or replace table staging.metastases as
select patient_id, diagnosis_date, site
from staging.metastases_checked
where rule is null;
