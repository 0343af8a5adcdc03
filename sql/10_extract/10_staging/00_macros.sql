-- stage: staging / step: macros
-- reads: variables latest_valid_date (the data cut-off, else the run's date) and
--        latest_valid_date_meaning (which of the two, for messages)
-- writes: macros used by every staging step
--   parse_iso_date(text)    -> date, or null when the text is not a real date written exactly
--                              YYYY-MM-DD (optionally with a time hh:mm:ss); 2023-1-5 is not
--   date_problem(name, text, parsed) -> a quarantine problem struct, or null when fine
--   missing_patient_problem(patient_id), unknown_patient_problem(patient_id, known) -> the
--                              same, for the row's patient
--   text_key(text)          -> trimmed, lower-cased text used for matching
--   clean_text(text)        -> text as raw.<table> holds it: trimmed, null when empty
--                              (for readers of raw.<table>_as_read, the text as read)

create or replace macro text_key(x) as nullif(lower(trim(x)), '');

create or replace macro clean_text(x) as nullif(trim(x), '');

-- A date is text written exactly YYYY-MM-DD that reads back the same as a date (so
-- 2023-1-5 and 2023-02-30 are not dates), optionally followed by a valid time (T or space,
-- then hh:mm:ss). `x` is raw text (trimmed when landed). No regular expression: a cast and
-- a comparison straight off the table scan run once per distinct value.
create or replace macro parse_iso_date(x) as
    coalesce(
        case when try_cast(x as date)::varchar = x then try_cast(x as date) end,
        case when length(x) = 19 and substr(x, 11, 1) in (' ', 'T')
            and try_cast(left(x, 10) as date)::varchar = left(x, 10)
            then try_cast(x as timestamp)::date end
    );

-- A problem is a struct {rule, detail}; a row's problems are a list, the first one is
-- the rule it is quarantined under and all details are kept.
create or replace macro problem(rule_name, detail_text) as
    {'rule': rule_name, 'detail': detail_text};

create or replace macro date_problem(column_name, raw_text, parsed) as
    case
        when raw_text is not null and parsed is null then
            problem('invalid_date', column_name || ' ''' || raw_text
                || ''' is not a date in YYYY-MM-DD form; fix or blank it in the extract')
        when parsed < date '1900-01-01' then
            problem('impossible_date', column_name || ' ' || strftime(parsed, '%Y-%m-%d')
                || ' is before 1900-01-01')
        when parsed > getvariable('latest_valid_date')::date then
            problem('impossible_date', column_name || ' ' || strftime(parsed, '%Y-%m-%d')
                || ' is in the future (after ' || getvariable('latest_valid_date_meaning') || ')')
    end;

-- The row's patient: missing, or not among the staged patients (the same two rules for
-- every table that refers to a patient).
create or replace macro missing_patient_problem(patient_id) as
    case when patient_id is null then
        problem('missing_patient_id', 'patient_id is empty')
    end;

create or replace macro unknown_patient_problem(patient_id, known_patient) as
    case when patient_id is not null and not known_patient then
        problem('unknown_patient', 'patient_id ' || patient_id
            || ' is not in patients (or its patients row was quarantined)')
    end;

create or replace macro required_problem(column_name, raw_text) as
    case when raw_text is null then
        problem('missing_required_value', column_name || ' is empty but required')
    end;

-- list_any_value is the first non-null element; the details are only put together for the
-- rows that have a problem (a few in a million), not for every row.
create or replace macro first_rule(problems) as
    list_any_value(problems).rule;

create or replace macro all_details(problems) as
    case when list_any_value(problems) is not null then
        array_to_string(list_transform(list_filter(problems, lambda p: p is not null),
            lambda p: p.detail), '; ')
    end;

create or replace macro record_key(source_file, row_number) as
    source_file || ':' || row_number::varchar;
