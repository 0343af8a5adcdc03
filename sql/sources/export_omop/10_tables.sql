-- stage: export to OMOP / step: tables
-- reads: raw.*, export.person_ids, export.sites, export_codes_* (temp, from
--        rules/omop_mapping.yaml: export_condition_codes, biomarkers, stage)
-- writes: export.person, export.care_site, export.death, export.observation_period,
--         export.condition_occurrence, export.measurement, export.drug_exposure
-- Concept ids are the verified ones of the mapping (gender, breast cancer) or 0 with
-- the code in *_source_value (ICD-10-CM for secondary malignancies, LOINC for tests),
-- as an OMOP ETL without a mapped concept writes them. A single administration (no
-- end_date) is a one-day exposure. Setting and progressions have no OMOP field and
-- are not written.

create or replace macro iso_date(x) as try_strptime(trim(x), '%Y-%m-%d')::date;

create or replace table export.person as
select
    ids.person_id,
    case upper(p.sex) when 'F' then 8532 when 'M' then 8507 else 0 end as gender_concept_id,
    year(iso_date(p.birth_date)) as year_of_birth,
    month(iso_date(p.birth_date)) as month_of_birth,
    day(iso_date(p.birth_date)) as day_of_birth,
    iso_date(p.birth_date)::timestamp as birth_datetime,
    0 as race_concept_id,
    0 as ethnicity_concept_id,
    null::bigint as location_id,
    null::bigint as provider_id,
    sites.care_site_id,
    p.patient_id as person_source_value,
    p.sex as gender_source_value,
    0 as gender_source_concept_id
from raw.patients as p
join export.person_ids as ids on ids.patient_id = p.patient_id and ids.listed
left join export.sites as sites using (site_id)
qualify row_number() over (partition by p.patient_id order by p._row_number) = 1
order by ids.person_id;

create or replace table export.care_site as
select care_site_id, site_id as care_site_name, null::bigint as place_of_service_concept_id,
    null::bigint as location_id, site_id as care_site_source_value
from export.sites
order by care_site_id;

create or replace table export.death as
select ids.person_id, iso_date(p.death_date) as death_date, 0 as death_type_concept_id
from raw.patients as p
join export.person_ids as ids on ids.patient_id = p.patient_id and ids.listed
where iso_date(p.death_date) is not null
qualify row_number() over (partition by p.patient_id order by p._row_number) = 1
order by ids.person_id;

create or replace table export.observation_period as
with first_dates as (
    select patient_id, min(iso_date(diagnosis_date)) as first_date
    from raw.diagnoses group by patient_id
)
select
    row_number() over (order by ids.person_id) as observation_period_id,
    ids.person_id,
    least(coalesce(first_dates.first_date, iso_date(p.last_contact_date)),
        iso_date(p.last_contact_date)) as observation_period_start_date,
    iso_date(p.last_contact_date) as observation_period_end_date,
    0 as period_type_concept_id
from raw.patients as p
join export.person_ids as ids on ids.patient_id = p.patient_id and ids.listed
left join first_dates on first_dates.patient_id = p.patient_id
where iso_date(p.last_contact_date) is not null
qualify row_number() over (partition by p.patient_id order by p._row_number) = 1
order by ids.person_id;

create or replace table export.condition_occurrence as
with breast as (
    select ids.person_id, iso_date(d.diagnosis_date) as start_date,
        codes.omop_concept_id as concept_id, codes.icd10cm as source_value, 1 as kind,
        d._row_number
    from raw.diagnoses as d
    join export.person_ids as ids using (patient_id)
    cross join export_codes_breast as codes
),

metastatic as (
    select ids.person_id, iso_date(d.metastatic_date), 0, codes.icd10cm, 2, d._row_number
    from raw.diagnoses as d
    join export.person_ids as ids using (patient_id)
    cross join export_codes_metastasis as codes
    where iso_date(d.metastatic_date) is not null
),

sites as (
    select ids.person_id, iso_date(m.diagnosis_date), 0, codes.icd10cm, 3, m._row_number
    from raw.metastases as m
    join export.person_ids as ids using (patient_id)
    join export_codes_sites as codes on codes.site = lower(m.site)
),

all_conditions as (
    select * from breast union all select * from metastatic union all select * from sites
)

select
    row_number() over (order by kind, _row_number) as condition_occurrence_id,
    person_id,
    concept_id as condition_concept_id,
    start_date as condition_start_date,
    start_date::timestamp as condition_start_datetime,
    null::date as condition_end_date,
    0 as condition_type_concept_id,
    0 as condition_status_concept_id,
    source_value as condition_source_value,
    0 as condition_source_concept_id
from all_conditions
where start_date is not null
order by condition_occurrence_id;

create or replace table export.measurement as
with tests as (
    select ids.person_id, iso_date(b.test_date) as measurement_date, codes.loinc,
        b.result, 1 as kind, b._row_number
    from raw.biomarkers as b
    join export.person_ids as ids using (patient_id)
    join export_codes_biomarkers as codes
        on codes.marker = upper(b.marker)
        and (codes.method = coalesce(upper(b.method), 'UNKNOWN') or codes.method = '*')
),

stages as (
    select ids.person_id, iso_date(d.diagnosis_date), codes.loinc, d.stage_at_diagnosis, 2,
        d._row_number
    from raw.diagnoses as d
    join export.person_ids as ids using (patient_id)
    cross join export_codes_stage as codes
    where d.stage_at_diagnosis is not null and lower(d.stage_at_diagnosis) <> 'unknown'
)

select
    row_number() over (order by kind, _row_number) as measurement_id,
    person_id,
    0 as measurement_concept_id,
    measurement_date,
    0 as measurement_type_concept_id,
    case when result like '%\%%' escape '\' then try_cast(rtrim(result, ' %') as double) end
        as value_as_number,
    0 as value_as_concept_id,
    case when result like '%\%%' escape '\' then '%' end as unit_source_value,
    result as value_source_value,
    loinc as measurement_source_value,
    0 as measurement_source_concept_id
from (select * from tests union all select * from stages) as all_tests
where measurement_date is not null
order by measurement_id;

create or replace table export.drug_exposure as
select
    row_number() over (order by t._row_number) as drug_exposure_id,
    ids.person_id,
    0 as drug_concept_id,
    iso_date(t.start_date) as drug_exposure_start_date,
    coalesce(iso_date(t.end_date), iso_date(t.start_date)) as drug_exposure_end_date,
    0 as drug_type_concept_id,
    t.route as route_source_value,
    t.drug as drug_source_value,
    0 as drug_source_concept_id
from raw.treatments as t
join export.person_ids as ids using (patient_id)
where iso_date(t.start_date) is not null and t.drug is not null
order by drug_exposure_id;
