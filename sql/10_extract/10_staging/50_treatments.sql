-- stage: staging / step: treatments
-- reads: raw.treatments, staging.patients, staging.allowed_values
-- writes: staging.treatments_checked, staging.treatments (a view of its good rows)
-- `drug` keeps the source spelling (trimmed), and may be empty when a drug_code is given;
-- `drug_key` is the lower-cased, space-collapsed form the drug vocabulary matches on,
-- worked out once per distinct spelling (a few thousand) rather than once per row. Exact
-- duplicate rows are kept here (line inference counts them once). The registry's own
-- record_id stays in raw.treatments only: nothing downstream reads it, and a distinct text
-- per row is the costliest column to store again.

create or replace table staging.treatments_checked as
with source as (
    -- text is parsed and folded here, straight off the table scan, where DuckDB works once
    -- per distinct value of a column rather than once per row
    select
        _source_file,
        _row_number,
        patient_id,
        drug,
        drug_code,
        code_system as code_system_text,
        text_key(code_system) as code_system_key,
        start_date as start_date_text,
        parse_iso_date(start_date) as start_date,
        end_date as end_date_text,
        parse_iso_date(end_date) as end_date,
        setting as setting_text,
        text_key(setting) as setting_key,
        route
    from raw.treatments
),

spellings as (
    select drug, regexp_replace(text_key(drug), '\s+', ' ', 'g') as drug_key
    from (select distinct drug from raw.treatments)
),

typed as (
    select
        source.*,
        spellings.drug_key,
        code_system.value as code_system,
        coalesce(setting.value, case when setting_text is null then 'unknown' end) as setting,
        patients.patient_id is not null as known_patient
    from source
    left join spellings using (drug)
    left join staging.patients as patients using (patient_id)
    left join staging.allowed_values as code_system
        on code_system.source_table = 'treatments' and code_system.column_name = 'code_system'
        and code_system.value_key = source.code_system_key
    left join staging.allowed_values as setting
        on setting.source_table = 'treatments' and setting.column_name = 'setting'
        and setting.value_key = source.setting_key
),

checked as (
    select
        *,
        [
            case when patient_id is null then
                problem('missing_patient_id', 'patient_id is empty') end,
            case when patient_id is not null and not known_patient then
                problem('unknown_patient', 'patient_id ' || patient_id
                    || ' is not in patients (or its patients row was quarantined)') end,
            -- a row with only a code is kept: the drug vocabulary maps it by the code
            case when drug is null and nullif(trim(drug_code), '') is null then
                problem('missing_required_value', 'drug is empty and there is no drug_code') end,
            required_problem('start_date', start_date_text),
            date_problem('start_date', start_date_text, start_date),
            date_problem('end_date', end_date_text, end_date),
            case when end_date < start_date then
                problem('end_before_start', 'end_date ' || end_date
                    || ' is before start_date ' || start_date) end,
            case when code_system_text is not null and code_system is null then
                problem('value_not_allowed', 'code_system ''' || code_system_text
                    || ''' is not one of rxnorm, atc, hemonc, local') end,
            case when setting_text is not null and setting is null then
                problem('value_not_allowed', 'setting ''' || setting_text
                    || ''' is not one of neoadjuvant, adjuvant, metastatic, unknown') end
        ] as problems
    from typed
)

select
    'treatments' as source_table,
    _source_file as source_file,
    _row_number as row_number,
    patient_id,
    drug,
    drug_key,
    drug_code,
    code_system,
    start_date,
    end_date,
    setting,
    route,
    first_rule(problems) as rule,
    all_details(problems) as detail
from checked;

-- A view: the 10M-row scale of treatments makes a second copy the costliest step of extract
-- (and the record key, a distinct text per row, is made when read rather than stored).
create or replace view staging.treatments as
select source_file || ':' || row_number::varchar as record_key, patient_id, drug,
    drug_key, drug_code, code_system, start_date, end_date, setting, route
from staging.treatments_checked
where rule is null;
