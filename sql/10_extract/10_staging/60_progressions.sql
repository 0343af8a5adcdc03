-- stage: staging / step: progressions
-- reads: raw.progressions, staging.patients
-- writes: staging.progressions_checked, staging.progressions

create or replace table staging.progressions_checked as
with source as (
    select _source_file, _row_number, patient_id,
        progression_date as progression_date_text, type as type_text
    from raw.progressions
),

typed as (
    select
        source.*,
        parse_iso_date(progression_date_text) as progression_date,
        text_key(type_text) as type,
        patients.patient_id is not null as known_patient
    from source
    left join staging.patients as patients using (patient_id)
),

checked as (
    select
        *,
        [
            missing_patient_problem(patient_id),
            unknown_patient_problem(patient_id, known_patient),
            required_problem('progression_date', progression_date_text),
            date_problem('progression_date', progression_date_text, progression_date)
        ] as problems
    from typed
)

select
    'progressions' as source_table,
    _source_file as source_file,
    _row_number as row_number,
    patient_id,
    progression_date,
    type,
    first_rule(problems) as rule,
    all_details(problems) as detail
from checked;

create or replace table staging.progressions as
select patient_id, progression_date, type
from staging.progressions_checked
where rule is null;
