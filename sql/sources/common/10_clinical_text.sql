-- stage: sources (OMOP and FHIR adapters) / step: reading clinical text
-- reads: map_stage_groups, map_site_words, map_none_words, map_method_words (temp,
--        rules/omop_mapping.yaml),
--        variables stage_strip_pattern, stage_name_pattern, m1_pattern, m0_pattern,
--        m1_word_pattern, m0_word_pattern
-- writes: macros
--   stage_group_of(text)      -> '0', 'I', 'II', 'III', 'IV' or null ('Stage IIIB',
--                                'AJCC/UICC 8th clinical Stage 4', '4A', 'IVA')
--   m_category_of(text)       -> 'M1', 'M0' or null ('cM1', 'pM1a', 'M1 category (finding)')
--   metastasis_site_of(text)  -> the canonical site a text names ('Metastasis to bone',
--                                'Secondary malignant neoplasm of liver') or null
--   names_no_metastasis(text) -> true when the text says there is none ('None (qualifier value)')
--   test_method_of(text)      -> 'IHC', 'ISH' or null ('Immunohistochemistry', 'FISH')
--   text_words(text)          -> ' lower-case words ' (for whole-word matching)

create or replace macro text_words(x) as
    ' ' || trim(regexp_replace(lower(x), '[^a-z0-9]+', ' ', 'g')) || ' ';

-- a stage group written alone, once the words around it are removed
create or replace macro stage_group_token(x) as (
    select arg_max(g.stage, length(g.token))
    from map_stage_groups as g
    where regexp_full_match(
        regexp_replace(upper(x), getvariable('stage_strip_pattern'), '', 'g'),
        g.token || '([A-C][0-9]?|IS)?')
);

create or replace macro stage_group_of(x) as coalesce(
    stage_group_token(x),
    stage_group_token(nullif(regexp_extract(x, getvariable('stage_name_pattern'), 1), ''))
);

create or replace macro m_category_of(x) as
    case
        when regexp_matches(regexp_replace(upper(x), '[^A-Z0-9]', '', 'g'), getvariable('m1_pattern'))
            or regexp_matches(x, getvariable('m1_word_pattern')) then 'M1'
        when regexp_matches(regexp_replace(upper(x), '[^A-Z0-9]', '', 'g'), getvariable('m0_pattern'))
            or regexp_matches(x, getvariable('m0_word_pattern')) then 'M0'
    end;

create or replace macro metastasis_site_of(x) as (
    select arg_min(w.site, w.priority)
    from map_site_words as w
    where contains(text_words(x), ' ' || w.word)
);

create or replace macro names_no_metastasis(x) as coalesce((
    select bool_or(contains(text_words(x), ' ' || n.word || ' '))
    from map_none_words as n
), false);

create or replace macro test_method_of(x) as (
    select min(w.method)
    from map_method_words as w
    where contains(text_words(x), ' ' || w.word || ' ')
);
