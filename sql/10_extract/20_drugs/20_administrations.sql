-- stage: drugs / step: administrations
-- reads: staging.treatments, staging.drug_name_map, staging.drug_code_map,
--   staging.drug_refinements, staging.drug_ingredients
-- writes: staging.drug_sources (one row per distinct drug, code_system, drug_code of the
--   treatment rows, with its row count), staging.drug_mapping (one row per distinct source
--   value and ingredient), staging.administrations (a view: one row per treatment row x
--   ingredient)
-- The treatment rows are read twice: once to list their distinct source values, which are
-- normalised and mapped here (a few thousand at most), and once to join each row to its
-- mapping. A value maps, in order:
--   1 by its code: (code_system, drug_code) listed in the vocabulary; a drug_code with no
--     code_system counts as RxNorm when it is all digits and as ATC when it has the ATC
--     shape; a drug text that is itself such a code (no drug_code given) likewise;
--   2 by its whole name: the first of its normalised keys (10_vocabulary.sql) listed;
--   3 by its pieces: the union of the ingredients its bracketed and /-separated pieces map
--     to ("capecitabine 500 MG Oral Tablet [Xeloda]"), where an ingredient that another one
--     of the set refines is dropped ("Kadcyla (trastuzumab)" is trastuzumab emtansine).
-- A row with a code and no name takes its name from the vocabulary (`source_drug`).

create or replace table staging.drug_sources as
select drug, drug_key, code_system, drug_code, count(*) as n_records
from staging.treatments
group by all;

create or replace table staging.drug_mapping as
with sources as (
    select
        drug,
        code_system,
        drug_code,
        n_records,
        nullif(lower(trim(drug_code)), '') as code_text,
        nullif(lower(trim(code_system)), '') as system_text,
        nullif(lower(trim(drug)), '') as drug_text
    from staging.drug_sources
),

code_candidates as (
    select
        *,
        case
            when code_text is not null then
                coalesce(system_text, case
                    when regexp_full_match(code_text, '[0-9]{1,8}') then 'rxnorm'
                    when regexp_full_match(code_text, '[a-z][0-9]{2}[a-z]{2}[0-9]{2}') then 'atc'
                end)
            when regexp_full_match(drug_text, '(rxnorm|rxcui)?[: ]*[0-9]{1,8}') then 'rxnorm'
            when regexp_full_match(drug_text, '[a-z][0-9]{2}[a-z]{2}[0-9]{2}') then 'atc'
        end as lookup_system,
        coalesce(code_text, regexp_extract(drug_text, '([0-9]{1,8}|[a-z][0-9]{2}[a-z]{2}[0-9]{2})$', 1))
            as lookup_code
    from sources
),

by_code as (
    select c.drug, c.code_system, c.drug_code, m.ingredient, m.position,
        coalesce(nullif(trim(c.drug), ''), m.code_name, m.ingredient) as source_drug, 'code' as mapped_by
    from code_candidates as c
    join staging.drug_code_map as m
        on m.code_system = c.lookup_system and m.code_key = c.lookup_code
),

by_name_candidates as (
    select c.drug, c.code_system, c.drug_code
    from code_candidates as c
    anti join by_code
        on by_code.drug is not distinct from c.drug
        and by_code.code_system is not distinct from c.code_system
        and by_code.drug_code is not distinct from c.drug_code
    where c.drug_text is not null
),

-- the distinct texts among them, each with its keys and pieces (normalised once)
texts as (
    select drug, drug_keys(drug) as keys, drug_pieces(drug) as pieces
    from (select distinct drug from by_name_candidates)
),

whole_match as (
    select drug, product, ingredient, position
    from (
        select texts.drug, m.product, m.ingredient, m.position,
            dense_rank() over (partition by texts.drug order by k.level, m.level) as pick
        from texts
        cross join unnest(texts.keys) with ordinality as k(key, level)
        join staging.drug_name_map as m on m.name_key = k.key
    )
    where pick = 1
),

unmatched_pieces as (
    select texts.drug, p.piece
    from texts
    anti join whole_match using (drug)
    cross join unnest(texts.pieces) as p(piece)
),

piece_match as (
    select distinct drug, ingredient
    from (
        select u.drug, u.piece, m.ingredient,
            dense_rank() over (partition by u.drug, u.piece order by k.level, m.level) as pick
        from unmatched_pieces as u
        cross join unnest(drug_keys(u.piece)) with ordinality as k(key, level)
        join staging.drug_name_map as m on m.name_key = k.key
    )
    where pick = 1
),

-- an ingredient refined by another one of the same text is not given separately
refined_away as (
    select piece_match.drug, r.refined as ingredient
    from piece_match
    join staging.drug_refinements as r using (ingredient)
),

piece_union as (
    select drug, ingredient
    from piece_match
    anti join refined_away using (drug, ingredient)
),

by_name as (
    select drug, ingredient, position from whole_match
    union all
    select drug, ingredient, row_number() over (partition by drug order by ingredient)
    from piece_union
)

select m.drug, m.code_system, m.drug_code, m.source_drug, m.ingredient, m.position,
    m.mapped_by, ingredients.drug_class, ingredients.line_forming, ingredients.her2_directed
from (
    select * from by_code
    union all
    select c.drug, c.code_system, c.drug_code, by_name.ingredient, by_name.position,
        c.drug as source_drug, 'name' as mapped_by
    from by_name_candidates as c
    join by_name using (drug)
) as m
join staging.drug_ingredients as ingredients using (ingredient);

-- A view: storing its 10 million rows cost 8 of the step's 9 seconds at 100,000 patients,
-- while each reader's hash join of the treatment rows to the small mapping costs a few
-- tenths of a second.
create or replace view staging.administrations as
select
    treatments.record_key,
    treatments.patient_id,
    mapping.source_drug,
    mapping.ingredient,
    mapping.drug_class,
    mapping.line_forming,
    mapping.her2_directed,
    treatments.start_date,
    treatments.end_date,
    treatments.setting,
    treatments.route,
    mapping.mapped_by
from staging.treatments as treatments
join staging.drug_mapping as mapping
    on mapping.drug is not distinct from treatments.drug
    and mapping.code_system is not distinct from treatments.code_system
    and mapping.drug_code is not distinct from treatments.drug_code;
-- No ORDER BY: every reader aggregates or sorts for itself (line inference sorts by
-- patient and day).
