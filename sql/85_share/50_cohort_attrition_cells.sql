-- stage: share / step: cohort attrition cells
-- reads: build.cohort_attrition
-- writes: staging.share_cohort_attrition_cells (real counts, suppressed in Python: each
--         step's n_patients is the previous step's less its n_excluded)

create or replace table staging.share_cohort_attrition_cells as
select step_order, step, n_patients::bigint as n_patients, n_excluded::bigint as n_excluded,
    reason
from build.cohort_attrition;
