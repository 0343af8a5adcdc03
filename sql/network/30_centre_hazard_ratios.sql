-- stage: network / step: centre hazard ratios
-- reads: network.centre_survival_comparisons, variable network_z (the normal quantile of
--        the intervals' confidence level, 1.96 for 95%)
-- writes: network.centre_hazard_ratios: one row per centre x endpoint x line x Cox model
--         with an estimated hazard ratio (concordant vs not concordant), its log and the
--         standard error of the log recovered from the interval:
--         (log upper - log lower) / (2 z). Comparisons a centre could not estimate
--         (too small, no events in a group, failed) are not in it.

create or replace table network.centre_hazard_ratios as
select
    centre,
    endpoint,
    line_number,
    model,
    hazard_ratio,
    hr_ci_lower,
    hr_ci_upper,
    ln(hazard_ratio) as log_hr,
    (ln(hr_ci_upper) - ln(hr_ci_lower)) / (2 * getvariable('network_z')) as se_log_hr,
    status
from network.centre_survival_comparisons
where model like 'cox%'
    and status in ('estimated', 'convergence_warning')
    and hazard_ratio > 0 and hr_ci_lower > 0 and hr_ci_upper > hr_ci_lower
order by endpoint, line_number, model, centre;
