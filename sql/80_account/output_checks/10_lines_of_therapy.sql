-- stage: account (output checks) / step: lines of therapy batch
-- reads: build.lines_of_therapy
-- writes: staging.dq_audit_lines (view; one row per row of build.lines_of_therapy)
-- For expectations/audit_lines_of_therapy.json: one row per line, line numbers
-- consecutive from 1 per patient, start on or before end, values in the allowed sets.

create or replace view staging.dq_audit_lines as
select
    patient_id,
    line_number,
    row_number() over (partition by patient_id order by line_number) as expected_line_number,
    count(*) over (partition by patient_id, line_number) as n_rows_with_key,
    start_date,
    end_date,
    end_reason,
    regimen_group,
    n_administrations
from build.lines_of_therapy;
