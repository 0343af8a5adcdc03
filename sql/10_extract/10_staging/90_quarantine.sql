-- stage: staging / step: quarantine and row accounting
-- reads: staging.*_checked, raw.load_rejects, raw.source_rejects, raw.load_log
-- writes: build.quarantine (one row per quarantined input row, SPEC §8),
--         build.row_accounting (rows in = rows staged + rows quarantined, per table)

create or replace table build.quarantine as
with checked as (
    select source_table, record_key(source_file, row_number) as record_key, patient_id, rule,
        detail
    from (
        select source_table, source_file, row_number, patient_id, rule, detail
        from staging.patients_checked
        union all
        select source_table, source_file, row_number, patient_id, rule, detail
        from staging.diagnoses_checked
        union all
        select source_table, source_file, row_number, patient_id, rule, detail
        from staging.biomarkers_checked
        union all
        select source_table, source_file, row_number, patient_id, rule, detail
        from staging.metastases_checked
        union all
        select source_table, source_file, row_number, patient_id, rule, detail
        from staging.treatments_checked
        union all
        select source_table, source_file, row_number, patient_id, rule, detail
        from staging.progressions_checked
    )
    where rule is not null
),

malformed as (
    select
        source_table,
        record_key(source_file, line) as record_key,
        null::varchar as patient_id,
        'malformed_row' as rule,
        error_type || ': ' || error_message || ' — line was: ' || left(csv_line, 200) as detail
    from raw.load_rejects
),

-- source records an adapter (OMOP, FHIR) read but could not use
source_rejects as (
    select source_table, record_key, null::varchar as patient_id, rule, detail
    from raw.source_rejects
)

select source_table, record_key, rule, detail, patient_id
from checked
union all
select source_table, record_key, rule, detail, patient_id
from malformed
union all
select source_table, record_key, rule, detail, patient_id
from source_rejects
order by source_table, record_key;

create or replace table build.row_accounting as
with staged as (
    select source_table, count(*) filter (where rule is null) as rows_staged
    from (
        select source_table, rule from staging.patients_checked
        union all select source_table, rule from staging.diagnoses_checked
        union all select source_table, rule from staging.biomarkers_checked
        union all select source_table, rule from staging.metastases_checked
        union all select source_table, rule from staging.treatments_checked
        union all select source_table, rule from staging.progressions_checked
    )
    group by source_table
),

loaded as (
    select source_table, sum(n_rows + n_rejected)::bigint as rows_in
    from raw.load_log
    group by source_table
),

quarantined as (
    select source_table, count(*) as rows_quarantined
    from build.quarantine
    group by source_table
)

select
    staged.source_table,
    coalesce(loaded.rows_in, 0) as rows_in,
    staged.rows_staged,
    coalesce(quarantined.rows_quarantined, 0) as rows_quarantined,
    coalesce(loaded.rows_in, 0) = staged.rows_staged + coalesce(quarantined.rows_quarantined, 0)
        as balanced
from staged
left join loaded using (source_table)
left join quarantined using (source_table)
order by staged.source_table;
