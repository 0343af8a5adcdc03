-- stage: lines / step: inputs
-- reads: staging.administrations, build.patients, staging.line_ingredient_rules,
--   variables pre_index_days, max_gap_days
-- writes: temp lot_source (every line-forming administration row of a cohort patient in
--   the metastatic setting), temp lot_adm (the same, exact duplicates counted once, with
--   integer keys and the gap episode), temp lot_episodes, temp lot_frontier (line 1),
--   temp lot_line_starts, temp lot_iter (what the iteration step searches)
-- An administration is in the metastatic setting from metastatic_date - pre_index_days
-- on, unless its setting says neoadjuvant or adjuvant. Supportive drugs never take part.
-- Days are integers (days since 1970-01-01) in the temp tables, for speed.

create or replace temp table lot_patients as
select
    row_number() over (order by patient_id)::integer as pid,
    patient_id,
    metastatic_date,
    death_date
from build.patients
where metastatic_date is not null;

create or replace temp table lot_source as
select
    patients.pid,
    administrations.record_key,
    administrations.patient_id,
    rules.ingredient_id,
    administrations.start_date,
    administrations.end_date,
    (administrations.start_date - date '1970-01-01')::integer as start_day,
    (greatest(administrations.start_date, coalesce(administrations.end_date, administrations.start_date))
        - date '1970-01-01')::integer as last_day
from staging.administrations as administrations
join lot_patients as patients using (patient_id)
join staging.line_ingredient_rules as rules using (ingredient)
where administrations.line_forming
    and administrations.start_date
        >= patients.metastatic_date - getvariable('pre_index_days')::integer
    and coalesce(administrations.setting, 'unknown') not in ('neoadjuvant', 'adjuvant');

create or replace temp table lot_adm as
with deduplicated as (
    select distinct pid, ingredient_id, start_day, last_day
    from lot_source
),

ordered as (
    select
        deduplicated.*,
        rules.key_id,
        rules.maintenance_addition,
        rules.maintenance_anchor,
        max(deduplicated.last_day) over (
            partition by deduplicated.pid
            order by deduplicated.start_day, deduplicated.last_day, deduplicated.ingredient_id
            rows between unbounded preceding and 1 preceding
        ) as previous_last_day
    from deduplicated
    join staging.line_ingredient_rules as rules using (ingredient_id)
),

marked as (
    select
        *,
        start_day - previous_last_day as gap_days,
        coalesce(start_day - previous_last_day > getvariable('max_gap_days')::integer, false)
            as gap_exceeded
    from ordered
)

select
    *,
    sum(gap_exceeded::integer) over (
        partition by pid order by start_day, last_day, ingredient_id
        rows between unbounded preceding and current row
    )::integer as episode
from marked;

-- The first administration of every gap episode starts a line (rule 5).
create or replace temp table lot_episodes as
select pid, episode, min(start_day) as start_day, max(gap_days) filter (where gap_exceeded) as gap_days
from lot_adm
group by pid, episode;

create or replace temp table lot_frontier as
select
    pid,
    1 as line_number,
    start_day,
    0 as episode,
    'first_administration' as start_rule,
    null::integer[] as trigger_ingredient_ids,
    null::integer as gap_days
from lot_episodes
where episode = 0;

create or replace temp table lot_line_starts as
select * from lot_frontier;

create or replace temp table lot_iter as
select pid, episode, start_day, ingredient_id, key_id, maintenance_addition, maintenance_anchor
from lot_adm;
