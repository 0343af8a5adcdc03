-- stage: validate / step: treatments batch
-- reads: staging.treatments, staging.dq_unmapped_drug_keys, staging.dq_quarantined
-- writes: staging.dq_treatments (view; one row per treatments input row)
-- The largest batch (about 100 rows per patient), so only small numeric columns:
-- years instead of dates, 0/1 flags. drug_mapped is 0 for a row whose spelling is listed
-- in build.unmapped_drugs (matched on the same case- and space-folded key the drug
-- vocabulary uses), 1 otherwise; null when this build has no drug mapping
-- (getvariable('dq_has_drug_mapping') is false), and the expectations on it are then
-- reported as not evaluated.

create or replace view staging.dq_treatments as
with unmapped as (
    select distinct drug_key from staging.dq_unmapped_drug_keys
),

staged as (
    select
        1::tinyint as staged,
        0::tinyint as quarantined,
        year(treatments.start_date)::smallint as start_year,
        date_diff('day', treatments.start_date, treatments.end_date)::integer as course_days,
        (treatments.setting = 'unknown')::tinyint as setting_unknown,
        case when getvariable('dq_has_drug_mapping') then
            (unmapped.drug_key is null)::tinyint end as drug_mapped
    from staging.treatments as treatments
    left join unmapped using (drug_key)
),

quarantined as (
    select
        0::tinyint as staged,
        1::tinyint as quarantined,
        null::smallint as start_year,
        null::integer as course_days,
        null::tinyint as setting_unknown,
        null::tinyint as drug_mapped
    from dq_quarantined_rows('treatments')
)

select * from staged
union all
select * from quarantined;
