"""Life tables on the network's common grid, from a warehouse's Kaplan–Meier curves.

What a centre shares for pooled survival (the `survival_life_tables` table of its share
package): for each survival group the network pools (`network.yaml`, `pooled_groups`: its
endpoint and grouping, every line) and each interval [a, b) of the grid, the patients at
risk at a, the events and the censored times in [a, b). Computed from the published
`survival_curves` (per distinct time counts), unsuppressed: suppression is the share
layer's. Intervals after the last one with anybody at risk are left out.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

from her2audit.network.package import NetworkRules, load_rules

QUERY = """
with wanted as (
    select unnest(?::varchar[]) as endpoint, unnest(?::varchar[]) as grouping
),

curves as (
    select curves.*
    from {schema}.survival_curves as curves
    semi join wanted using (endpoint, grouping)
),

groups as (
    select endpoint, grouping, line_number, group_value, max(n_at_risk) as n
    from curves
    group by all
),

grid as (
    select range as interval_start_days, range + $width as interval_end_days
    from range(0, $horizon, $width)
),

binned as (
    select
        endpoint, grouping, line_number, group_value,
        (time_days // $width) * $width as interval_start_days,
        sum(n_events) as n_events,
        sum(n_censored) as n_censored
    from curves
    where time_days < $horizon
    group by all
),

table_rows as (
    select
        groups.endpoint,
        groups.grouping,
        groups.line_number,
        groups.group_value,
        grid.interval_start_days,
        grid.interval_end_days,
        groups.n - coalesce(sum(coalesce(binned.n_events + binned.n_censored, 0)) over (
            partition by groups.endpoint, groups.grouping, groups.line_number,
                groups.group_value
            order by grid.interval_start_days
            rows between unbounded preceding and 1 preceding
        ), 0) as n_at_risk,
        coalesce(binned.n_events, 0) as n_events,
        coalesce(binned.n_censored, 0) as n_censored
    from groups
    cross join grid
    left join binned
        on binned.endpoint = groups.endpoint
        and binned.grouping = groups.grouping
        and binned.line_number is not distinct from groups.line_number
        and binned.group_value is not distinct from groups.group_value
        and binned.interval_start_days = grid.interval_start_days
)

select
    endpoint,
    grouping,
    line_number::integer as line_number,
    group_value,
    interval_start_days::integer as interval_start_days,
    interval_end_days::integer as interval_end_days,
    n_at_risk::bigint as n_at_risk,
    n_events::bigint as n_events,
    n_censored::bigint as n_censored
from table_rows
where n_at_risk > 0
order by endpoint, grouping, line_number nulls first, group_value nulls first,
    interval_start_days
"""


def life_tables(con: duckdb.DuckDBPyConnection, schema: str = "audit",
                rules: NetworkRules | None = None) -> pa.Table:
    """The life tables of `schema`'s survival curves on the network's grid."""
    rules = rules or load_rules()
    wanted = list(dict.fromkeys((g["endpoint"], g["grouping"]) for g in rules.pooled_groups))
    query = (QUERY.format(schema=schema)
             .replace("$width", str(int(rules.life_table_interval_days)))
             .replace("$horizon", str(int(rules.life_table_horizon_days))))
    params = [[e for e, _ in wanted], [g for _, g in wanted]]
    return con.sql(query, params=params).to_arrow_table()
