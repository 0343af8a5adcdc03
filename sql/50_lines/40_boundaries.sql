-- stage: lines / step: line boundaries
-- reads: temp lot_lines, lot_regimens, lot_patients, staging.line_ingredient_rules,
--   variables regimen_window_days, max_gap_days
-- writes: build.line_boundaries
-- Why every line began and ended, for review: start_rule is `first_administration`,
-- `new_ingredient_after_window` (trigger_ingredients names the new drugs) or
-- `gap_exceeded` (gap_days is the gap before the line); end_rule is the line's end_reason.

create or replace table build.line_boundaries as
with trigger_ids as (
    select pid, line_number, unnest(trigger_ingredient_ids) as ingredient_id
    from lot_lines
    where trigger_ingredient_ids is not null
),

triggers as (
    select
        trigger_ids.pid,
        trigger_ids.line_number,
        array_to_string(list(rules.ingredient order by rules.ingredient), ' + ')
            as trigger_ingredients
    from trigger_ids
    join staging.line_ingredient_rules as rules using (ingredient_id)
    group by trigger_ids.pid, trigger_ids.line_number
)

select
    patients.patient_id,
    lines.line_number::integer as line_number,
    date '1970-01-01' + lines.start_day::integer as start_date,
    lines.start_rule,
    triggers.trigger_ingredients,
    lines.gap_days::integer as gap_days,
    case lines.start_rule
        when 'first_administration' then
            'first line-forming administration in the metastatic setting'
        when 'new_ingredient_after_window' then
            'new ingredient ' || triggers.trigger_ingredients || ' started '
            || (lines.start_day - lag(lines.start_day) over w)::varchar
            || ' days after the previous line began (regimen window '
            || getvariable('regimen_window_days')::varchar || ' days; regimen '
            || lag(regimens.ingredients) over w || ')'
        when 'gap_exceeded' then
            'gap of ' || lines.gap_days::varchar || ' days without treatment (more than '
            || getvariable('max_gap_days')::varchar || ')'
    end as start_detail,
    regimens.regimen_rule_id,
    date '1970-01-01' + lines.end_day::integer as end_date,
    lines.end_reason as end_rule,
    case lines.end_reason
        when 'next_line' then 'the next line started on '
            || strftime(date '1970-01-01' + lines.next_start_day::integer, '%Y-%m-%d')
        when 'treatment_gap' then 'more than ' || getvariable('max_gap_days')::varchar
            || ' days without treatment after the last administration'
        when 'death' then 'the patient died on ' || strftime(patients.death_date, '%Y-%m-%d')
        when 'ongoing' then 'last administration within '
            || getvariable('max_gap_days')::varchar || ' days of the data cut-off'
    end as end_detail
from lot_lines as lines
join lot_patients as patients using (pid)
join lot_regimens as regimens using (ingredient_ids)
left join triggers using (pid, line_number)
window w as (partition by lines.pid order by lines.line_number)
order by patients.patient_id, lines.line_number;
