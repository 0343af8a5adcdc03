-- stage: network / step: pooled life tables
-- reads: network.centre_survival_life_tables, variables network_horizon_days (end of the
--        grid) and network_interval_days (its intervals)
-- writes: network.pooled_life_tables: one row per survival group x interval of the common
--         grid: patients at risk at the interval's start, events and censored in it, summed
--         over centres. A centre that suppressed an interval's events and censored (one of
--         them 1-10) but shows its numbers at risk at this and the next interval has
--         removed = at risk now - at risk next; its events are estimated as removed x the
--         event share (events / removed) of the centres that show both in that interval,
--         or, when none does, in it and the intervals next to it, or else in every
--         interval any centre shows in the group
--         (`n_centres_events_estimated`). When no centre shows any interval of the group,
--         nothing can be estimated: its rows have no centres (`n_centres` 0). A centre whose number at risk is suppressed (1-10 left) is
--         left out from that interval on (`n_centres_left_out`).

create or replace table network.pooled_life_tables as
with centre_rows as (
    select
        centre,
        endpoint,
        grouping,
        line_number,
        group_value,
        interval_start_days,
        interval_end_days,
        n_at_risk,
        n_events,
        n_censored,
        lead(interval_start_days) over centre_group as next_start_days,
        lead(n_at_risk) over centre_group as next_at_risk
    from network.centre_survival_life_tables
    window centre_group as (
        partition by centre, endpoint, grouping, line_number, group_value
        order by interval_start_days
    )
),

centre_removed as (
    select
        *,
        case
            -- no next row before the horizon: nobody is at risk after this interval
            when next_start_days is null
                and interval_end_days < getvariable('network_horizon_days') then n_at_risk
            else n_at_risk - next_at_risk
        end as n_removed
    from centre_rows
),

intervals as (
    select distinct endpoint, grouping, line_number, group_value, interval_start_days
    from centre_removed
),

shown_counts as (
    -- per interval, the events and removals of the centres that show both
    select
        intervals.*,
        sum(shown.n_events) as n_events,
        sum(shown.n_events + shown.n_censored) as n_removed
    from intervals
    left join centre_removed as shown
        on shown.endpoint = intervals.endpoint
        and shown.grouping = intervals.grouping
        and shown.line_number is not distinct from intervals.line_number
        and shown.group_value is not distinct from intervals.group_value
        and shown.interval_start_days = intervals.interval_start_days
        and shown.n_events is not null
        and shown.n_censored is not null
    group by all
),

event_share as (
    -- the event share among removals in the interval; else in it and its neighbours
    -- (the share drifts over follow-up: censoring grows as follow-up ends); else over
    -- every interval of the group
    select
        endpoint,
        grouping,
        line_number,
        group_value,
        interval_start_days,
        coalesce(
            n_events / nullif(n_removed, 0),
            sum(n_events) over neighbours / nullif(sum(n_removed) over neighbours, 0),
            sum(n_events) over whole_group / nullif(sum(n_removed) over whole_group, 0)
        ) as share
    from shown_counts
    window
        neighbours as (
            partition by endpoint, grouping, line_number, group_value
            order by interval_start_days
            range between getvariable('network_interval_days') preceding
                and getvariable('network_interval_days') following
        ),
        whole_group as (partition by endpoint, grouping, line_number, group_value)
),

centre_estimates as (
    select
        centre_removed.*,
        case
            when n_events is not null and n_censored is not null then n_events::double
            when n_removed is not null then n_removed * event_share.share
        end as events_used,
        case
            when n_events is not null and n_censored is not null then n_censored::double
            when n_removed is not null then n_removed * (1 - event_share.share)
        end as censored_used
    from centre_removed
    left join event_share
        on event_share.endpoint = centre_removed.endpoint
        and event_share.grouping = centre_removed.grouping
        and event_share.line_number is not distinct from centre_removed.line_number
        and event_share.group_value is not distinct from centre_removed.group_value
        and event_share.interval_start_days = centre_removed.interval_start_days
)

select
    endpoint,
    grouping,
    line_number,
    group_value,
    interval_start_days,
    interval_end_days,
    sum(n_at_risk) filter (where events_used is not null)::bigint as n_at_risk,
    sum(events_used) filter (where events_used is not null) as n_events,
    sum(censored_used) filter (where events_used is not null) as n_censored,
    count(*) filter (where events_used is not null)::integer as n_centres,
    count(*) filter (where events_used is not null
        and (n_events is null or n_censored is null))::integer as n_centres_events_estimated,
    count(*) filter (where events_used is null)::integer as n_centres_left_out
from centre_estimates
group by all
order by endpoint, grouping, line_number nulls first, group_value nulls first,
    interval_start_days;
