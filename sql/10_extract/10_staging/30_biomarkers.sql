-- stage: staging / step: biomarkers
-- reads: raw.biomarkers, staging.patients, staging.allowed_values
-- writes: staging.biomarkers_checked, staging.biomarkers
-- Results are kept in their canonical spelling: HER2 '0' '1+' '2+' '3+' (IHC) or
-- 'amplified' 'not amplified' 'equivocal' (ISH); ER/PR 'positive' 'negative' or a
-- percentage, with the number in result_percent.

create or replace table staging.biomarkers_checked as
with source as (
    select
        _source_file,
        _row_number,
        patient_id,
        test_date as test_date_text,
        marker as marker_text,
        method as method_text,
        result as result_text,
        regexp_replace(text_key(result), '\s+', ' ', 'g') as result_key
    from raw.biomarkers
),

typed as (
    select
        source.*,
        parse_iso_date(test_date_text) as test_date,
        marker.value as marker,
        coalesce(method.value, case when method_text is null then 'unknown' end) as method,
        case
            when marker.value = 'HER2' and result_key in ('0', '1+', '2+', '3+', 'amplified',
                'not amplified', 'equivocal') then result_key
            when marker.value in ('ER', 'PR') and result_key in ('positive', 'negative')
                then result_key
            when marker.value in ('ER', 'PR')
                and regexp_full_match(result_key, '\d{1,3}(\.\d+)? ?%')
                and try_cast(rtrim(result_key, ' %') as double) between 0 and 100
                then rtrim(result_key, ' %') || '%'
        end as result,
        case when marker.value in ('ER', 'PR') and result_key like '%\%%' escape '\'
            then try_cast(rtrim(result_key, ' %') as double) end as result_percent,
        patients.patient_id is not null as known_patient
    from source
    left join staging.patients as patients using (patient_id)
    left join staging.allowed_values as marker
        on marker.source_table = 'biomarkers' and marker.column_name = 'marker'
        and marker.value_key = text_key(source.marker_text)
    left join staging.allowed_values as method
        on method.source_table = 'biomarkers' and method.column_name = 'method'
        and method.value_key = text_key(source.method_text)
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
            required_problem('test_date', test_date_text),
            date_problem('test_date', test_date_text, test_date),
            required_problem('marker', marker_text),
            required_problem('result', result_text),
            case when marker_text is not null and marker is null then
                problem('value_not_allowed', 'marker ''' || marker_text
                    || ''' is not one of HER2, ER, PR') end,
            case when method_text is not null and method is null then
                problem('value_not_allowed', 'method ''' || method_text
                    || ''' is not one of IHC, ISH, unknown') end,
            case when marker is not null and result_text is not null and result is null then
                problem('value_not_allowed', marker || ' result ''' || result_text || ''' is not '
                    || case when marker = 'HER2'
                        then 'an IHC score (0, 1+, 2+, 3+) or ISH result (amplified, not amplified, equivocal)'
                        else 'positive, negative or a percentage such as 80%' end) end
        ] as problems
    from typed
)

select
    'biomarkers' as source_table,
    _source_file as source_file,
    _row_number as row_number,
    patient_id,
    test_date,
    marker,
    method,
    result,
    result_percent,
    first_rule(problems) as rule,
    all_details(problems) as detail
from checked;

create or replace table staging.biomarkers as
select patient_id, test_date, marker, method, result, result_percent
from staging.biomarkers_checked
where rule is null;
