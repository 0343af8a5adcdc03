-- stage: lines / step: lines of therapy
-- reads: temp lot_line_starts, lot_adm, lot_source, lot_patients, lot_cutoff,
--   staging.line_ingredient_rules, staging.regimen_rules, variables regimen_window_days,
--   max_gap_days
-- writes: staging.line_administrations, build.lines_of_therapy, temp lot_assigned,
--   lot_regimens, lot_lines
-- Every administration belongs to the latest line started on or before its start date.
-- Its role: `regimen` (started within the window), `continuation` (an ingredient of the
-- regimen given again), `substitution` (another ingredient of a regimen ingredient's
-- substitution group), `maintenance_addition`.
-- A line ends at its last administration (the latest of start and end dates, but not
-- past the day before the next line starts), or at death if earlier.
-- end_reason:
--   death          the patient died before the line's last administration, or it is the
--                  patient's last line and death came within max_gap_days of it;
--   next_line      another line followed within max_gap_days;
--   treatment_gap  the next line (or death, or the data cut-off for a last line) came more
--                  than max_gap_days after the line's last administration;
--   ongoing        last line, alive, last administration within max_gap_days of the cut-off.

create or replace temp table lot_assigned as
with assigned as (
    select
        adm.pid,
        adm.ingredient_id,
        adm.key_id,
        adm.maintenance_addition,
        adm.start_day,
        adm.last_day,
        starts.line_number,
        starts.start_day as line_start_day,
        adm.start_day <= starts.start_day + getvariable('regimen_window_days')::integer
            as in_window
    from lot_adm as adm
    asof join lot_line_starts as starts
        on starts.pid = adm.pid and adm.start_day >= starts.start_day
),

regimen_ingredients as (
    select distinct pid, line_number, ingredient_id
    from assigned
    where in_window
),

regimen_keys as (
    select distinct pid, line_number, key_id
    from assigned
    where in_window
)

select
    assigned.*,
    case
        when assigned.in_window then 'regimen'
        when regimen_ingredients.pid is not null then 'continuation'
        when regimen_keys.pid is not null then 'substitution'
        else 'maintenance_addition'
    end as role
from assigned
left join regimen_ingredients using (pid, line_number, ingredient_id)
left join regimen_keys using (pid, line_number, key_id);

create or replace table staging.line_administrations as
select
    source.record_key,
    source.patient_id,
    assigned.line_number,
    rules.ingredient,
    rules.drug_class,
    source.start_date,
    source.end_date,
    assigned.role,
    row_number() over (
        partition by source.pid, source.ingredient_id, source.start_day, source.last_day
        order by source.record_key
    ) > 1 as duplicate
from lot_source as source
join lot_assigned as assigned using (pid, ingredient_id, start_day, last_day)
join staging.line_ingredient_rules as rules using (ingredient_id)
order by source.patient_id, source.start_date, source.record_key, rules.ingredient;

-- The distinct regimen ingredient sets, named by the first matching catalog rule.
create or replace temp table lot_regimens as
with line_sets as (
    select
        assigned.pid,
        assigned.line_number,
        list(distinct rules.ingredient order by rules.ingredient) as ingredient_list
    from lot_assigned as assigned
    join staging.line_ingredient_rules as rules using (ingredient_id)
    where assigned.in_window
    group by all
),

distinct_sets as (
    select distinct ingredient_list
    from line_sets
),

set_tokens as (
    select
        distinct_sets.ingredient_list,
        list([rules.ingredient, 'class:' || rules.drug_class]) as ingredient_tokens,
        flatten(list([rules.ingredient, 'class:' || rules.drug_class])) as tokens
    from distinct_sets, unnest(distinct_sets.ingredient_list) as u(ingredient)
    join staging.line_ingredient_rules as rules on rules.ingredient = u.ingredient
    group by distinct_sets.ingredient_list
),

matches as (
    select
        set_tokens.ingredient_list,
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
    line_sets.pid,
    line_sets.line_number,
    array_to_string(line_sets.ingredient_list, ' + ') as ingredients,
    best.named.rule_id as regimen_rule_id,
    best.named.regimen,
    best.named.regimen_group
from line_sets
join (
    select
        ingredient_list,
        arg_min(struct_pack(rule_id, regimen, regimen_group), rule_order) as named
    from matches
    group by ingredient_list
) as best using (ingredient_list);

create or replace temp table lot_lines as
with per_line as (
    select
        assigned.pid,
        assigned.line_number,
        min(assigned.line_start_day) as start_day,
        max(assigned.last_day) as last_day,
        count(*) as n_administrations,
        bool_or(rules.her2_directed) as her2_directed,
        bool_or(assigned.role = 'maintenance_addition') as has_maintenance_addition
    from lot_assigned as assigned
    join staging.line_ingredient_rules as rules using (ingredient_id)
    group by assigned.pid, assigned.line_number
),

with_next as (
    select
        per_line.*,
        starts.start_rule,
        starts.trigger_ingredient_ids,
        starts.gap_days,
        lead(per_line.start_day) over w as next_start_day,
        lead(starts.start_rule) over w as next_start_rule
    from per_line
    join lot_line_starts as starts using (pid, line_number)
    window w as (partition by per_line.pid order by per_line.line_number)
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
join lot_regimens as regimens using (pid, line_number)
order by patients.patient_id, lines.line_number;
