-- stage: concordance / step: each patient's sequence of regimens and whether it kept to the guideline
-- reads: build.patients, build.line_context
-- writes: build.patient_sequences (one row per cohort patient; n_lines = 0 and the sequence
--         columns null for a patient with no line of therapy)
--
-- sequence: the regimens in line order, e.g. 'THP > T-DXd > Tucatinib + trastuzumab +
-- capecitabine' (regimen_group_sequence and category_sequence likewise). all_concordant:
-- every line so far was preferred or alternative (a trial or not evaluable line makes it
-- false); all_evaluable_concordant ignores trial and not evaluable lines (null when none is
-- evaluable); first_discordant_line: the first not_recommended line.
--
-- Speed: a line's (regimen, group, category, guideline) is coded as a small integer, each
-- patient's lines become a sorted list of integers (line_number, code), and the texts are
-- built once per distinct pattern, not once per patient.

create or replace table build.patient_sequences as
with line_steps as (
    select
        patient_id,
        line_number,
        start_date,
        category,
        concordant,
        coalesce(regimen, ingredients, 'unnamed regimen') as regimen_label,
        coalesce(regimen_group, 'unknown') as group_label,
        coalesce(guideline_id, '') as guideline_label
    from build.line_context
),

step_codes as (
    select
        regimen_label,
        group_label,
        category,
        guideline_label,
        row_number() over (order by regimen_label, group_label, category, guideline_label)
            as code
    from (
        select distinct regimen_label, group_label, category, guideline_label from line_steps
    )
),

per_patient as (
    select
        line_steps.patient_id,
        list_sort(list(line_steps.line_number::bigint * 1048576 + step_codes.code)) as pattern,
        count(*) as n_lines,
        bool_and(line_steps.concordant) as all_concordant,
        bool_and(line_steps.concordant)
            filter (where line_steps.category in ('preferred', 'alternative', 'not_recommended'))
            as all_evaluable_concordant,
        count(*) filter (where line_steps.concordant) as n_concordant,
        count(*) filter (where line_steps.category = 'preferred') as n_preferred,
        count(*) filter (where line_steps.category = 'not_recommended') as n_not_recommended,
        count(*) filter (where line_steps.category = 'trial') as n_trial,
        count(*) filter (where line_steps.category = 'not_evaluable') as n_not_evaluable,
        min(line_steps.line_number) filter (where line_steps.category = 'not_recommended')
            as first_discordant_line,
        min(line_steps.start_date) as first_line_start,
        max(line_steps.start_date) as last_line_start
    from line_steps
    inner join step_codes using (regimen_label, group_label, category, guideline_label)
    group by line_steps.patient_id
),

dictionary as (
    select
        map(list(code), list(regimen_label)) as regimen_of,
        map(list(code), list(group_label)) as group_of,
        map(list(code), list(category)) as category_of,
        map(list(code), list(guideline_label)) as guideline_of
    from step_codes
),

patterns as (
    select
        patterns.pattern,
        list_transform(patterns.pattern, lambda c: c % 1048576) as codes
    from (select distinct pattern from per_patient) as patterns
),

pattern_texts as (
    select
        patterns.pattern,
        array_to_string(
            list_transform(patterns.codes, lambda c: dictionary.regimen_of[c]), ' > '
        ) as sequence,
        array_to_string(
            list_transform(patterns.codes, lambda c: dictionary.group_of[c]), ' > '
        ) as regimen_group_sequence,
        array_to_string(
            list_transform(patterns.codes, lambda c: dictionary.category_of[c]), ' > '
        ) as category_sequence,
        array_to_string(
            list_sort(list_distinct(list_filter(
                list_transform(patterns.codes, lambda c: dictionary.guideline_of[c]),
                lambda g: g <> ''
            ))),
            ', '
        ) as guideline_ids
    from patterns
    cross join dictionary
)

select
    patients.patient_id,
    patients.site_id,
    coalesce(patients.early_relapse, false) as early_relapse,
    coalesce(per_patient.n_lines, 0) as n_lines,
    pattern_texts.sequence,
    pattern_texts.regimen_group_sequence,
    pattern_texts.category_sequence,
    per_patient.all_concordant,
    per_patient.all_evaluable_concordant,
    coalesce(per_patient.n_concordant, 0) as n_concordant,
    coalesce(per_patient.n_preferred, 0) as n_preferred,
    coalesce(per_patient.n_not_recommended, 0) as n_not_recommended,
    coalesce(per_patient.n_trial, 0) as n_trial,
    coalesce(per_patient.n_not_evaluable, 0) as n_not_evaluable,
    per_patient.first_discordant_line,
    nullif(pattern_texts.guideline_ids, '') as guideline_ids,
    per_patient.first_line_start,
    per_patient.last_line_start
from build.patients as patients
left join per_patient using (patient_id)
left join pattern_texts using (pattern)
order by patients.patient_id;
