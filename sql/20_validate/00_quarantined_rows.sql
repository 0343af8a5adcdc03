-- stage: validate / step: quarantined rows per table
-- reads: build.quarantine
-- writes: staging.dq_quarantined (source_table, n_rows)
-- The data-quality batches below hold one row per input row: staged rows with the
-- columns the expectations look at, and quarantined rows (including malformed CSV
-- lines) as rows flagged `quarantined = 1`, so a suite can bound the quarantine rate
-- without re-checking the row-level rules the reader already applied.

create or replace table staging.dq_quarantined as
select source_table, count(*) as n_rows
from build.quarantine
group by source_table;

create or replace macro dq_quarantined_rows(table_name) as table
    select 1 as n
    from staging.dq_quarantined as q, range(q.n_rows)
    where q.source_table = table_name;
