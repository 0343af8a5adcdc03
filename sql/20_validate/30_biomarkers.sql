-- stage: validate / step: biomarkers batch
-- reads: staging.biomarkers, staging.dq_quarantined
-- writes: staging.dq_biomarkers (view; one row per biomarkers input row)
-- her2_equivocal is set on HER2 rows only (null otherwise), so its mean is the share
-- of HER2 results that are IHC 2+ or ISH equivocal.

create or replace view staging.dq_biomarkers as
with staged as (
    select
        1::tinyint as staged,
        0::tinyint as quarantined,
        marker,
        year(test_date)::smallint as test_year,
        case when marker = 'HER2' then (result in ('2+', 'equivocal'))::tinyint end
            as her2_equivocal
    from staging.biomarkers
),

quarantined as (
    select
        0::tinyint as staged,
        1::tinyint as quarantined,
        null::varchar as marker,
        null::smallint as test_year,
        null::tinyint as her2_equivocal
    from dq_quarantined_rows('biomarkers')
)

select * from staged
union all
select * from quarantined;
