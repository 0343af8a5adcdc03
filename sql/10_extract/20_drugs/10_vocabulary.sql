-- stage: drugs / step: vocabulary
-- reads: staging.drug_names, staging.drug_codes (loaded from rules/vocabulary.yaml)
-- writes: macro drug_name_key(text), staging.drug_name_map, staging.drug_code_map
-- Run by her2audit.vocabulary before the other 10_extract/20_drugs steps. A spelling is compared
-- after lower-casing and turning every run of non-alphanumerics into one space, on the
-- vocabulary side and the data side alike. `product` is the ingredient, or for a
-- combination product its ingredients joined by ' + ' (a spelling must name one product).

create or replace macro drug_name_key(x) as
    nullif(trim(regexp_replace(lower(x), '[^a-z0-9]+', ' ', 'g')), '');

create or replace table staging.drug_name_map as
with names as (
    select drug_name_key(spelling) as name_key, product, ingredient, position
    from staging.drug_names
)

select distinct name_key, product, ingredient, position
from names
where name_key is not null;

create or replace table staging.drug_code_map as
select distinct lower(trim(code_system)) as code_system, lower(trim(code)) as code_key, ingredient
from staging.drug_codes;
