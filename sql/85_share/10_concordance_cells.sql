-- stage: share / step: concordance cells
-- reads: build.concordance_by_line, build.concordance_by_site, build.concordance_by_year
-- writes: staging.share_concordance_cells: the three concordance marts as one table of cells
--         keyed by (line, site_id, year), 'all' marking a total over a dimension, so that
--         one suppression protects the margins the three marts share (a site's line groups
--         add up to its 'all' row, the sites of a line group to the all-sites row of
--         concordance_by_line, the years likewise). Real counts: suppressed in Python.

create or replace table staging.share_concordance_cells as
with by_line as (
    select line, line_order, 'all' as site_id, 'all' as year, n_patients, n_lines,
        n_preferred, n_alternative, n_not_recommended, n_trial, n_not_evaluable,
        n_evaluable, n_concordant, null::varchar as guideline_ids
    from build.concordance_by_line
),

by_site as (
    select line, line_order, site_id, 'all' as year, n_patients, n_lines,
        n_preferred, n_alternative, n_not_recommended, n_trial, n_not_evaluable,
        n_evaluable, n_concordant, null::varchar as guideline_ids
    from build.concordance_by_site
),

by_year as (
    select line, line_order, 'all' as site_id, year::varchar as year, n_patients, n_lines,
        n_preferred, n_alternative, n_not_recommended, n_trial, n_not_evaluable,
        n_evaluable, n_concordant, guideline_ids
    from build.concordance_by_year
)

select * from by_line
union all
select * from by_site
union all
select * from by_year;
