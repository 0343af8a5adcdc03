-- stage: lines / step: line tables
-- reads: lot_np_lines (one row per line) and lot_np_sets (the distinct ingredient masks
--   with their ingredient ids), the numpy results of her2audit/stages/lines/core.py registered by
--   her2audit.stages.lines
-- writes: temp lot_line_starts (per line: start day, the rule that started it, its
--   trigger ingredients and the gap before it), temp lot_line_stats (per line: regimen
--   ingredient ids, last day, totals)

create or replace temp table lot_line_starts as
select
    lines.pid::integer as pid,
    lines.line_number::integer as line_number,
    lines.start_day::integer as start_day,
    case lines.start_rule
        when 0 then 'first_administration'
        when 1 then 'new_ingredient_after_window'
        when 2 then 'gap_exceeded'
    end as start_rule,
    case when lines.start_rule = 1 then triggers.ingredient_ids::integer[] end
        as trigger_ingredient_ids,
    case when lines.start_rule = 2 then lines.gap_days::integer end as gap_days
from lot_np_lines as lines
left join lot_np_sets as triggers
    on triggers.mask_lo = lines.trigger_lo and triggers.mask_hi = lines.trigger_hi;

create or replace temp table lot_line_stats as
select
    lines.pid::integer as pid,
    lines.line_number::integer as line_number,
    regimens.ingredient_ids::integer[] as ingredient_ids,
    lines.last_day::integer as last_day,
    lines.n_administrations,
    lines.her2_directed,
    lines.has_maintenance_addition
from lot_np_lines as lines
join lot_np_sets as regimens
    on regimens.mask_lo = lines.regimen_lo and regimens.mask_hi = lines.regimen_hi;
