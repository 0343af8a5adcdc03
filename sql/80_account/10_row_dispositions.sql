-- stage: account / step: row dispositions
-- reads: build.row_accounting, build.quarantine, build.patients, build.patient_exclusions,
--        staging.patients, staging.treatment_rows, staging.treatment_values,
--        staging.drug_mapping,
--        staging.line_ingredient_rules, staging.line_starts, staging.line_duplicate_groups,
--        staging.diagnoses, staging.biomarkers, staging.metastases, staging.progressions,
--        raw.source_dispositions, variable pre_index_days
-- writes: build.row_dispositions (source_table, disposition, reason, n_rows): what became
--         of every input row — `used`, `quarantined` (reason = rule) or `out_of_scope`
--         (with the reason). Per table the rows add up to rows_in of build.row_accounting.
--         Source rows an adapter counted without landing them come from
--         raw.source_dispositions: `out_of_scope` as counted, `combined` rows (folded into
--         a patient's staged row) `used` for a cohort patient, else out of scope.
--
-- Bounded memory at any size: every treatment row is classified in one streaming pass
-- against small tables (one row per patient, one per combination of the row's texts,
-- joined by its integer value_id: staging.treatments' good rows without rebuilding their
-- texts) and counted at once; no join or sort keyed by row. A treatment row is in a line of therapy when one
-- of its drug's line-forming ingredients is given in the metastatic setting of a patient
-- with lines, on or after the first line's start (what staging.line_administrations
-- assigns). The rows that only repeat an earlier identical administration
-- (staging.line_administrations' `duplicate`) are found among the few groups the lines
-- stage saw repeated, and moved from `line_of_therapy` to `exact_duplicate_counted_once`.

create or replace table build.row_dispositions as
with line_patients as (
    select
        patient_id,
        min(start_date) as first_line_start,
        any_value(metastatic_setting_from) as metastatic_setting_from
    from staging.line_starts
    group by patient_id
),

patient_flags as (
    -- one row per staged patient: cohort, exclusion, where the lines begin
    select
        patients.patient_id,
        cohort.patient_id is not null as in_cohort,
        -- a date, so that each treatment row compares dates (not a timestamp per row)
        cohort.metastatic_date - getvariable('pre_index_days')::integer
            as pre_index_window_start,
        exclusions.reason as exclusion_reason,
        line_patients.first_line_start,
        line_patients.metastatic_setting_from
    from staging.patients as patients
    left join build.patients as cohort using (patient_id)
    left join build.patient_exclusions as exclusions using (patient_id)
    left join line_patients using (patient_id)
),

value_mapping as (
    -- the drug mapping of each combination of a treatment row's texts
    -- (staging.treatment_values): one row per ingredient it maps to
    select
        source_values.value_id,
        mapping.ingredient,
        mapping.line_forming,
        mapping.her2_directed,
        mapping.line_forming and rules.ingredient is not null as forms_lines
    from staging.treatment_values as source_values
    join staging.drug_mapping as mapping
        on mapping.drug is not distinct from source_values.drug
        and mapping.code_system is not distinct from source_values.code_system
        and mapping.drug_code is not distinct from source_values.drug_code
    left join staging.line_ingredient_rules as rules using (ingredient)
),

value_flags as (
    -- one row per combination of a treatment row's texts: what its drug's ingredients
    -- are, and what its setting says
    select
        source_values.value_id,
        source_values.source_file,
        bool_or(value_mapping.line_forming) is not null as mapped,
        coalesce(bool_or(value_mapping.line_forming), false) as line_forming,
        coalesce(bool_or(value_mapping.her2_directed), false) as her2_directed,
        coalesce(bool_or(value_mapping.forms_lines), false) as forms_lines,
        source_values.setting in ('neoadjuvant', 'adjuvant') as early_setting,
        coalesce(source_values.setting, 'unknown') not in ('neoadjuvant', 'adjuvant')
            as metastatic_setting
    from staging.treatment_values as source_values
    left join value_mapping using (value_id)
    group by all
),

treatment_rows as (
    -- one row per staged treatment row (the rows of staging.treatments: no rule broken),
    -- with what the pipeline did with it
    select
        coalesce(patients.in_cohort, false) as in_cohort,
        patients.exclusion_reason,
        value_flags.mapped,
        value_flags.line_forming,
        value_flags.her2_directed,
        value_flags.early_setting
            or treatments.start_date < patients.pre_index_window_start
            as before_metastatic,
        coalesce(
            value_flags.forms_lines
            and treatments.start_date >= patients.metastatic_setting_from
            and treatments.start_date >= patients.first_line_start
            and value_flags.metastatic_setting,
            false
        ) as in_line
    from staging.treatment_rows as treatments
    join value_flags using (value_id)
    left join patient_flags as patients using (patient_id)
    where treatments.rule is null
),

treatment_kinds as (
    -- the rows counted by what the pipeline did with them (a few dozen combinations) before
    -- any reason is written: a reason text made and grouped for each of 100 million rows
    -- was most of this step's time
    select
        in_cohort,
        exclusion_reason,
        mapped,
        line_forming,
        her2_directed,
        before_metastatic,
        in_line,
        count(*) as n_rows
    from treatment_rows
    group by all
),

treatment_reasons as (
    select
        case
            when not in_cohort then 'patient_not_in_cohort: ' || coalesce(exclusion_reason, '?')
            when not mapped then 'unmapped_drug'
            when in_line then 'line_of_therapy'
            when not line_forming then 'supportive_drug'
            when before_metastatic and her2_directed then 'prior_her2_treatment_early_relapse'
            when before_metastatic then 'before_metastatic_disease'
            else 'outside_metastatic_lines'
        end as reason,
        n_rows
    from treatment_kinds
),

treatment_dispositions as (
    select
        'treatments' as source_table,
        case
            when reason in ('line_of_therapy', 'prior_her2_treatment_early_relapse') then 'used'
            else 'out_of_scope'
        end as disposition,
        reason,
        sum(n_rows)::bigint as n_rows
    from treatment_reasons
    group by all
),

repeat_candidates as (
    -- the in-line administrations of the (patient, start date)s where the lines stage saw
    -- an identical administration repeated: a small set, keyed by row only here
    select
        value_flags.source_file || ':' || treatments.row_number::varchar as record_key,
        treatments.patient_id,
        value_mapping.ingredient,
        treatments.start_date,
        coalesce(treatments.end_date, treatments.start_date) as end_key
    from staging.treatment_rows as treatments
    semi join (select distinct patient_id, start_date from staging.line_duplicate_groups)
        as repeated using (patient_id, start_date)
    join patient_flags as patients using (patient_id)
    join value_flags using (value_id)
    join value_mapping using (value_id)
    where treatments.rule is null
        and value_mapping.forms_lines
        and treatments.start_date >= patients.metastatic_setting_from
        and treatments.start_date >= patients.first_line_start
        and value_flags.metastatic_setting
),

repeated_records as (
    -- a row counts once already when every one of its in-line administrations repeats an
    -- earlier row's (first by record key, as staging.line_administrations orders them)
    select record_key
    from (
        select
            record_key,
            row_number() over (
                partition by patient_id, ingredient, start_date, end_key order by record_key
            ) > 1 as duplicate
        from repeat_candidates
    )
    group by record_key
    having bool_and(duplicate)
),

duplicate_dispositions as (
    select
        'treatments' as source_table,
        'used' as disposition,
        unnest(['exact_duplicate_counted_once', 'line_of_therapy']) as reason,
        unnest([count(*), -count(*)]) as n_rows
    from repeated_records
),

patient_rows as (
    select
        'patients' as source_table,
        case when in_cohort then 'used' else 'out_of_scope' end as disposition,
        case when in_cohort then 'cohort_patient'
            else 'patient_not_in_cohort: ' || coalesce(exclusion_reason, '?') end as reason
    from patient_flags
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
    left join build.patients as cohort using (patient_id)
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
    left join build.patients as cohort using (patient_id)
),

all_rows as (
    select * from treatment_dispositions
    union all select * from duplicate_dispositions
    union all select *, 1 from patient_rows
    union all select *, 1 from clinical_dispositions
    union all select *, 1 from quarantined
    union all select * from at_source
)

select source_table, disposition, reason, sum(n_rows)::bigint as n_rows
from all_rows
group by all
having sum(n_rows) <> 0
order by source_table, disposition, n_rows desc, reason;
