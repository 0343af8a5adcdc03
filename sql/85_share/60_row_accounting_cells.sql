-- stage: share / step: row accounting cells
-- reads: build.row_dispositions
-- writes: staging.share_row_accounting_cells: per source table, the rows of each
--         disposition and reason, with 'all' totals per disposition and per table (the
--         table total is its rows read); real counts, suppressed in Python

create or replace table staging.share_row_accounting_cells as
select
    source_table,
    coalesce(disposition, 'all') as disposition,
    coalesce(reason, 'all') as reason,
    sum(n_rows)::bigint as n_rows
from build.row_dispositions
group by grouping sets ((source_table, disposition, reason), (source_table, disposition),
    (source_table))
order by source_table, disposition = 'all' desc, disposition, reason = 'all' desc, reason;
