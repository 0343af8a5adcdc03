-- stage: sensitivity / step: one parameter set against the published run
-- reads: build.lines_of_therapy, build.line_concordance, build.quality_indicators,
--        build.quality_indicator_definitions (the lines and verdicts under this parameter
--        set, written by the lines and concordance stages' own code), baseline.line_context
--        and baseline.quality_indicators (views over the published run's audit tables),
--        variables sensitivity_pre_index_days, sensitivity_regimen_window_days,
--        sensitivity_max_gap_days, sensitivity_is_run_parameters
-- writes: appends to temp table sensitivity_rows (created by her2audit.sensitivity): one
--         row per quality indicator (all sites, all years) and per line group ('1', '2',
--         '3', '4+', 'all')
--
-- A line of the run is matched to the line of this parameter set that starts on the same
-- day for the same patient. lines_recategorized: matched, with another category;
-- lines_boundary_moved: no line of this parameter set starts that day (the line merged
-- into another or its start moved); lines_changed: both. Line groups are the run's line
-- numbers; the rate of a line group is its line concordance (preferred or alternative
-- among preferred, alternative and not_recommended), as in audit.concordance_by_line.

insert into sensitivity_rows
with these_lines as (
    select
        lines.patient_id,
        lines.start_date,
        case when lines.line_number >= 4 then '4+' else lines.line_number::varchar end
            as line_group,
        verdicts.category
    from build.lines_of_therapy as lines
    inner join build.line_concordance as verdicts using (patient_id, line_number)
),

run_lines as (
    select
        patient_id,
        start_date,
        case when line_number >= 4 then '4+' else line_number::varchar end as line_group,
        category
    from baseline.line_context
),

matched as (
    select
        run_lines.line_group,
        run_lines.category as run_category,
        these_lines.category,
        these_lines.patient_id is not null as same_start
    from run_lines
    left join these_lines using (patient_id, start_date)
),

run_side as (
    select
        coalesce(line_group, 'all') as line_group,
        count(*) as run_lines,
        count(*) filter (where same_start and category <> run_category) as lines_recategorized,
        count(*) filter (where not same_start) as lines_boundary_moved,
        count(*) filter (where run_category in ('preferred', 'alternative')) as run_numerator,
        count(*) filter (
            where run_category in ('preferred', 'alternative', 'not_recommended')
        ) as run_denominator
    from matched
    group by grouping sets ((line_group), ())
),

this_side as (
    select
        coalesce(line_group, 'all') as line_group,
        count(*) as n_lines,
        count(*) filter (where category in ('preferred', 'alternative')) as numerator,
        count(*) filter (
            where category in ('preferred', 'alternative', 'not_recommended')
        ) as denominator
    from these_lines
    group by grouping sets ((line_group), ())
),

line_rows as (
    select
        'line' as measure_type,
        coalesce(this_side.line_group, run_side.line_group) as measure,
        coalesce(this_side.numerator, 0) as numerator,
        coalesce(this_side.denominator, 0) as denominator,
        coalesce(run_side.run_numerator, 0) / nullif(run_side.run_denominator, 0) as run_rate,
        coalesce(this_side.n_lines, 0) as n_lines,
        coalesce(run_side.run_lines, 0) as run_lines,
        coalesce(run_side.lines_recategorized, 0) as lines_recategorized,
        coalesce(run_side.lines_boundary_moved, 0) as lines_boundary_moved,
        case coalesce(this_side.line_group, run_side.line_group)
            when 'all' then 100 when '4+' then 4
            else coalesce(this_side.line_group, run_side.line_group)::integer
        end as measure_order
    from this_side
    full join run_side using (line_group)
),

indicator_rows as (
    select
        'indicator' as measure_type,
        indicators.indicator as measure,
        indicators.numerator,
        indicators.denominator,
        run_indicators.rate as run_rate,
        null::bigint as n_lines,
        null::bigint as run_lines,
        null::bigint as lines_recategorized,
        null::bigint as lines_boundary_moved,
        definitions.indicator_order as measure_order
    from build.quality_indicators as indicators
    left join build.quality_indicator_definitions as definitions using (indicator)
    left join baseline.quality_indicators as run_indicators
        on run_indicators.indicator = indicators.indicator
        and run_indicators.period = 'all'
        and run_indicators.site_id = 'all'
    where indicators.period = 'all' and indicators.site_id = 'all'
),

measures as (
    select * from indicator_rows
    union all
    select * from line_rows
)

select
    'max_gap_days=' || getvariable('sensitivity_max_gap_days')
    || ', regimen_window_days=' || getvariable('sensitivity_regimen_window_days')
    || ', pre_index_days=' || getvariable('sensitivity_pre_index_days') as parameter_set,
    getvariable('sensitivity_pre_index_days')::integer as pre_index_days,
    getvariable('sensitivity_regimen_window_days')::integer as regimen_window_days,
    getvariable('sensitivity_max_gap_days')::integer as max_gap_days,
    getvariable('sensitivity_is_run_parameters')::boolean as is_run_parameters,
    measure_type,
    measure,
    numerator::bigint as numerator,
    denominator::bigint as denominator,
    numerator / nullif(denominator, 0) as rate,
    run_rate,
    numerator / nullif(denominator, 0) - run_rate as rate_change,
    n_lines::bigint as n_lines,
    run_lines::bigint as run_lines,
    (lines_recategorized + lines_boundary_moved)::bigint as lines_changed,
    lines_recategorized::bigint as lines_recategorized,
    lines_boundary_moved::bigint as lines_boundary_moved,
    measure_order
from measures;
