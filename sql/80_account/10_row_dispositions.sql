-- stage: account / step: row dispositions
-- reads: build.row_accounting, build.quarantine, build.patients, build.patient_exclusions,
--        staging.treatments, staging.administrations, staging.line_administrations,
--        staging.diagnoses, staging.biomarkers, staging.metastases, staging.progressions,
--        staging.patients, raw.source_dispositions, variable pre_index_days
-- writes: build.row_dispositions (source_table, disposition, reason, n_rows): what became
--         of every input row — `used`, `quarantined` (reason = rule) or `out_of_scope`
--         (with the reason). Per table the rows add up to rows_in of build.row_accounting.
--         Source rows an adapter counted without landing them come from
--         raw.source_dispositions: `out_of_scope` as counted, `combined` rows (folded into
--         a patient's staged row) `used` for a cohort patient, else out of scope.

create or replace table build.row_dispositions as
with cohort as (
    select patient_id, metastatic_date from build.patients
),

exclusions as (
    select patient_id, reason from build.patient_exclusions
),

treatment_rows as (
    -- one row per staged treatment row, with what the pipeline did with it
    select
        treatments.record_key,
        treatments.patient_id,
        cohort.patient_id is not null as in_cohort,
        exclusions.reason as exclusion_reason,
        mapped.record_key is not null as mapped,
        coalesce(mapped.any_line_forming, false) as line_forming,
        coalesce(mapped.any_her2_directed, false) as her2_directed,
        treatments.setting in ('neoadjuvant', 'adjuvant')
            or treatments.start_date
                < cohort.metastatic_date - to_days(getvariable('pre_index_days')::integer)
            as before_metastatic,
        in_line.record_key is not null as in_line,
        coalesce(in_line.all_duplicates, false) as duplicate
    from staging.treatments as treatments
    left join cohort using (patient_id)
    left join exclusions using (patient_id)
    left join (
        select record_key, bool_or(line_forming) as any_line_forming,
            bool_or(her2_directed) as any_her2_directed
        from staging.administrations
        group by record_key
    ) as mapped using (record_key)
    left join (
        select record_key, bool_and(duplicate) as all_duplicates
        from staging.line_administrations
        group by record_key
    ) as in_line using (record_key)
),

treatment_reasons as (
    select
        case
            when not in_cohort then 'patient_not_in_cohort: ' || coalesce(exclusion_reason, '?')
            when not mapped then 'unmapped_drug'
            when in_line and duplicate then 'exact_duplicate_counted_once'
            when in_line then 'line_of_therapy'
            when not line_forming then 'supportive_drug'
            when before_metastatic and her2_directed then 'prior_her2_treatment_early_relapse'
            when before_metastatic then 'before_metastatic_disease'
            else 'outside_metastatic_lines'
        end as reason
    from treatment_rows
),

treatment_dispositions as (
    select
        'treatments' as source_table,
        case
            when reason in ('line_of_therapy', 'exact_duplicate_counted_once',
                'prior_her2_treatment_early_relapse') then 'used'
            else 'out_of_scope'
        end as disposition,
        reason
    from treatment_reasons
),

patient_rows as (
    select
        'patients' as source_table,
        case when cohort.patient_id is not null then 'used' else 'out_of_scope' end
            as disposition,
        case when cohort.patient_id is not null then 'cohort_patient'
            else 'patient_not_in_cohort: ' || coalesce(exclusions.reason, '?') end as reason
    from staging.patients as patients
    left join cohort using (patient_id)
    left join exclusions using (patient_id)
),

clinical_rows as (
    select 'diagnoses' as source_table, patient_id from staging.diagnoses
    union all
    select 'biomarkers', patient_id from staging.biomarkers
    union all
    select 'metastases', patient_id from staging.metastases
    union all
    select 'progressions', patient_id from staging.progressions
),

clinical_dispositions as (
    select
        clinical_rows.source_table,
        case when cohort.patient_id is not null then 'used' else 'out_of_scope' end
            as disposition,
        case when cohort.patient_id is not null then 'cohort_patient'
            else 'patient_not_in_cohort' end as reason
    from clinical_rows
    left join cohort using (patient_id)
),

quarantined as (
    select source_table, 'quarantined' as disposition, rule as reason
    from build.quarantine
),

at_source as (
    select
        d.source_table,
        case when d.disposition = 'out_of_scope' then 'out_of_scope'
            when cohort.patient_id is not null then 'used' else 'out_of_scope' end
            as disposition,
        case when d.disposition = 'out_of_scope' or cohort.patient_id is not null then d.reason
            else 'patient_not_in_cohort' end as reason,
        d.n_rows
    from raw.source_dispositions as d
    left join cohort using (patient_id)
),

all_rows as (
    select *, 1 as n_rows from treatment_dispositions
    union all select *, 1 from patient_rows
    union all select *, 1 from clinical_dispositions
    union all select *, 1 from quarantined
    union all select * from at_source
)

select source_table, disposition, reason, sum(n_rows)::bigint as n_rows
from all_rows
group by all
order by source_table, disposition, n_rows desc, reason;
