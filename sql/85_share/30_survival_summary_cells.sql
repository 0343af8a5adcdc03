-- stage: share / step: survival summary cells
-- reads: build.survival_summary
-- writes: staging.share_survival_summary_cells (one row per endpoint x grouping x group;
--         real counts, suppressed in Python; the groups of a grouping add up to the
--         'line' or 'overall' row of the same endpoint and line)
-- Columns by name: a table an older version (or a test fixture) made keeps those it has.

create or replace table staging.share_survival_summary_cells as
select columns(lambda c: list_contains(['endpoint', 'grouping', 'group_label', 'line_number',
    'group_value', 'n', 'events', 'median_days', 'median_ci_lower_days', 'median_ci_upper_days',
    'status'], c))
from build.survival_summary;
