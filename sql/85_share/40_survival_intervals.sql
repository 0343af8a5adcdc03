-- stage: share / step: survival curve intervals
-- reads: build.survival_curves, variable share_interval_days
-- writes: staging.share_survival_intervals: per curve (endpoint, grouping, line, group) and
--         calendar month since the curve's start (month 0 = days 0 to 30), the events and
--         censorings in it; the share stage merges months into life-table intervals.
--         Columns by name: a table an older version (or a test fixture) made keeps those it has.

create or replace table staging.share_survival_intervals as
select
    columns(lambda c: list_contains(['endpoint', 'grouping', 'group_label', 'line_number',
        'group_value'], c)),
    floor(time_days / getvariable('share_interval_days'))::integer as month,
    sum(n_events)::bigint as n_events,
    sum(n_censored)::bigint as n_censored
from build.survival_curves
group by all
order by all;
