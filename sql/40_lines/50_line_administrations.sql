-- stage: lines / step: line administrations
-- reads: temp lot_lines, lot_patients, staging.line_ingredient_rules, lot_np_duplicates (the
--   exact-duplicate groups the lines core found, integer keys), variable regimen_window_days
-- writes: staging.line_starts (per line: start, end of its regimen window, where the
--   patient's metastatic setting begins, the regimen's ingredient ids),
--   staging.line_regimen_sets (each distinct regimen's ingredients),
--   staging.line_duplicate_groups (patient, ingredient, start and last date of every group
--   of exact-duplicate administrations, once; the account stage counts duplicate rows
--   from it), and the view staging.line_administrations
-- staging.line_administrations: every line-forming administration row (record_key) of a
-- patient with lines, in the metastatic setting, with its line_number and role:
-- `regimen` (given within the regimen window), `continuation` (a regimen ingredient given
-- again), `substitution` (another ingredient of a regimen ingredient's substitution
-- group), `maintenance_addition`; `duplicate` marks the second and later copies of an
-- exact duplicate row (counted once). It is a view over staging.administrations and the
-- small tables above, so the run does not write a second copy of every administration.

create or replace table staging.line_starts as
select
    patients.patient_id,
    lines.line_number::integer as line_number,
    date '1970-01-01' + lines.start_day::integer as start_date,
    date '1970-01-01' + (lines.start_day + getvariable('regimen_window_days')::integer)::integer
        as window_end_date,
    patients.metastatic_setting_from,
    lines.ingredient_ids as regimen_ingredient_ids
from lot_lines as lines
join lot_patients as patients using (pid)
order by lines.pid, lines.line_number;

-- the distinct regimens (ingredient id sets) and their ingredients
create or replace table staging.line_regimen_sets as
with sets as (
    select distinct ingredient_ids
    from lot_lines
),

members as (
    select ingredient_ids, unnest(ingredient_ids) as ingredient_id
    from sets
)

select members.ingredient_ids, rules.ingredient, rules.substitution_key
from members
join staging.line_ingredient_rules as rules using (ingredient_id);

create or replace table staging.line_duplicate_groups as
select
    patients.patient_id,
    rules.ingredient,
    date '1970-01-01' + duplicates.start_day::integer as start_date,
    date '1970-01-01' + duplicates.last_day::integer as last_date
from lot_np_duplicates as duplicates
join lot_patients as patients using (pid)
join staging.line_ingredient_rules as rules using (ingredient_id);

create or replace view staging.line_administrations as
with patients as (
    select patient_id, any_value(metastatic_setting_from) as metastatic_setting_from
    from staging.line_starts
    group by patient_id
),

eligible as (
    select
        administrations.record_key,
        administrations.patient_id,
        administrations.ingredient,
        administrations.drug_class,
        administrations.start_date,
        administrations.end_date,
        rules.substitution_key
    from staging.administrations as administrations
    join patients using (patient_id)
    join staging.line_ingredient_rules as rules using (ingredient)
    where administrations.line_forming
        and administrations.start_date >= patients.metastatic_setting_from
        and coalesce(administrations.setting, 'unknown') not in ('neoadjuvant', 'adjuvant')
),

assigned as (
    select eligible.*, starts.line_number, starts.window_end_date,
        starts.regimen_ingredient_ids
    from eligible
    asof join staging.line_starts as starts
        on starts.patient_id = eligible.patient_id and eligible.start_date >= starts.start_date
),

regimen_keys as (
    select distinct ingredient_ids, substitution_key
    from staging.line_regimen_sets
)

select
    assigned.record_key,
    assigned.patient_id,
    assigned.line_number,
    assigned.ingredient,
    assigned.drug_class,
    assigned.start_date,
    assigned.end_date,
    case
        when assigned.start_date <= assigned.window_end_date then 'regimen'
        when same_ingredient.ingredient is not null then 'continuation'
        when same_key.substitution_key is not null then 'substitution'
        else 'maintenance_addition'
    end as role,
    row_number() over (
        partition by assigned.patient_id, assigned.ingredient, assigned.start_date,
            coalesce(assigned.end_date, assigned.start_date)
        order by assigned.record_key
    ) > 1 as duplicate
from assigned
left join staging.line_regimen_sets as same_ingredient
    on same_ingredient.ingredient_ids = assigned.regimen_ingredient_ids
    and same_ingredient.ingredient = assigned.ingredient
left join regimen_keys as same_key
    on same_key.ingredient_ids = assigned.regimen_ingredient_ids
    and same_key.substitution_key = assigned.substitution_key;
