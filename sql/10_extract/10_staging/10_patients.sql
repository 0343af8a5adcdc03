-- stage: staging / step: patients
-- reads: raw.patients, staging.allowed_values
-- writes: staging.patients_checked (every raw row with its problems),
--         staging.patients (one clean row per patient)
-- A repeated patient_id keeps its first row; later rows are quarantined.

create or replace table staging.patients_checked as
with source as (
    select
        _source_file,
        _row_number,
        patient_id,
        site_id as site_id_text,
        birth_date as birth_date_text,
        sex as sex_text,
        death_date as death_date_text,
        last_contact_date as last_contact_date_text
    from raw.patients
),

typed as (
    select
        source.*,
        coalesce(site_id_text, 'unknown') as site_id,
        parse_iso_date(birth_date_text) as birth_date,
        sex.value as sex,
        parse_iso_date(death_date_text) as death_date,
        parse_iso_date(last_contact_date_text) as last_contact_date,
        row_number() over (partition by patient_id order by _row_number) as occurrence,
        min(_row_number) over (partition by patient_id) as first_row
    from source
    left join staging.allowed_values as sex
        on sex.source_table = 'patients' and sex.column_name = 'sex'
        and sex.value_key = text_key(source.sex_text)
),

checked as (
    select
        *,
        [
            missing_patient_problem(patient_id),
            case when patient_id is not null and occurrence > 1 then
                problem('duplicate_patient_id', 'patient_id ' || patient_id
                    || ' already appears on row ' || first_row || '; the first row is kept') end,
            date_problem('birth_date', birth_date_text, birth_date),
            date_problem('death_date', death_date_text, death_date),
            date_problem('last_contact_date', last_contact_date_text, last_contact_date),
            case when death_date < birth_date then
                problem('impossible_date', 'death_date ' || death_date
                    || ' is before birth_date ' || birth_date) end,
            case when sex_text is not null and sex is null then
                problem('value_not_allowed', 'sex ''' || sex_text
                    || ''' is not one of F, M, U') end
        ] as problems
    from typed
)

select
    'patients' as source_table,
    _source_file as source_file,
    _row_number as row_number,
    patient_id,
    site_id,
    birth_date,
    sex,
    death_date,
    last_contact_date,
    first_rule(problems) as rule,
    all_details(problems) as detail
from checked;

create or replace table staging.patients as
select patient_id, site_id, birth_date, sex, death_date, last_contact_date
from staging.patients_checked
where rule is null;
