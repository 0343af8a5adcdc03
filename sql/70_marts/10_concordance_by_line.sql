-- stage: marts / step: concordance by line
-- reads: staging.mart_judged_lines
-- writes: build.concordance_by_line (one row per line group '1', '2', '3', '4+' and
--         one row 'all'; counts per concordance category and the concordance rate among
--         evaluable lines)

create or replace table build.concordance_by_line as
with judged as (
    select * from staging.mart_judged_lines
),

per_line as (
    select
        coalesce(line, 'all') as line,
        coalesce(line_order, 0) as line_order,
        count(distinct patient_id) as n_patients,
        count(*) as n_lines,
        count(*) filter (where category = 'preferred') as n_preferred,
        count(*) filter (where category = 'alternative') as n_alternative,
        count(*) filter (where category = 'not_recommended') as n_not_recommended,
        count(*) filter (where category = 'trial') as n_trial,
        count(*) filter (where category = 'not_evaluable') as n_not_evaluable,
        count(*) filter (where evaluable) as n_evaluable,
        count(*) filter (where concordant) as n_concordant
    from judged
    group by grouping sets ((line, line_order), ())
)

select
    *,
    mart_rate(n_concordant, n_evaluable) as concordance_rate
from per_line
order by line_order;
