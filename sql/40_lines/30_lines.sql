-- stage: lines / step: lines of therapy
-- reads: temp lot_line_starts, lot_line_stats, lot_patients, lot_cutoff,
--   staging.line_ingredient_rules, staging.regimen_rules, variables regimen_window_days,
--   max_gap_days
-- writes: temp lot_regimens, lot_lines, build.lines_of_therapy
-- A line ends at its last administration (the latest of start and end dates, but not
-- past the day before the next line starts), or at death if earlier.
-- end_reason:
--   death          the patient died before the line's last administration, or it is the
--                  patient's last line and death came within max_gap_days of it;
--   next_line      another line followed without a gap longer than max_gap_days;
--   treatment_gap  the next line (or death, or the data cut-off for a last line) came more
--                  than max_gap_days after the line's last administration;
--   ongoing        last line, alive, last administration within max_gap_days of the cut-off.

-- The distinct regimen ingredient sets, named by the first matching catalog rule.
create or replace temp table lot_regimens as
with distinct_sets as (
    select distinct ingredient_ids
    from lot_line_stats
),

set_members as (
    select ingredient_ids, unnest(ingredient_ids) as ingredient_id
    from distinct_sets
),

set_tokens as (
    select
        set_members.ingredient_ids,
        array_to_string(list(rules.ingredient order by rules.ingredient), ' + ') as ingredients,
        list([rules.ingredient, 'class:' || rules.drug_class]) as ingredient_tokens,
        flatten(list([rules.ingredient, 'class:' || rules.drug_class])) as tokens
    from set_members
    join staging.line_ingredient_rules as rules using (ingredient_id)
    group by set_members.ingredient_ids
),

matches as (
    select
        set_tokens.ingredient_ids,
        set_tokens.ingredients,
        regimen_rules.rule_order,
        regimen_rules.rule_id,
        regimen_rules.regimen,
        regimen_rules.regimen_group
    from set_tokens
    cross join staging.regimen_rules as regimen_rules
    where list_bool_and(list_transform(
            regimen_rules.requires, lambda g: list_has_any(set_tokens.tokens, g)))
            is not false
        and (regimen_rules.only_tokens is null
            or len(list_filter(set_tokens.ingredient_tokens,
                lambda t: not list_has_any(t, regimen_rules.only_tokens))) = 0)
)

select
    ingredient_ids,
    any_value(ingredients) as ingredients,
    arg_min(rule_id, rule_order) as regimen_rule_id,
    arg_min(regimen, rule_order) as regimen,
    arg_min(regimen_group, rule_order) as regimen_group
from matches
group by ingredient_ids;

create or replace temp table lot_lines as
with with_next as (
    select
        starts.pid,
        starts.line_number,
        starts.start_day,
        starts.start_rule,
        starts.trigger_ingredient_ids,
        starts.gap_days,
        stats.ingredient_ids,
        stats.last_day,
        stats.n_administrations,
        stats.her2_directed,
        stats.has_maintenance_addition,
        lead(starts.start_day) over w as next_start_day,
        lead(starts.start_rule) over w as next_start_rule
    from lot_line_starts as starts
    join lot_line_stats as stats using (pid, line_number)
    window w as (partition by starts.pid order by starts.line_number)
),

ends as (
    select
        with_next.*,
        (patients.death_date - date '1970-01-01')::integer as death_day,
        least(with_next.last_day, with_next.next_start_day - 1) as last_administration_day
    from with_next
    join lot_patients as patients using (pid)
)

select
    ends.*,
    case
        when death_day < last_administration_day then greatest(death_day, start_day)
        else last_administration_day
    end as end_day,
    case
        when death_day < last_administration_day then 'death'
        when next_start_day is not null and next_start_rule = 'gap_exceeded' then 'treatment_gap'
        when next_start_day is not null then 'next_line'
        when death_day - last_administration_day <= getvariable('max_gap_days')::integer
            then 'death'
        when death_day is not null then 'treatment_gap'
        when (select cutoff_day from lot_cutoff) - last_administration_day
            > getvariable('max_gap_days')::integer then 'treatment_gap'
        else 'ongoing'
    end as end_reason
from ends;

create or replace table build.lines_of_therapy as
select
    patients.patient_id,
    lines.line_number::integer as line_number,
    date '1970-01-01' + lines.start_day::integer as start_date,
    date '1970-01-01' + lines.end_day::integer as end_date,
    lines.end_reason,
    regimens.ingredients,
    regimens.regimen,
    regimens.regimen_group,
    lines.her2_directed,
    lines.has_maintenance_addition,
    lines.n_administrations
from lot_lines as lines
join lot_patients as patients using (pid)
join lot_regimens as regimens using (ingredient_ids)
order by lines.pid, lines.line_number;  -- pid is numbered in patient_id order
