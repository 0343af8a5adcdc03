-- stage: account (output checks) / step: line concordance batch
-- reads: build.lines_of_therapy, build.line_concordance
-- writes: staging.dq_audit_concordance (view; one row per line key in either table)
-- For expectations/audit_line_concordance.json: exactly one concordance row per line,
-- categories in the allowed set, `concordant` true exactly for preferred/alternative.

create or replace view staging.dq_audit_concordance as
with lines as (
    select distinct patient_id, line_number
    from build.lines_of_therapy
),

concordance as (
    select
        patient_id,
        line_number,
        category,
        concordant,
        count(*) over (partition by patient_id, line_number) as n_rows_with_key
    from build.line_concordance
)

select
    coalesce(lines.patient_id, concordance.patient_id) as patient_id,
    coalesce(lines.line_number, concordance.line_number) as line_number,
    (lines.patient_id is not null)::int as has_line,
    coalesce(concordance.n_rows_with_key, 0) as n_concordance_rows,
    concordance.category,
    concordance.concordant = (concordance.category in ('preferred', 'alternative'))
        as concordant_matches_category
from lines
full outer join concordance using (patient_id, line_number);
