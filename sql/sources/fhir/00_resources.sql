-- stage: fhir adapter / step: resources
-- reads: fhir_src.lines (one NDJSON line per row: file, line_number, text)
-- writes: fhir_src.resources (file, line_number, record_key, resource_type, json),
--         fhir_src.malformed (lines that are not a JSON object), fhir_src.ignored_types,
--         fhir_src.rejects (filled by this and the next steps)
-- Bulk-export files may hold any resource type; only the six the audit reads are kept.

create or replace table fhir_src.parsed as
select
    file,
    line_number,
    file || ':' || line_number as record_key,
    case when json_valid(text) and json_type(text::json) = 'OBJECT' then text::json end as json
from fhir_src.lines
where trim(text) <> '';

create or replace table fhir_src.malformed as
select file, line_number, record_key
from fhir_src.parsed
where json is null;

create or replace table fhir_src.resources as
select file, line_number, record_key, json->>'resourceType' as resource_type, json
from fhir_src.parsed
where json is not null
    and json->>'resourceType' in ('Patient', 'Condition', 'Observation',
        'MedicationAdministration', 'MedicationRequest', 'MedicationStatement');

create or replace table fhir_src.ignored_types as
select json->>'resourceType' as resource_type, count(*) as n
from fhir_src.parsed
where json is not null
    and coalesce(json->>'resourceType', '') not in ('Patient', 'Condition', 'Observation',
        'MedicationAdministration', 'MedicationRequest', 'MedicationStatement')
group by all;

-- what the adapter read but cannot use, by the canonical table it would have fed
create or replace table fhir_src.rejects (
    source_table varchar, record_key varchar, rule varchar, detail varchar
);

insert into fhir_src.rejects
select source_table, record_key, 'malformed_row', 'line is not a JSON object'
from (
    select record_key,
        case
            when file ilike '%Patient%' then 'patients'
            when file ilike '%Condition%' then 'diagnoses'
            when file ilike '%Observation%' then 'biomarkers'
            when file ilike '%Medication%' then 'treatments'
        end as source_table
    from fhir_src.malformed
)
where source_table is not null;

drop table fhir_src.parsed;

-- a reference 'Patient/abc' (or a full URL ending so) -> 'abc'
create or replace macro ref_id(reference) as
    case when reference like '%Patient/%' then regexp_extract(reference, 'Patient/([^/]+)$', 1) end;

-- a FHIR date or dateTime -> its YYYY-MM-DD part (partial dates are kept as written,
-- so staging quarantines them as invalid dates)
create or replace macro fhir_day(x) as case when length(x) >= 10 then left(x, 10) else x end;

-- the resources' codings as (vocabulary, code) pairs
create or replace macro codings_of(cc) as
    list_transform(coalesce(cc.coding, []), lambda c: {'system': c.system, 'code': trim(c.code), 'display': c.display});
