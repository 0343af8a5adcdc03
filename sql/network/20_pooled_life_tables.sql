-- stage: network / step: pooled life tables
-- reads: network.centre_survival_curves (each centre's life tables: whole months
--        [month_from, month_to) merged until no interval has 1-10 events or censorings;
--        month_to null for the open-ended last interval), variable network_month_days
-- writes: network.pooled_life_tables: one row per survival group x month of follow-up:
--         patients at risk at the month's start, events and censored times in it, summed
--         over the centres. A centre's interval of several months is spread evenly over
--         them (constant events and censorings per month, at risk falling linearly); its
--         open-ended last interval (follow-up of unknown length) is not used: its patients
--         leave the pooled risk set there, as if censored.

create or replace table network.pooled_life_tables as
with closed as (
    select
        *,
        month_to - month_from as months
    from network.centre_survival_curves
    where month_to is not null and month_to > month_from and n_at_risk is not null
        and n_events is not null and n_censored is not null
),

monthly as (
    select
        closed.centre,
        closed.endpoint,
        closed.grouping,
        closed.line_number,
        closed.group_value,
        spread.month,
        closed.months,
        closed.n_at_risk
            - (closed.n_events + closed.n_censored) * (spread.month - closed.month_from)
            / closed.months as n_at_risk,
        closed.n_events / closed.months as n_events,
        closed.n_censored / closed.months as n_censored
    from closed
    cross join lateral (
        select unnest(range(closed.month_from, closed.month_to)) as month
    ) as spread
)

select
    endpoint,
    grouping,
    line_number,
    group_value,
    month,
    (month * getvariable('network_month_days'))::double as interval_start_days,
    ((month + 1) * getvariable('network_month_days'))::double as interval_end_days,
    sum(n_at_risk) as n_at_risk,
    sum(n_events) as n_events,
    sum(n_censored) as n_censored,
    count(*)::integer as n_centres,
    count(*) filter (where months > 1)::integer as n_centres_spread
from monthly
group by endpoint, grouping, line_number, group_value, month
order by endpoint, grouping, line_number nulls first, group_value nulls first, month;
