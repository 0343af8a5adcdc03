-- stage: marts / step: concordance by year
-- reads: staging.mart_judged_lines
-- writes: build.concordance_by_year (one row per calendar year of line start x line group,
--         line 'all' included: counts per category and concordance rate among evaluable
--         lines; `guideline_ids` lists the rulebooks that judged that year's lines)

create or replace table build.concordance_by_year as
with judged as (
    select * from staging.mart_judged_lines
    where start_year is not null
),

per_year as (
    select
        start_year as year,
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
        count(*) filter (where concordant) as n_concordant,
        string_agg(distinct guideline_id, ', ' order by guideline_id) as guideline_ids
    from judged
    group by grouping sets ((start_year, line, line_order), (start_year))
)

select
    *,
    mart_rate(n_concordant, n_evaluable) as concordance_rate
from per_year
order by year, line_order;
