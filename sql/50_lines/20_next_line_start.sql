-- stage: lines / step: next line start (run repeatedly by her2audit.lines)
-- reads: temp lot_frontier (the current line of every patient still being followed),
--   temp lot_iter, temp lot_episodes, variable regimen_window_days
-- writes: temp lot_frontier (the next line of every patient that has one; empty when
--   done), appends it to temp lot_line_starts, prunes temp lot_iter
-- One step finds, for all patients at once, where the line after the current one starts,
-- so the number of steps is the largest number of lines of any patient:
--   - the regimen is the set of substitution keys started within regimen_window_days of
--     the line's start (rule 2);
--   - after the window, the first administration whose key is not in the regimen starts
--     the next line (rule 3), unless it is a maintenance addition (an endocrine or
--     CDK4/6 drug added to a regimen containing trastuzumab or pertuzumab); dropping
--     drugs never starts a line (rule 4);
--   - otherwise the next line is the first administration after the next gap (rule 5).

create or replace temp table lot_next as
with line_administrations as (
    select
        iter.pid,
        iter.start_day,
        iter.ingredient_id,
        iter.key_id,
        iter.maintenance_addition,
        iter.maintenance_anchor,
        iter.start_day <= frontier.start_day + getvariable('regimen_window_days')::integer
            as in_window
    from lot_iter as iter
    join lot_frontier as frontier
        on frontier.pid = iter.pid and frontier.episode = iter.episode
),

regimen_keys as (
    select distinct pid, key_id
    from line_administrations
    where in_window
),

regimen_anchor as (
    select pid, bool_or(maintenance_anchor) as has_anchor
    from line_administrations
    where in_window
    group by pid
),

new_ingredients as (
    select line_administrations.pid, line_administrations.start_day,
        line_administrations.ingredient_id
    from line_administrations
    join regimen_anchor using (pid)
    anti join regimen_keys
        on regimen_keys.pid = line_administrations.pid
        and regimen_keys.key_id = line_administrations.key_id
    where not line_administrations.in_window
        and not (line_administrations.maintenance_addition and regimen_anchor.has_anchor)
),

first_new as (
    select pid, min(start_day) as start_day
    from new_ingredients
    group by pid
),

triggers as (
    select
        new_ingredients.pid,
        new_ingredients.start_day,
        list(distinct new_ingredients.ingredient_id order by new_ingredients.ingredient_id)
            as trigger_ingredient_ids
    from new_ingredients
    join first_new using (pid, start_day)
    group by all
)

select
    frontier.pid,
    frontier.line_number + 1 as line_number,
    coalesce(triggers.start_day, next_episode.start_day) as start_day,
    case when triggers.pid is not null then frontier.episode else next_episode.episode end
        as episode,
    case when triggers.pid is not null then 'new_ingredient_after_window' else 'gap_exceeded' end
        as start_rule,
    triggers.trigger_ingredient_ids,
    case when triggers.pid is null then next_episode.gap_days end as gap_days
from lot_frontier as frontier
left join triggers using (pid)
left join lot_episodes as next_episode
    on next_episode.pid = frontier.pid and next_episode.episode = frontier.episode + 1
where triggers.pid is not null or next_episode.pid is not null;

insert into lot_line_starts
select * from lot_next;

create or replace temp table lot_iter as
select iter.*
from lot_iter as iter
join lot_next as next_line using (pid)
where iter.start_day >= next_line.start_day;

create or replace temp table lot_frontier as
select * from lot_next;
