-- stage: network / step: pooled life tables
-- reads: network.centre_survival_life_tables, variable network_horizon_days (end of the grid)
-- writes: network.pooled_life_tables: one row per survival group x interval of the common
--         grid: patients at risk at the interval's start, events and censored in it, summed
--         over centres. A centre that suppressed an interval's events and censored (one of
--         them 1-10) but shows its numbers at risk at this and the next interval has
--         removed = at risk now - at risk next; its events are estimated as removed x the
--         event share (events / removed) of the centres that show both in that interval,
--         or, when none does, of every interval any centre shows in the group
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

shown_rows as (
    select *
    from centre_removed
    where n_events is not null and n_censored is not null
),

interval_share as (
    select
        endpoint,
        grouping,
        line_number,
        group_value,
        interval_start_days,
        sum(n_events) / nullif(sum(n_events + n_censored), 0) as share
    from shown_rows
    group by all
),

group_share as (
    select
        endpoint,
        grouping,
        line_number,
        group_value,
        sum(n_events) / nullif(sum(n_events + n_censored), 0) as share
    from shown_rows
    group by all
),

event_share as (
    -- the interval's share among the centres showing it, else the group's over all
    -- intervals shown
    select
        groups.endpoint,
        groups.grouping,
        groups.line_number,
        groups.group_value,
        groups.interval_start_days,
        coalesce(interval_share.share, group_share.share) as share
    from (select distinct endpoint, grouping, line_number, group_value, interval_start_days
          from centre_removed) as groups
    left join interval_share
        on interval_share.endpoint = groups.endpoint
        and interval_share.grouping = groups.grouping
        and interval_share.line_number is not distinct from groups.line_number
        and interval_share.group_value is not distinct from groups.group_value
        and interval_share.interval_start_days = groups.interval_start_days
    left join group_share
        on group_share.endpoint = groups.endpoint
        and group_share.grouping = groups.grouping
        and group_share.line_number is not distinct from groups.line_number
        and group_share.group_value is not distinct from groups.group_value
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
