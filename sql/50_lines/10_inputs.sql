-- stage: lines / step: inputs
-- reads: staging.administrations, build.patients, staging.line_ingredient_rules,
--   variables pre_index_days, max_gap_days
-- writes: temp lot_patients, temp lot_adm (line-forming administrations of cohort patients
--   in the metastatic setting, exact duplicates counted once, integer keys), temp
--   lot_episodes (gap episodes), temp lot_frontier (line 1 of every patient), temp
--   lot_line_starts, temp lot_line_regimens, temp lot_iter (what the steps search)
-- An administration is in the metastatic setting from metastatic_date - pre_index_days
-- on, unless its setting says neoadjuvant or adjuvant. Supportive drugs never take part.
-- Days are integers (days since 1970-01-01) in the temp tables, for speed.
-- Rule 5 (gaps) does not depend on the lines, so it is applied first: a patient's
-- administrations fall into gap episodes; each episode's first administration starts a
-- line (`gap_exceeded`), and no line crosses an episode boundary.

create or replace temp table lot_patients as
select
    row_number() over (order by patient_id)::integer as pid,
    patient_id,
    metastatic_date,
    death_date,
    metastatic_date - getvariable('pre_index_days')::integer as metastatic_setting_from
from build.patients
where metastatic_date is not null;

create or replace temp table lot_adm as
select distinct
    patients.pid,
    rules.ingredient_id,
    rules.key_id,
    rules.maintenance_addition,
    rules.maintenance_anchor,
    rules.her2_directed,
    (administrations.start_date - date '1970-01-01')::integer as start_day,
    (greatest(administrations.start_date,
        coalesce(administrations.end_date, administrations.start_date))
        - date '1970-01-01')::integer as last_day
from staging.administrations as administrations
join lot_patients as patients using (patient_id)
join staging.line_ingredient_rules as rules using (ingredient)
where administrations.line_forming
    and administrations.start_date >= patients.metastatic_setting_from
    and coalesce(administrations.setting, 'unknown') not in ('neoadjuvant', 'adjuvant');

-- One row per patient-day; a gap is measured from the latest end of everything given
-- before that day to the day's start.
create or replace temp table lot_episodes as
with days as (
    select pid, start_day, max(last_day) as last_day
    from lot_adm
    group by pid, start_day
),

gaps as (
    select
        pid,
        start_day,
        start_day - max(last_day) over (
            partition by pid order by start_day
            rows between unbounded preceding and 1 preceding
        ) as gap_days
    from days
),

episode_starts as (
    select pid, start_day, gap_days
    from gaps
    where gap_days is null or gap_days > getvariable('max_gap_days')::integer
)

select
    pid,
    (row_number() over w - 1)::integer as episode,
    start_day,
    coalesce(lead(start_day) over w, 2147483647) as end_day,
    gap_days::integer as gap_days
from episode_starts
window w as (partition by pid order by start_day);

create or replace temp table lot_frontier as
select
    pid,
    1 as line_number,
    start_day,
    episode,
    end_day as episode_end_day,
    'first_administration' as start_rule,
    null::integer[] as trigger_ingredient_ids,
    null::integer as gap_days
from lot_episodes
where episode = 0;

create or replace temp table lot_line_starts as
select * from lot_frontier;

create or replace temp table lot_line_regimens (
    pid integer,
    line_number integer,
    key_ids integer[],
    ingredient_ids integer[],
    has_anchor boolean
);

create or replace temp table lot_iter as
select pid, start_day, ingredient_id, key_id, maintenance_addition, maintenance_anchor
from lot_adm;
