-- stage: staging / step: treatments
-- reads: raw.treatments_as_read, staging.patients, staging.allowed_values
-- writes: staging.treatment_values (one row per distinct source file, drug, drug_code,
--         code_system, setting and route of the rows as read: their clean texts, checks
--         and normal forms),
--         staging.treatment_rows (one row per input row: position, patient, value_id,
--         dates, quarantine rule and detail), and the views staging.treatments_checked
--         (the two joined: every row, as the other *_checked tables) and
--         staging.treatments (its good rows)
-- `drug` keeps the source spelling (trimmed), and may be empty when a drug_code is given;
-- `drug_key` is the lower-cased, space-collapsed form the drug vocabulary matches on.
-- Exact duplicate rows are kept here (line inference counts them once). The registry's own
-- record_id stays in raw.treatments only: nothing downstream reads it.
--
-- Why two tables: writing a 10-million-row table costs DuckDB about 0.8 s of CPU per text
-- column (compression), even a constant one. The text columns other than the patient repeat
-- a few thousand combinations, so each row stores one integer (value_id) for them and the
-- checks and normal forms of those texts are worked out once per combination. At 100,000
-- patients this step went from 13.5 to 6.7 s of CPU, the outputs identical.
-- The rows are read as landed (raw.treatments_as_read: a CSV's text untrimmed), so those
-- texts are cleaned (clean_text, as raw.treatments would) once per distinct combination as
-- read, not once per row; two combinations as read (' Herceptin' and 'Herceptin') may give
-- the same clean texts under two value_ids.

create or replace table staging.treatment_values as
with read_values as (
    select distinct
        _source_file as source_file,
        drug as drug_as_read,
        drug_code as drug_code_as_read,
        code_system as code_system_as_read,
        setting as setting_as_read,
        route as route_as_read
    from raw.treatments_as_read
),

source_values as (
    select
        *,
        clean_text(drug_as_read) as drug,
        clean_text(drug_code_as_read) as drug_code,
        clean_text(code_system_as_read) as code_system_text,
        clean_text(setting_as_read) as setting_text,
        clean_text(route_as_read) as route
    from read_values
),

typed as (
    select
        source_values.*,
        regexp_replace(text_key(drug), '\s+', ' ', 'g') as drug_key,
        code_system.value as code_system,
        coalesce(setting.value, case when setting_text is null then 'unknown' end) as setting
    from source_values
    left join staging.allowed_values as code_system
        on code_system.source_table = 'treatments' and code_system.column_name = 'code_system'
        and code_system.value_key = text_key(source_values.code_system_text)
    left join staging.allowed_values as setting
        on setting.source_table = 'treatments' and setting.column_name = 'setting'
        and setting.value_key = text_key(source_values.setting_text)
)

select
    -- numbered in the order of the texts, so the same registry gives the same value_ids
    (row_number() over (order by source_file, drug_as_read, drug_code_as_read,
        code_system_as_read, setting_as_read, route_as_read))::integer as value_id,
    source_file,
    drug_as_read,
    drug_code_as_read,
    code_system_as_read,
    setting_as_read,
    route_as_read,
    drug,
    drug_key,
    drug_code,
    code_system_text,
    code_system,
    setting_text,
    setting,
    route,
    -- a row with only a code is kept: the drug vocabulary maps it by the code
    case when drug is null and nullif(trim(drug_code), '') is null then
        problem('missing_required_value', 'drug is empty and there is no drug_code')
    end as drug_problem,
    case when code_system_text is not null and code_system is null then
        problem('value_not_allowed', 'code_system ''' || code_system_text
            || ''' is not one of rxnorm, atc, hemonc, local')
    end as code_system_problem,
    case when setting_text is not null and setting is null then
        problem('value_not_allowed', 'setting ''' || setting_text
            || ''' is not one of neoadjuvant, adjuvant, metastatic, unknown')
    end as setting_problem
from typed;

create or replace table staging.treatment_rows as
with source as (
    -- dates are parsed here, straight off the table scan
    select
        treatments._row_number,
        treatments.patient_id,
        source_values.value_id,
        source_values.drug_problem,
        source_values.code_system_problem,
        source_values.setting_problem,
        treatments.start_date as start_date_text,
        parse_iso_date(treatments.start_date) as start_date,
        treatments.end_date as end_date_text,
        parse_iso_date(treatments.end_date) as end_date,
        patients.patient_id is not null as known_patient
    from (
        select
            _row_number,
            _source_file,
            clean_text(patient_id) as patient_id,
            drug,
            drug_code,
            code_system,
            clean_text(start_date) as start_date,
            clean_text(end_date) as end_date,
            setting,
            route
        from raw.treatments_as_read
    ) as treatments
    join staging.treatment_values as source_values
        on source_values.source_file is not distinct from treatments._source_file
        and source_values.drug_as_read is not distinct from treatments.drug
        and source_values.drug_code_as_read is not distinct from treatments.drug_code
        and source_values.code_system_as_read is not distinct from treatments.code_system
        and source_values.setting_as_read is not distinct from treatments.setting
        and source_values.route_as_read is not distinct from treatments.route
    left join staging.patients as patients using (patient_id)
),

-- the row's problems in rule order (first_rule / all_details of 00_macros.sql)
checked as (
    select
        *,
        missing_patient_problem(patient_id) as patient_problem,
        unknown_patient_problem(patient_id, known_patient) as known_patient_problem,
        required_problem('start_date', start_date_text) as start_required_problem,
        date_problem('start_date', start_date_text, start_date) as start_date_problem,
        date_problem('end_date', end_date_text, end_date) as end_date_problem,
        case when end_date < start_date then
            problem('end_before_start', 'end_date ' || end_date
                || ' is before start_date ' || start_date)
        end as date_order_problem
    from source
),

-- The list of problems is only built for the few rows that have one: building a list of
-- nine per row made this statement 8.1 instead of 6.7 s of CPU at 100,000 patients.
first_problem as (
    select
        *,
        coalesce(patient_problem, known_patient_problem, drug_problem,
            start_required_problem, start_date_problem, end_date_problem, date_order_problem,
            code_system_problem, setting_problem) as first_problem
    from checked
)

select
    _row_number as row_number,
    patient_id,
    value_id,
    start_date,
    end_date,
    first_problem.rule as rule,
    case when first_problem is not null then
        all_details([patient_problem, known_patient_problem, drug_problem,
            start_required_problem, start_date_problem, end_date_problem, date_order_problem,
            code_system_problem, setting_problem])
    end as detail
from first_problem;

create or replace view staging.treatments_checked as
select
    'treatments' as source_table,
    source_values.source_file,
    treatment_rows.row_number,
    treatment_rows.patient_id,
    source_values.drug,
    source_values.drug_key,
    source_values.drug_code,
    source_values.code_system,
    treatment_rows.start_date,
    treatment_rows.end_date,
    source_values.setting,
    source_values.route,
    treatment_rows.rule,
    treatment_rows.detail
from staging.treatment_rows as treatment_rows
join staging.treatment_values as source_values using (value_id);

-- A view: the 10M-row scale of treatments makes a second copy the costliest step of extract
-- (and the record key, a distinct text per row, is made when read rather than stored).
-- The good rows are chosen by the join key (null for a quarantined row) rather than by a
-- filter: DuckDB guesses a filter keeps a fifth of the rows, and with that guess readers
-- (the line inputs) hashed the 7 million administrations to probe them with the patients
-- instead of the other way round (2.2 instead of 1.5 s of CPU at 100,000 patients).
create or replace view staging.treatments as
select
    source_values.source_file || ':' || treatment_rows.row_number::varchar as record_key,
    treatment_rows.patient_id,
    source_values.drug,
    source_values.drug_key,
    source_values.drug_code,
    source_values.code_system,
    treatment_rows.start_date,
    treatment_rows.end_date,
    source_values.setting,
    source_values.route
from staging.treatment_rows as treatment_rows
join staging.treatment_values as source_values
    on source_values.value_id
        = case when treatment_rows.rule is null then treatment_rows.value_id end;
