-- stage: concordance / step: each patient's sequence of regimens and whether it kept to the guideline
-- reads: build.patients, build.line_context
-- writes: build.patient_sequences (one row per cohort patient; n_lines = 0 and sequence null
--         for a patient with no line of therapy)
--
-- all_concordant: every line so far was preferred or alternative (a trial or not evaluable
-- line makes it false); all_evaluable_concordant ignores trial and not evaluable lines (null
-- when none is evaluable); first_discordant_line: the first not_recommended line.

create or replace table build.patient_sequences as
with per_patient as (
    select
        patient_id,
        -- sorting each patient's few lines is cheaper than three ordered aggregates
        list_sort(list({
            'line_number': line_number,
            'regimen': coalesce(regimen, ingredients, 'unnamed regimen'),
            'regimen_group': coalesce(regimen_group, 'unknown'),
            'category': category
        })) as lines,
        count(*) as n_lines,
        bool_and(concordant) as all_concordant,
        bool_and(concordant)
            filter (where category in ('preferred', 'alternative', 'not_recommended'))
            as all_evaluable_concordant,
        count(*) filter (where concordant) as n_concordant,
        count(*) filter (where category = 'preferred') as n_preferred,
        count(*) filter (where category = 'not_recommended') as n_not_recommended,
        count(*) filter (where category = 'trial') as n_trial,
        count(*) filter (where category = 'not_evaluable') as n_not_evaluable,
        min(line_number) filter (where category = 'not_recommended') as first_discordant_line,
        array_to_string(list_sort(list_distinct(list(guideline_id))), ', ') as guideline_ids,
        min(start_date) as first_line_start,
        max(start_date) as last_line_start
    from build.line_context
    group by patient_id
)

select
    patients.patient_id,
    patients.site_id,
    coalesce(patients.early_relapse, false) as early_relapse,
    coalesce(per_patient.n_lines, 0) as n_lines,
    array_to_string(list_transform(per_patient.lines, lambda l: l.regimen), ' > ') as sequence,
    array_to_string(list_transform(per_patient.lines, lambda l: l.regimen_group), ' > ')
        as regimen_group_sequence,
    array_to_string(list_transform(per_patient.lines, lambda l: l.category), ' > ')
        as category_sequence,
    per_patient.all_concordant,
    per_patient.all_evaluable_concordant,
    coalesce(per_patient.n_concordant, 0) as n_concordant,
    coalesce(per_patient.n_preferred, 0) as n_preferred,
    coalesce(per_patient.n_not_recommended, 0) as n_not_recommended,
    coalesce(per_patient.n_trial, 0) as n_trial,
    coalesce(per_patient.n_not_evaluable, 0) as n_not_evaluable,
    per_patient.first_discordant_line,
    nullif(per_patient.guideline_ids, '') as guideline_ids,
    per_patient.first_line_start,
    per_patient.last_line_start
from build.patients as patients
left join per_patient using (patient_id)
order by patients.patient_id;
