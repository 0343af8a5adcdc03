-- stage: export to OMOP / step: ids
-- reads: raw.patients, raw.diagnoses, raw.biomarkers, raw.metastases, raw.treatments
-- writes: export.person_ids (patient_id -> person_id), export.sites (site_id -> care_site_id)
-- A canonical registry (landed in raw by the canonical reader) is written as OMOP CDM
-- v5.4 tables. person_id numbers patients in file order; ids referenced by other tables
-- but missing from patients get numbers after them (the OMOP adapter then reports them
-- as unknown patients, as the canonical reader does).

create or replace table export.person_ids as
with listed as (
    select patient_id, min(_row_number) as first_row
    from raw.patients
    where patient_id is not null
    group by patient_id
),

referenced as (
    select patient_id from raw.diagnoses
    union select patient_id from raw.biomarkers
    union select patient_id from raw.metastases
    union select patient_id from raw.treatments
),

orphans as (
    select patient_id from referenced
    where patient_id is not null and patient_id not in (select patient_id from listed)
)

select patient_id, row_number() over (order by first_row) as person_id, true as listed
from listed
union all
select patient_id,
    (select count(*) from listed) + row_number() over (order by patient_id), false
from orphans;

create or replace table export.sites as
select site_id, row_number() over (order by site_id) as care_site_id
from (select distinct site_id from raw.patients where site_id is not null);
