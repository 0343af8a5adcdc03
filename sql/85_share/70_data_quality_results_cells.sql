-- stage: share / step: data-quality result cells
-- reads: build.data_quality_results
-- writes: staging.share_data_quality_results_cells: every expectation's outcome without
--         its observed value (which may quote an input value) and run id; real counts,
--         suppressed in Python. Columns by name: a results table an older version made
--         keeps the columns it has.

create or replace table staging.share_data_quality_results_cells as
select columns(lambda c: list_contains(['suite', 'expectation', 'expectation_type', 'column_name',
    'severity', 'status', 'success', 'unexpected_count', 'unexpected_percent', 'description'],
    c))
from build.data_quality_results
order by suite, expectation;
