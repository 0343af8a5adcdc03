-- stage: validate / step: treatments batch
-- reads: staging.treatments, staging.dq_mapped_records, staging.dq_quarantined
-- writes: staging.dq_treatments (view; one row per treatments input row)
-- drug_mapped is 1 when the row's drug maps to at least one ingredient (its record is
-- in staging.administrations); null when this build has no drug mapping yet
-- (getvariable('dq_has_drug_mapping') is false), and the expectation on it is then
-- reported as not evaluated.

create or replace view staging.dq_treatments as
with mapped as (
    select distinct record_key from staging.dq_mapped_records
),

staged as (
    select
        1 as staged,
        0::double as quarantined,
        treatments.start_date,
        date_diff('day', treatments.start_date, treatments.end_date) as course_days,
        (treatments.setting = 'unknown')::int::double as setting_unknown,
        case when getvariable('dq_has_drug_mapping') then
            (mapped.record_key is not null)::int::double end as drug_mapped
    from staging.treatments as treatments
    left join mapped using (record_key)
),

quarantined as (
    select
        0 as staged,
        1::double as quarantined,
        null::date as start_date,
        null::bigint as course_days,
        null::double as setting_unknown,
        null::double as drug_mapped
    from dq_quarantined_rows('treatments')
)

select * from staged
union all
select * from quarantined;
