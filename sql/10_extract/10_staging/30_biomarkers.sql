-- stage: staging / step: biomarkers
-- reads: raw.biomarkers, staging.patients, staging.allowed_values, staging.allowed_results,
--        staging.result_spellings, staging.ratio_relations, variables her2_ratio_pattern and
--        her2_amplified_at (rules/registry_schema.yaml, rules/biomarker_results.yaml)
-- writes: staging.biomarkers_checked, staging.biomarkers
-- Results are kept in their canonical spelling: HER2 '0' '1+' '2+' '3+' (IHC),
-- 'amplified' 'not amplified' 'equivocal' (ISH), or 'positive' 'negative' (an
-- interpretation, with or without a method); ER/PR 'positive' 'negative' or a
-- percentage, with the number in result_percent. Spellings systems write (SNOMED
-- qualifiers, 'Pos', 'IHC 3+') are mapped first. A HER2 ISH result written as the
-- HER2/CEP17 ratio ('2.5', '>= 2.0', 'greater than 2.2') is amplified when the ratio is
-- surely at least 2.0, not amplified when surely below, and not allowed when the text
-- leaves it open ('> 1.5'); a ratio given without a method makes the method ISH.

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

coded as (
    select
        source.*,
        parse_iso_date(test_date_text) as test_date,
        marker.value as marker,
        coalesce(method.value, case when method_text is null then 'unknown' end) as method_given,
        coalesce(spelling.result, source.result_key) as result_value,
        regexp_extract(source.result_key, getvariable('her2_ratio_pattern'),
            ['comparator', 'number']) as ratio,
        patients.patient_id is not null as known_patient
    from source
    left join staging.patients as patients using (patient_id)
    left join staging.allowed_values as marker
        on marker.source_table = 'biomarkers' and marker.column_name = 'marker'
        and marker.value_key = text_key(source.marker_text)
    left join staging.allowed_values as method
        on method.source_table = 'biomarkers' and method.column_name = 'method'
        and method.value_key = text_key(source.method_text)
    left join staging.result_spellings as spelling
        on spelling.marker = marker.value and spelling.spelling = source.result_key
),

ratios as (
    -- read as a ratio: HER2 with method ISH, or without a method when the text has a
    -- comparator or a decimal number ('0' without a method stays the IHC score)
    select
        coded.*,
        coalesce(
            coded.marker = 'HER2' and coded.ratio.number <> ''
                and (coded.method_given = 'ISH' or (coded.method_given = 'unknown'
                    and (coded.ratio.comparator <> '' or coded.ratio.number like '%.%'))),
            false
        ) as is_ratio,
        try_cast(coded.ratio.number as double) as ratio_number,
        coalesce(relations.relation, 'eq') as relation
    from coded
    left join staging.ratio_relations as relations
        on relations.phrase = coded.ratio.comparator
),

typed as (
    select
        ratios.*,
        case
            when is_ratio then
                case
                    when relation in ('eq', 'ge', 'gt')
                        and ratio_number >= getvariable('her2_amplified_at') then 'amplified'
                    when relation in ('eq', 'le')
                        and ratio_number < getvariable('her2_amplified_at') then 'not amplified'
                    when relation = 'lt'
                        and ratio_number <= getvariable('her2_amplified_at') then 'not amplified'
                end
            when allowed.result is not null then allowed.result
            when ratios.marker in ('ER', 'PR')
                and regexp_full_match(result_value, '\d{1,3}(\.\d+)? ?%')
                and try_cast(rtrim(result_value, ' %') as double) between 0 and 100
                then rtrim(result_value, ' %') || '%'
        end as result,
        case when is_ratio and method_given = 'unknown' then 'ISH' else method_given end
            as method,
        case when ratios.marker in ('ER', 'PR') and result_value like '%\%%' escape '\'
            then try_cast(rtrim(result_value, ' %') as double) end as result_percent
    from ratios
    left join staging.allowed_results as allowed
        on allowed.marker = ratios.marker and allowed.result = ratios.result_value
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
            case when method_text is not null and method_given is null then
                problem('value_not_allowed', 'method ''' || method_text
                    || ''' is not one of IHC, ISH, unknown') end,
            case when marker is not null and result_text is not null and result is null then
                problem('value_not_allowed', marker || ' result ''' || result_text || ''' is not '
                    || case
                        when is_ratio then 'a HER2/CEP17 ratio surely at least or surely below '
                            || getvariable('her2_amplified_at')
                        when marker = 'HER2' then 'an IHC score (0, 1+, 2+, 3+), an ISH result '
                            || '(amplified, not amplified, equivocal, a HER2/CEP17 ratio) '
                            || 'or positive, negative'
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
