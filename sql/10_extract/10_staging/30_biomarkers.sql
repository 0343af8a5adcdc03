-- stage: staging / step: biomarkers
-- reads: raw.biomarkers_as_read, staging.patients, staging.allowed_values,
--        staging.allowed_results, staging.result_spellings, staging.ratio_relations,
--        variables her2_ratio_pattern and her2_amplified_at (rules/registry_schema.yaml,
--        rules/biomarker_results.yaml)
-- writes: staging.biomarker_values (one row per distinct marker, method and result as read:
--         their clean texts, canonical forms and problems), staging.biomarkers_checked
--         (every row, with its rule and detail), staging.biomarkers (the good rows)
-- Results are kept in their canonical spelling: HER2 '0' '1+' '2+' '3+' (IHC),
-- 'amplified' 'not amplified' 'equivocal' (ISH), or 'positive' 'negative' (an
-- interpretation, with or without a method); ER/PR 'positive' 'negative' or a
-- percentage, with the number in result_percent. Spellings systems write (SNOMED
-- qualifiers, 'Pos', 'IHC 3+') are mapped first. A HER2 ISH result written as the
-- HER2/CEP17 ratio ('2.5', '>= 2.0', 'greater than 2.2') is amplified when the ratio is
-- surely at least 2.0, not amplified when surely below, and not allowed when the text
-- leaves it open ('> 1.5'); a ratio given without a method makes the method ISH.
-- The marker, method and result texts repeat a few hundred combinations, so they are
-- cleaned, matched and read as ratios (regular expressions) once per distinct combination
-- as read (staging.biomarker_values), as the treatment texts are (50_treatments.sql); each
-- row joins its combination. At 1,000,000 patients (3.5 million rows) the statement over
-- the rows went from 3.2 to 1.9 s, the tables identical.

create or replace table staging.biomarker_values as
with read_values as (
    select distinct
        marker as marker_as_read,
        method as method_as_read,
        result as result_as_read
    from raw.biomarkers_as_read
),

source as (
    select
        *,
        clean_text(marker_as_read) as marker_text,
        clean_text(method_as_read) as method_text,
        clean_text(result_as_read) as result_text
    from read_values
),

keyed as (
    select
        *,
        regexp_replace(text_key(result_text), '\s+', ' ', 'g') as result_key
    from source
),

coded as (
    select
        keyed.*,
        marker.value as marker,
        coalesce(method.value, case when method_text is null then 'unknown' end) as method_given,
        coalesce(spelling.result, keyed.result_key) as result_value,
        regexp_extract(keyed.result_key, getvariable('her2_ratio_pattern'),
            ['comparator', 'number']) as ratio
    from keyed
    left join staging.allowed_values as marker
        on marker.source_table = 'biomarkers' and marker.column_name = 'marker'
        and marker.value_key = text_key(keyed.marker_text)
    left join staging.allowed_values as method
        on method.source_table = 'biomarkers' and method.column_name = 'method'
        and method.value_key = text_key(keyed.method_text)
    left join staging.result_spellings as spelling
        on spelling.marker = marker.value and spelling.spelling = keyed.result_key
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

-- the problems of the texts, in rule order after the row's own (patient, test date)
value_problems as (
    select
        *,
        required_problem('marker', marker_text) as marker_required_problem,
        required_problem('result', result_text) as result_required_problem,
        case when marker_text is not null and marker is null then
            problem('value_not_allowed', 'marker ''' || marker_text
                || ''' is not one of HER2, ER, PR') end as marker_problem,
        case when method_text is not null and method_given is null then
            problem('value_not_allowed', 'method ''' || method_text
                || ''' is not one of IHC, ISH, unknown') end as method_problem,
        case when marker is not null and result_text is not null and result is null then
            problem('value_not_allowed', marker || ' result ''' || result_text || ''' is not '
                || case
                    when is_ratio then 'a HER2/CEP17 ratio surely at least or surely below '
                        || getvariable('her2_amplified_at')
                    when marker = 'HER2' then 'an IHC score (0, 1+, 2+, 3+), an ISH result '
                        || '(amplified, not amplified, equivocal, a HER2/CEP17 ratio) '
                        || 'or positive, negative'
                    else 'positive, negative or a percentage such as 80%' end) end
            as result_problem
    from typed
)

select
    marker_as_read,
    method_as_read,
    result_as_read,
    marker,
    method,
    result,
    result_percent,
    marker_required_problem,
    result_required_problem,
    marker_problem,
    method_problem,
    result_problem
from value_problems;

create or replace table staging.biomarkers_checked as
with source as (
    select
        rows._source_file,
        rows._row_number,
        rows.patient_id,
        rows.test_date_text,
        parse_iso_date(rows.test_date_text) as test_date,
        patients.patient_id is not null as known_patient,
        biomarker_values.*
    from (
        select
            _source_file,
            _row_number,
            clean_text(patient_id) as patient_id,
            clean_text(test_date) as test_date_text,
            marker,
            method,
            result
        from raw.biomarkers_as_read
    ) as rows
    join staging.biomarker_values as biomarker_values
        on biomarker_values.marker_as_read is not distinct from rows.marker
        and biomarker_values.method_as_read is not distinct from rows.method
        and biomarker_values.result_as_read is not distinct from rows.result
    left join staging.patients as patients using (patient_id)
),

checked as (
    select
        *,
        missing_patient_problem(patient_id) as patient_problem,
        unknown_patient_problem(patient_id, known_patient) as known_patient_problem,
        required_problem('test_date', test_date_text) as test_date_required_problem,
        date_problem('test_date', test_date_text, test_date) as test_date_problem
    from source
),

-- the list of problems is only built for the few rows that have one
first_problem as (
    select
        *,
        coalesce(patient_problem, known_patient_problem, test_date_required_problem,
            test_date_problem, marker_required_problem, result_required_problem,
            marker_problem, method_problem, result_problem) as first_problem
    from checked
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
    first_problem.rule as rule,
    case when first_problem is not null then
        all_details([patient_problem, known_patient_problem, test_date_required_problem,
            test_date_problem, marker_required_problem, result_required_problem,
            marker_problem, method_problem, result_problem])
    end as detail
from first_problem;

create or replace table staging.biomarkers as
select patient_id, test_date, marker, method, result, result_percent
from staging.biomarkers_checked
where rule is null;
