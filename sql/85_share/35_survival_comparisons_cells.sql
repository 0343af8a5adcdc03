-- stage: share / step: survival comparison cells
-- reads: build.survival_comparisons
-- writes: staging.share_survival_comparisons_cells (one row per endpoint x line x
--         comparison x model; real counts, suppressed in Python)
-- Columns by name: a table an older version (or a test fixture) made keeps those it has.

create or replace table staging.share_survival_comparisons_cells as
select columns(lambda c: list_contains(['endpoint', 'line_number', 'comparison', 'model',
    'method', 'n', 'events', 'n_concordant', 'events_concordant', 'n_not_concordant',
    'events_not_concordant', 'hazard_ratio', 'hr_ci_lower', 'hr_ci_upper', 'p_value',
    'test_statistic', 'covariates', 'status', 'note', 'caveat'], c))
from build.survival_comparisons;
