-- stage: omop adapter / step: patients
-- reads: omop_src.person, omop_src.population, omop_src.care_site, omop_src.death,
--        omop_src.observation_period, map_gender
-- writes: omop_src.person_ids (person_id -> canonical patient_id),
--         omop_src.out_patients (canonical patients rows, text: the population only)
-- patient_id is person_source_value (the registry's own id) or else person_id. A birth
-- date given only as year (and month) is placed on 1 July (or the 15th). Persons
-- without a breast cancer condition are counted out of scope (90_dispositions.sql).

create or replace table omop_src.person_ids as
select person_id, coalesce(nullif(trim(person_source_value), ''), person_id::varchar) as patient_id
from omop_src.person;

create or replace table omop_src.out_patients as
with deaths as (
    select person_id, min(death_date) as death_date
    from omop_src.death
    group by person_id
),

periods as (
    select person_id, max(observation_period_end_date) as last_contact_date
    from omop_src.observation_period
    group by person_id
),

sites as (
    select care_site_id,
        coalesce(nullif(trim(care_site_source_value), ''), nullif(trim(care_site_name), ''))
            as site_id
    from omop_src.care_site
)

select
    ids.patient_id,
    coalesce(sites.site_id, person.care_site_id::varchar) as site_id,
    strftime(coalesce(
        person.birth_datetime::date,
        try(make_date(person.year_of_birth, coalesce(person.month_of_birth, 7),
            coalesce(person.day_of_birth, case when person.month_of_birth is null then 1 else 15 end)))
    ), '%Y-%m-%d') as birth_date,
    coalesce(
        gender.sex,
        case when upper(trim(person.gender_source_value)) in ('F', 'M', 'U')
            then upper(trim(person.gender_source_value)) end,
        case when person.gender_concept_id <> 0 then 'U' end
    ) as sex,
    strftime(deaths.death_date, '%Y-%m-%d') as death_date,
    strftime(periods.last_contact_date, '%Y-%m-%d') as last_contact_date,
    getvariable('omop_prefix') || 'person' as _src,
    person.person_id as _src_row
from omop_src.person as person
join omop_src.population using (person_id)
join omop_src.person_ids as ids using (person_id)
left join map_gender as gender on gender.concept_id = person.gender_concept_id
left join sites on sites.care_site_id = person.care_site_id
left join deaths using (person_id)
left join periods using (person_id);
