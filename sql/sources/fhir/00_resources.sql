-- stage: fhir adapter / step: resources and references
-- reads: fhir_src.entries (one NDJSON line or Bundle entry per row: file, line_number,
--        full_url, text)
-- writes: fhir_src.resources (file, line_number, record_key, full_url, resource_type,
--         resource_id, json), fhir_src.resource_keys (every reference key a resource
--         answers to), fhir_src.ignored_types, fhir_src.rejects (filled by this and the
--         next steps), macros ref_key, ref_id, fhir_day, codings_of
-- An export may hold any resource type; the seven the audit reads are kept.

create or replace table fhir_src.parsed as
select
    file,
    line_number,
    file || ':' || line_number as record_key,
    full_url,
    case when json_valid(text) and json_type(text::json) = 'OBJECT' then text::json end as json
from fhir_src.entries
where trim(text) <> '';

create or replace table fhir_src.resources as
select file, line_number, record_key, full_url, json->>'resourceType' as resource_type,
    json->>'id' as resource_id, json
from fhir_src.parsed
where json is not null
    and json->>'resourceType' in ('Patient', 'Condition', 'Observation', 'Medication',
        'MedicationAdministration', 'MedicationRequest', 'MedicationStatement');

create or replace table fhir_src.ignored_types as
select json->>'resourceType' as resource_type, count(*) as n
from fhir_src.parsed
where json is not null
    and coalesce(json->>'resourceType', '') not in ('Patient', 'Condition', 'Observation',
        'Medication', 'MedicationAdministration', 'MedicationRequest', 'MedicationStatement')
group by all;

-- what the adapter read but cannot use, by the canonical table it would have fed
create or replace table fhir_src.rejects (
    source_table varchar, record_key varchar, rule varchar, detail varchar
);

insert into fhir_src.rejects
select source_table, record_key, 'malformed_row',
    case when file ilike '%.json' then 'file is not a JSON object (a Bundle or a resource)'
        else 'line is not a JSON object' end
from (
    select record_key, file,
        case
            when file ilike '%.json' then 'patients'  -- a Bundle: one patient's record
            when file ilike '%Patient%' then 'patients'
            when file ilike '%Condition%' then 'diagnoses'
            when file ilike '%Observation%' then 'biomarkers'
            when file ilike '%Medication%' then 'treatments'
        end as source_table
    from fhir_src.parsed
    where json is null
)
where source_table is not null;

drop table fhir_src.parsed;

-- A reference as a key: 'urn:uuid:…' (a Bundle fullUrl) as is, else its 'Type/id' tail
-- ('Patient/abc', 'https://server/fhir/Patient/abc/_history/2' -> 'Patient/abc').
create or replace macro ref_key(reference) as
    case
        when reference like 'urn:%' then reference
        else nullif(regexp_extract(reference, '([A-Za-z]+/[^/]+)(/_history/[^/]*)?$', 1), '')
    end;

-- the id a reference names ('urn:uuid:abc' -> 'abc', 'Patient/abc' -> 'abc')
create or replace macro ref_id(reference) as
    case
        when reference like 'urn:uuid:%' then substr(reference, 10)
        else nullif(regexp_extract(ref_key(reference), '/([^/]+)$', 1), '')
    end;

create or replace table fhir_src.resource_keys as
select distinct record_key, resource_type, key
from (
    select record_key, resource_type, resource_type || '/' || resource_id as key
    from fhir_src.resources
    where resource_id is not null
    union all
    select record_key, resource_type, ref_key(full_url)
    from fhir_src.resources
    where full_url is not null
)
where key is not null;

-- a FHIR date or dateTime -> its YYYY-MM-DD part (partial dates are kept as written,
-- so staging quarantines them as invalid dates)
create or replace macro fhir_day(x) as case when length(x) >= 10 then left(x, 10) else x end;

-- the codings of a CodeableConcept as (system, code, display) structs
create or replace macro codings_of(cc) as
    list_transform(coalesce(cc.coding, []), lambda c: {'system': c.system, 'code': trim(c.code), 'display': c.display});
