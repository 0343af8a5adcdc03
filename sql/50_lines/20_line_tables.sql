-- stage: lines / step: line tables
-- reads: lot_np_lines, lot_np_members, lot_np_triggers (the numpy results of
--   her2audit/lines_core.py, registered by her2audit.lines)
-- writes: temp lot_line_starts (per line: start day, the rule that started it, its
--   trigger ingredients and the gap before it), temp lot_line_stats (per line: regimen
--   ingredient ids, last day, totals)

create or replace temp table lot_line_starts as
with triggers as (
    select pid, line_number,
        list(distinct ingredient_id order by ingredient_id) as trigger_ingredient_ids
    from lot_np_triggers
    group by pid, line_number
)

select
    lines.pid::integer as pid,
    lines.line_number::integer as line_number,
    lines.start_day::integer as start_day,
    case lines.start_rule
        when 0 then 'first_administration'
        when 1 then 'new_ingredient_after_window'
        when 2 then 'gap_exceeded'
    end as start_rule,
    triggers.trigger_ingredient_ids,
    case when lines.start_rule = 2 then lines.gap_days::integer end as gap_days
from lot_np_lines as lines
left join triggers using (pid, line_number);

create or replace temp table lot_line_stats as
with regimens as (
    select pid, line_number,
        list(distinct ingredient_id::integer order by ingredient_id::integer) as ingredient_ids
    from lot_np_members
    group by pid, line_number
)

select
    lines.pid::integer as pid,
    lines.line_number::integer as line_number,
    regimens.ingredient_ids,
    lines.last_day::integer as last_day,
    lines.n_administrations,
    lines.her2_directed,
    lines.has_maintenance_addition
from lot_np_lines as lines
join regimens using (pid, line_number);
