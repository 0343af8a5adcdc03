-- stage: lines / step: line boundaries
-- reads: temp lot_lines, lot_regimens, lot_patients, staging.line_ingredient_rules,
--   variables regimen_window_days, max_gap_days
-- writes: build.line_boundaries
-- Why every line began and ended, for review: start_rule is `first_administration`,
-- `new_ingredient_after_window` (trigger_ingredients names the new drugs) or
-- `gap_exceeded` (gap_days is the gap before the line); end_rule is the line's end_reason.

create or replace table build.line_boundaries as
with trigger_sets as (
    select distinct trigger_ingredient_ids
    from lot_lines
    where trigger_ingredient_ids is not null
),

trigger_members as (
    select trigger_ingredient_ids, unnest(trigger_ingredient_ids) as ingredient_id
    from trigger_sets
),

trigger_names as (
    select
        trigger_members.trigger_ingredient_ids,
        array_to_string(list(rules.ingredient order by rules.ingredient), ' + ')
            as trigger_ingredients
    from trigger_members
    join staging.line_ingredient_rules as rules using (ingredient_id)
    group by trigger_members.trigger_ingredient_ids
),

lines as (
    select
        lot_lines.*,
        lag(lot_lines.start_day) over (partition by lot_lines.pid order by lot_lines.line_number)
            as previous_start_day
    from lot_lines
)

select
    patients.patient_id,
    lines.line_number::integer as line_number,
    date '1970-01-01' + lines.start_day::integer as start_date,
    lines.start_rule,
    trigger_names.trigger_ingredients,
    lines.gap_days::integer as gap_days,
    case lines.start_rule
        when 'first_administration' then
            'first line-forming administration in the metastatic setting'
        when 'new_ingredient_after_window' then
            'new ingredient ' || trigger_names.trigger_ingredients || ' first given '
            || (lines.start_day - lines.previous_start_day)::varchar
            || ' days after the previous line began, after its '
            || getvariable('regimen_window_days')::varchar || '-day regimen window'
        when 'gap_exceeded' then
            'gap of ' || lines.gap_days::varchar || ' days without treatment (more than '
            || getvariable('max_gap_days')::varchar || ')'
    end as start_detail,
    regimens.regimen_rule_id,
    date '1970-01-01' + lines.end_day::integer as end_date,
    lines.end_reason as end_rule,
    case lines.end_reason
        when 'next_line' then 'the next line started on '
            || (date '1970-01-01' + lines.next_start_day::integer)::varchar
        when 'treatment_gap' then 'more than ' || getvariable('max_gap_days')::varchar
            || ' days without treatment after the last administration'
        when 'death' then 'the patient died on ' || patients.death_date::varchar
        when 'ongoing' then 'last administration within '
            || getvariable('max_gap_days')::varchar || ' days of the data cut-off'
    end as end_detail
from lines
join lot_patients as patients using (pid)
join lot_regimens as regimens using (ingredient_ids)
left join trigger_names using (trigger_ingredient_ids)
order by lines.pid, lines.line_number;  -- pid is numbered in patient_id order
