-- stage: share / step: concordance marts
-- reads: staging.share_concordance (the suppressed cells), build.concordance_by_site (its
--        funnel-plot limits and positions)
-- writes: share.concordance_by_line, share.concordance_by_site, share.concordance_by_year:
--         the marts' columns with suppressed counts (null) and rates. A site's control
--         limits are hidden with its evaluable lines; its funnel position is always shown;
--         `expected_rate` is the all-sites rate as share.concordance_by_line shows it.

create or replace table share.concordance_by_line as
select line, line_order, n_patients, n_lines, n_preferred, n_alternative, n_not_recommended,
    n_trial, n_not_evaluable, n_evaluable, n_concordant, concordance_rate
from staging.share_concordance
where site_id = 'all' and year = 'all'
order by line_order;

create or replace table share.concordance_by_site as
with cells as (
    select * from staging.share_concordance
    where site_id <> 'all' and year = 'all'
),

expected as (
    select line, concordance_rate as expected_rate
    from staging.share_concordance
    where site_id = 'all' and year = 'all'
),

funnel as (
    select site_id, line, lower_95, upper_95, lower_998, upper_998, funnel_position
    from build.concordance_by_site
)

select
    cells.site_id, cells.line, cells.line_order, cells.n_patients, cells.n_lines,
    cells.n_preferred, cells.n_alternative, cells.n_not_recommended, cells.n_trial,
    cells.n_not_evaluable, cells.n_evaluable, cells.n_concordant, cells.concordance_rate,
    expected.expected_rate,
    case when cells.n_evaluable is not null then funnel.lower_95 end as lower_95,
    case when cells.n_evaluable is not null then funnel.upper_95 end as upper_95,
    case when cells.n_evaluable is not null then funnel.lower_998 end as lower_998,
    case when cells.n_evaluable is not null then funnel.upper_998 end as upper_998,
    funnel.funnel_position
from cells
left join expected using (line)
left join funnel using (site_id, line)
order by cells.line_order, cells.site_id;

create or replace table share.concordance_by_year as
select year::bigint as year, line, line_order, n_patients, n_lines, n_preferred,
    n_alternative, n_not_recommended, n_trial, n_not_evaluable, n_evaluable, n_concordant,
    guideline_ids, concordance_rate
from staging.share_concordance
where site_id = 'all' and year <> 'all'
order by year, line_order;
