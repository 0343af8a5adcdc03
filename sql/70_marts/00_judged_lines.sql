-- stage: marts / step: judged lines (shared input of every concordance mart)
-- reads: build.line_concordance, build.lines_of_therapy, build.patients
-- writes: staging.mart_judged_lines (one row per judged line with its site, start year
--         and line group '1', '2', '3' or '4+')
--         and the macro mart_rate(numerator, denominator) (null when denominator is 0)

create or replace table staging.mart_judged_lines as
with concordance as (
    select patient_id, line_number, guideline_id, category, concordant
    from build.line_concordance
),

lines as (
    select patient_id, line_number, start_date
    from build.lines_of_therapy
),

patients as (
    select patient_id, coalesce(site_id, 'unknown') as site_id
    from build.patients
)

select
    concordance.patient_id,
    concordance.line_number,
    case when concordance.line_number >= 4 then '4+' else concordance.line_number::varchar end
        as line,
    least(concordance.line_number, 4) as line_order,
    coalesce(patients.site_id, 'unknown') as site_id,
    year(lines.start_date) as start_year,
    concordance.guideline_id,
    concordance.category,
    coalesce(concordance.concordant, false) as concordant,
    -- evaluable as in the line_concordance quality indicator: trial participation and
    -- not-evaluable lines are neither concordant nor discordant
    concordance.category in ('preferred', 'alternative', 'not_recommended') as evaluable
from concordance
left join lines using (patient_id, line_number)
left join patients using (patient_id);

-- The concordance rate of every mart, as one macro so the three marts agree.
create or replace macro mart_rate(numerator, denominator) as
    case when denominator > 0 then numerator::double / denominator end;
