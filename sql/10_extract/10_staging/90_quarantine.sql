-- stage: staging / step: quarantine and row accounting
-- reads: staging.*_checked, raw.load_rejects, raw.source_rejects, raw.load_log,
--        raw.source_dispositions
-- writes: build.quarantine (one row per quarantined input row),
--         build.row_accounting (per table: rows in = rows staged + rows quarantined
--         + rows out of scope + rows combined; the last two are source rows an adapter
--         counted without landing them, see raw.source_dispositions)

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
    select source_table, sum(n_rows + n_rejected)::bigint as rows_landed
    from raw.load_log
    group by source_table
),

at_source as (
    select
        source_table,
        coalesce(sum(n_rows) filter (where disposition = 'out_of_scope'), 0)::bigint
            as rows_out_of_scope,
        coalesce(sum(n_rows) filter (where disposition = 'combined'), 0)::bigint
            as rows_combined
    from raw.source_dispositions
    group by source_table
),

quarantined as (
    select source_table, count(*) as rows_quarantined
    from build.quarantine
    group by source_table
),

counts as (
    select
        staged.source_table,
        coalesce(loaded.rows_landed, 0) + coalesce(at_source.rows_out_of_scope, 0)
            + coalesce(at_source.rows_combined, 0) as rows_in,
        staged.rows_staged,
        coalesce(quarantined.rows_quarantined, 0) as rows_quarantined,
        coalesce(at_source.rows_out_of_scope, 0) as rows_out_of_scope,
        coalesce(at_source.rows_combined, 0) as rows_combined
    from staged
    left join loaded using (source_table)
    left join at_source using (source_table)
    left join quarantined using (source_table)
)

select
    source_table,
    rows_in,
    rows_staged,
    rows_quarantined,
    rows_in = rows_staged + rows_quarantined + rows_out_of_scope + rows_combined as balanced,
    rows_out_of_scope,
    rows_combined
from counts
order by source_table;
