-- stage: marts / step: concordance by site
-- reads: staging.mart_judged_lines
-- writes: build.concordance_by_site (one row per site x line group, line 'all' included:
--         counts per category, concordance rate among evaluable lines and the rate of all
--         sites together for the same line group, `expected_rate`). The marts stage then
--         adds the funnel-plot control limits and each site's position (her2audit.stages.marts).

create or replace table build.concordance_by_site as
with judged as (
    select * from staging.mart_judged_lines
),

per_site as (
    select
        site_id,
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
    group by grouping sets ((site_id, line, line_order), (site_id))
),

all_sites as (
    select
        coalesce(line, 'all') as line,
        mart_rate(
            count(*) filter (where concordant),
            count(*) filter (where evaluable)
        ) as expected_rate
    from judged
    group by grouping sets ((line), ())
)

select
    per_site.*,
    mart_rate(per_site.n_concordant, per_site.n_evaluable) as concordance_rate,
    all_sites.expected_rate
from per_site
left join all_sites using (line)
order by per_site.line_order, per_site.site_id;
