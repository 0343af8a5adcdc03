-- stage: staging / step: diagnoses
-- reads: raw.diagnoses, staging.patients, staging.allowed_values
-- writes: staging.diagnoses_checked (staging.diagnoses, one row per patient, is made from its
--         good rows by 45_metastatic_date.sql, once the metastases are staged)

create or replace table staging.diagnoses_checked as
with source as (
    select
        _source_file,
        _row_number,
        patient_id,
        diagnosis_date as diagnosis_date_text,
        stage_at_diagnosis as stage_text,
        metastatic_date as metastatic_date_text
    from raw.diagnoses
),

typed as (
    select
        source.*,
        parse_iso_date(diagnosis_date_text) as diagnosis_date,
        coalesce(stage.value, case when stage_text is null then 'unknown' end) as stage_at_diagnosis,
        parse_iso_date(metastatic_date_text) as metastatic_date,
        patients.patient_id is not null as known_patient,
        row_number() over (partition by source.patient_id order by _row_number) as occurrence,
        min(_row_number) over (partition by source.patient_id) as first_row
    from source
    left join staging.patients as patients using (patient_id)
    left join staging.allowed_values as stage
        on stage.source_table = 'diagnoses' and stage.column_name = 'stage_at_diagnosis'
        and stage.value_key = text_key(source.stage_text)
),

checked as (
    select
        *,
        [
            missing_patient_problem(patient_id),
            unknown_patient_problem(patient_id, known_patient),
            case when patient_id is not null and occurrence > 1 then
                problem('duplicate_diagnosis', 'patient ' || patient_id
                    || ' already has a diagnosis on row ' || first_row
                    || '; diagnoses has one row per patient, the first is kept') end,
            required_problem('diagnosis_date', diagnosis_date_text),
            date_problem('diagnosis_date', diagnosis_date_text, diagnosis_date),
            date_problem('metastatic_date', metastatic_date_text, metastatic_date),
            case when metastatic_date < diagnosis_date then
                problem('impossible_date', 'metastatic_date ' || metastatic_date
                    || ' is before diagnosis_date ' || diagnosis_date) end,
            case when stage_text is not null and stage_at_diagnosis is null then
                problem('value_not_allowed', 'stage_at_diagnosis ''' || stage_text
                    || ''' is not one of 0, I, II, III, IV, unknown') end
        ] as problems
    from typed
)

select
    'diagnoses' as source_table,
    _source_file as source_file,
    _row_number as row_number,
    patient_id,
    diagnosis_date,
    stage_at_diagnosis,
    metastatic_date,
    first_rule(problems) as rule,
    all_details(problems) as detail
from checked;
