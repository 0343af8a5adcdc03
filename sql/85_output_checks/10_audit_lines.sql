-- stage: publish (output checks) / step: lines batch
-- reads: build.lines_of_therapy, build.line_concordance
-- writes: staging.dq_audit_lines (view; one row per line key found in either table)
-- The invariants of the published line tables (expectations/audit_tables.json): one
-- row per line in each table, line numbers consecutive from 1 per patient, start on or
-- before end, categories in the allowed sets.

create or replace view staging.dq_audit_lines as
with lines as (
    select
        patient_id,
        line_number,
        start_date,
        end_date,
        end_reason,
        regimen_group,
        n_administrations,
        count(*) over (partition by patient_id, line_number) as n_line_rows,
        row_number() over (partition by patient_id order by line_number) as expected_line_number
    from build.lines_of_therapy
),

concordance as (
    select
        patient_id,
        line_number,
        category,
        concordant,
        count(*) over (partition by patient_id, line_number) as n_concordance_rows
    from build.line_concordance
)

select
    coalesce(lines.patient_id, concordance.patient_id) as patient_id,
    coalesce(lines.line_number, concordance.line_number) as line_number,
    lines.expected_line_number,
    lines.start_date,
    lines.end_date,
    lines.end_reason,
    lines.regimen_group,
    lines.n_administrations,
    coalesce(lines.n_line_rows, 0) as n_line_rows,
    coalesce(concordance.n_concordance_rows, 0) as n_concordance_rows,
    concordance.category,
    concordance.concordant = (concordance.category in ('preferred', 'alternative'))
        as concordant_matches_category
from lines
full outer join concordance using (patient_id, line_number);
