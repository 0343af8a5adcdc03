-- stage: lines / step: inputs
-- reads: staging.administrations, build.patients, staging.line_ingredient_rules,
--   variable pre_index_days
-- writes: temp lot_patients (cohort patients with an integer pid), temp view lot_adm (the
--   line-forming administrations of cohort patients in the metastatic setting, integer
--   keys; her2audit.stages.lines reads it sorted into numpy, see her2audit/stages/lines/core.py)
-- An administration is in the metastatic setting from metastatic_date - pre_index_days
-- on, unless its setting says neoadjuvant or adjuvant. Supportive drugs never take part.
-- Days are integers (days since 1970-01-01) in the work tables, for speed.

create or replace temp table lot_patients as
select
    row_number() over (order by patient_id)::integer as pid,
    patient_id,
    metastatic_date,
    death_date,
    metastatic_date - getvariable('pre_index_days')::integer as metastatic_setting_from
from build.patients
where metastatic_date is not null;

create or replace temp view lot_adm as
select
    patients.pid,
    rules.ingredient_id,
    (administrations.start_date - date '1970-01-01')::integer as start_day,
    (greatest(administrations.start_date,
        coalesce(administrations.end_date, administrations.start_date))
        - date '1970-01-01')::integer as last_day
from staging.administrations as administrations
join lot_patients as patients using (patient_id)
join staging.line_ingredient_rules as rules using (ingredient)
where administrations.line_forming
    and administrations.start_date >= patients.metastatic_setting_from
    and coalesce(administrations.setting, 'unknown') not in ('neoadjuvant', 'adjuvant');
