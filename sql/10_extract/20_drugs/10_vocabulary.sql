-- stage: drugs / step: vocabulary
-- reads: staging.drug_names, staging.drug_codes, staging.drug_noise_words,
--        staging.drug_dose_units, staging.drug_refinements (loaded from rules/vocabulary.yaml)
-- writes: macros drug_text, drug_name_key, drug_keys, drug_pieces (the name normaliser),
--         variables drug_dose_pattern, drug_noise_pattern,
--         staging.drug_name_map, staging.drug_code_map
-- Run by her2audit.vocabulary before the other 10_extract/20_drugs steps.
--
-- The name normaliser lives here, once, and is applied the same way to the vocabulary's
-- spellings and to the source's distinct drug texts. drug_keys(x) lists a text's match
-- keys from the most to the least literal:
--   1 folded: lower case, every run of characters other than letters and digits -> one space
--   2 dose-free: biosimilar suffixes (-dkst, -oysk: four letters after a hyphen) and dose
--     expressions ("150 MG", "21 MG/ML", "30,000 units", "250 mg/5 mL") removed, then folded
--   3 stripped: 2 without noise words and phrases (forms, routes, salts, packaging)
--   4 sorted: the words of 3 in alphabetical order (any word order)
--   5 loose: 3 without bare numbers ("capecitabine 500"); 6 its words sorted.
-- The vocabulary contributes keys 1-4 of each spelling (a key keeps the spelling of its
-- most literal level); a source text maps by the first of its keys 1-6 found there.
-- drug_pieces(x) splits a dose-free text at brackets and at / + , ; & "and" "with": a text
-- whose whole maps to nothing maps to the union of its pieces' ingredients
-- ("capecitabine 500 MG Oral Tablet [Xeloda]", "Herceptin (trastuzumab)").

create or replace macro drug_text(x) as
    regexp_replace(regexp_replace(
        translate(lower(trim(x)), '‐‑‒–—−µ²®™', '------u2  '),
        '(\d),(\d{3})\b', '\1\2', 'g'), '(\d),(\d{3})\b', '\1\2', 'g');

create or replace macro drug_fold(x) as
    nullif(trim(regexp_replace(x, '[^a-z0-9]+', ' ', 'g')), '');

create or replace macro drug_name_key(x) as drug_fold(drug_text(x));

-- the two regular expressions built from the vocabulary's lists, as SQL variables
set variable drug_dose_pattern = (
    with units as (
        select string_agg(unit, '|' order by length(unit) desc, unit) as alternatives
        from staging.drug_dose_units
    )

    select '\b[0-9]+(\.[0-9]+)?\s*(' || alternatives || ')(\s*/\s*([0-9]+(\.[0-9]+)?\s*)?('
        || alternatives || '))*([^a-z0-9]|$)'
    from units
);

set variable drug_noise_pattern = (
    select '\b(' || string_agg(drug_fold(lower(word)), '|' order by length(word) desc, word)
        || ')\b'
    from staging.drug_noise_words
);

create or replace macro drug_dose_free(x) as
    regexp_replace(
        regexp_replace(drug_text(x), '([a-z]{4,})-[a-z]{4}([^a-z0-9-]|$)', '\1\2', 'g'),
        getvariable('drug_dose_pattern'), ' ', 'g');

create or replace macro drug_strip(folded) as
    drug_fold(regexp_replace(folded, getvariable('drug_noise_pattern'), ' ', 'g'));

create or replace macro drug_sort_words(k) as
    array_to_string(list_sort(string_split(k, ' ')), ' ');

create or replace macro drug_loosen(k) as
    drug_fold(regexp_replace(' ' || k || ' ', ' ([0-9]+ )+', ' ', 'g'));

create or replace macro drug_keys(x) as
    list_transform([drug_fold(drug_dose_free(x))], lambda dose_free:
        list_transform([drug_strip(dose_free)], lambda stripped:
            [drug_name_key(x), dose_free, stripped, drug_sort_words(stripped),
             drug_loosen(stripped), drug_sort_words(drug_loosen(stripped))])[1])[1];

create or replace macro drug_pieces(x) as
    list_filter(
        string_split_regex(
            regexp_replace(drug_dose_free(x), '[\[\]\(\)\{\}]', ' / ', 'g'),
            '\s*(/|\+|,|;|&|\band\b|\bwith\b|\bplus\b)\s*'),
        lambda p: drug_fold(p) is not null);

create or replace table staging.drug_name_map as
with spelling_keys as (
    select names.product, names.ingredient, names.position, k.key, k.level
    from staging.drug_names as names,
        unnest(drug_keys(names.spelling)[1:4]) with ordinality as k(key, level)
    where k.key is not null
),

best_level as (
    select key, min(level) as level
    from spelling_keys
    group by key
)

select distinct spelling_keys.key as name_key, spelling_keys.level, spelling_keys.product,
    spelling_keys.ingredient, spelling_keys.position
from spelling_keys
join best_level using (key, level);

create or replace table staging.drug_code_map as
select distinct
    lower(trim(code_system)) as code_system,
    lower(trim(code)) as code_key,
    product,
    ingredient,
    position,
    name as code_name
from staging.drug_codes;
