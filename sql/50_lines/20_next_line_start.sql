-- stage: lines / step: next line start (run repeatedly by her2audit.lines)
-- reads: temp lot_frontier (the current line of every patient still being followed),
--   temp lot_iter (their administrations from that line's start on), temp lot_episodes,
--   variable regimen_window_days
-- writes: temp lot_line_regimens (the current lines' regimens), temp lot_frontier
--   (the next line of every patient that has one; empty when done), appended to temp
--   lot_line_starts; temp lot_iter pruned to the administrations from the next line on
-- One step handles all patients at once, so the number of steps is the largest number of
-- lines of any patient:
--   - the regimen is the set of ingredients given within regimen_window_days of the
--     line's start (rule 2);
--   - after the window, the first administration whose substitution key is not in the
--     regimen starts the next line (rule 3), unless it is a maintenance addition (an
--     endocrine or CDK4/6 drug added to a regimen containing trastuzumab or pertuzumab);
--     dropping drugs never starts a line (rule 4);
--   - otherwise the next line starts at the next gap episode (rule 5).

create or replace temp table lot_regimen as
select
    iter.pid,
    frontier.line_number,
    list(distinct iter.key_id) as key_ids,
    list(distinct iter.ingredient_id order by iter.ingredient_id) as ingredient_ids,
    bool_or(iter.maintenance_anchor) as has_anchor
from lot_iter as iter
join lot_frontier as frontier using (pid)
where iter.start_day <= frontier.start_day + getvariable('regimen_window_days')::integer
    and iter.start_day < frontier.episode_end_day
group by iter.pid, frontier.line_number;

insert into lot_line_regimens
select * from lot_regimen;

create or replace temp table lot_next as
with new_ingredients as (
    select iter.pid, iter.start_day, iter.ingredient_id
    from lot_iter as iter
    join lot_frontier as frontier using (pid)
    join lot_regimen as regimen using (pid)
    where iter.start_day < frontier.episode_end_day
        and iter.start_day > frontier.start_day + getvariable('regimen_window_days')::integer
        and not list_contains(regimen.key_ids, iter.key_id)
        and not (iter.maintenance_addition and regimen.has_anchor)
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
    coalesce(case when triggers.pid is not null then frontier.episode end, next_episode.episode)
        as episode,
    coalesce(case when triggers.pid is not null then frontier.episode_end_day end,
        next_episode.end_day) as episode_end_day,
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
