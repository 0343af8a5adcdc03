-- stage: concordance / step: context at each line and the rulebook that judges it
-- reads: build.lines_of_therapy, build.patients, staging.metastases, staging.administrations,
--        staging.regimen_group_labels, staging.guideline_rulebooks,
--        staging.guideline_change_dates, staging.guideline_tracked_ingredients (from
--        rules/guidelines/*.yaml, see her2audit/guidelines.py)
-- writes: staging.regimen_group_bits (one bit per SPEC regimen group),
--         temp table line_context_work (one row per line: clinical context, the regimen
--         groups received in earlier lines as a bit mask, the tracked ingredients given
--         before the line as a bit mask, evaluated_as_line, the rulebook in force or pinned
--         and the date its rules are read at; a temp table because only this stage reads
--         it and writing it to the file costs more than the rest of the step),
--         staging.verdict_contexts (the distinct contexts: lines share few of them, so
--         rules are matched and reasons worded once per context, not per line)
--
-- CNS involvement at a line: a brain or leptomeningeal metastasis documented on or before the
-- line's start + 14 days (SPEC §2). An early-relapse patient's first line is evaluated as
-- line 2 (SPEC §6); their later lines keep their number (sequence awareness then prefers
-- what they have not yet received). The rulebook is the pinned one, else the one in
-- force on the line's start date (periods resolved by the loader never overlap).
-- rules_as_of: the latest date on or before the line's start on which the rulebook's rules
-- change (its first day, or the start or end of a rule's or group's own window: an
-- approval inside the rulebook's period); the earliest such date for a line started
-- before all of them (a pinned rulebook). Lines with the same rules_as_of are judged alike.
-- given_mask: the ingredients named under if_never_given in any rulebook (tracked
-- ingredients) the patient was given before the line started: in an earlier line, or
-- before the metastatic setting (any administration of staging.administrations, e.g.
-- neoadjuvant pertuzumab).

create or replace table staging.regimen_group_bits as
select regimen_group, (row_number() over (order by regimen_group) - 1)::integer as bit
from staging.regimen_group_labels;

create or replace temp table line_context_work as
with cns_onset as (
    select patient_id, min(diagnosis_date) as first_cns_date
    from staging.metastases
    where site in ('brain', 'leptomeningeal')
    group by patient_id
),

earlier_groups as (
    -- regimen groups of the patient's earlier lines (a narrow window: only the keys move)
    select
        lines.patient_id,
        lines.line_number,
        coalesce(
            bit_or(1::bigint << group_bits.bit) over (
                partition by lines.patient_id order by lines.line_number
                rows between unbounded preceding and 1 preceding
            ),
            0
        ) as received_mask
    from build.lines_of_therapy as lines
    left join staging.regimen_group_bits as group_bits using (regimen_group)
),

first_given as (
    -- the day each patient was first given each tracked ingredient, in any setting
    select
        administrations.patient_id,
        tracked.bit,
        min(administrations.start_date) as first_given_date
    from staging.administrations as administrations
    inner join staging.guideline_tracked_ingredients as tracked using (ingredient)
    group by administrations.patient_id, tracked.bit
),

given_before as (
    select
        lines.patient_id,
        lines.line_number,
        bit_or(1::bigint << first_given.bit) as given_mask
    from build.lines_of_therapy as lines
    inner join first_given
        on first_given.patient_id = lines.patient_id
        and first_given.first_given_date < lines.start_date
    group by lines.patient_id, lines.line_number
),

first_change_dates as (
    select guideline_id, min(change_date) as first_change_date
    from staging.guideline_change_dates
    group by guideline_id
),

rulebooks as (
    select guideline_id, version, effective_from, effective_to, pinned, judges_by_date
    from staging.guideline_rulebooks
    where pinned or judges_by_date
),

judged_by as (
    select
        lines.patient_id,
        lines.line_number,
        lines.start_date,
        year(lines.start_date) as start_year,
        lines.regimen,
        lines.regimen_group,
        lines.ingredients,
        coalesce(lines.her2_directed, false) as her2_directed,
        coalesce(patients.site_id, 'unknown') as site_id,
        coalesce(patients.hr_positive, false) as hr_positive,
        coalesce(patients.early_relapse, false) as early_relapse,
        coalesce(patients.de_novo, false) as de_novo,
        coalesce(cns_onset.first_cns_date <= lines.start_date + 14, false) as cns,
        case
            when patients.early_relapse and lines.line_number = 1 then 2
            else lines.line_number
        end as evaluated_as_line,
        earlier_groups.received_mask,
        coalesce(given_before.given_mask, 0) as given_mask,
        rulebooks.guideline_id,
        rulebooks.version as guideline_version,
        -- what a verdict's wording depends on besides the context
        group_bits.bit is not null as known_group,
        coalesce(lines.regimen, lines.ingredients, 'The regimen') as regimen_text,
        case
            when group_bits.bit is null or lines.regimen_group in ('investigational', 'other')
                then coalesce(lines.ingredients, 'no ingredients recorded')
        end as detail_text
    from build.lines_of_therapy as lines
    inner join earlier_groups using (patient_id, line_number)
    left join given_before using (patient_id, line_number)
    left join build.patients as patients using (patient_id)
    left join cns_onset using (patient_id)
    left join staging.regimen_group_bits as group_bits using (regimen_group)
    left join rulebooks
        on rulebooks.pinned
        or (
            rulebooks.judges_by_date
            and lines.start_date >= rulebooks.effective_from
            and (rulebooks.effective_to is null or lines.start_date <= rulebooks.effective_to)
        )
)

select
    judged_by.*,
    case when judged_by.guideline_id is not null
        then coalesce(changes.change_date, first_change_dates.first_change_date)
    end as rules_as_of
from judged_by
asof left join staging.guideline_change_dates as changes
    on changes.guideline_id = judged_by.guideline_id
    and judged_by.start_date >= changes.change_date
left join first_change_dates
    on first_change_dates.guideline_id = judged_by.guideline_id;

create or replace table staging.verdict_contexts as
with distinct_contexts as (
    select distinct
        guideline_id,
        guideline_version,
        evaluated_as_line,
        cns,
        hr_positive,
        early_relapse,
        de_novo,
        received_mask,
        given_mask,
        rules_as_of,
        regimen_group,
        known_group,
        her2_directed,
        regimen_text,
        detail_text
    from line_context_work
),

masks as (
    select
        masks.received_mask,
        coalesce(
            list(group_bits.regimen_group order by group_bits.bit)
                filter (where group_bits.regimen_group is not null),
            []
        ) as received_groups
    from (select distinct received_mask from distinct_contexts) as masks
    left join staging.regimen_group_bits as group_bits
        on (masks.received_mask >> group_bits.bit) & 1 = 1
    group by masks.received_mask
),

given as (
    select
        given.given_mask,
        coalesce(
            list(tracked.ingredient order by tracked.bit)
                filter (where tracked.ingredient is not null),
            []
        ) as given_ingredients
    from (select distinct given_mask from distinct_contexts) as given
    left join staging.guideline_tracked_ingredients as tracked
        on (given.given_mask >> tracked.bit) & 1 = 1
    group by given.given_mask
)

select distinct_contexts.*, masks.received_groups, given.given_ingredients
from distinct_contexts
inner join masks using (received_mask)
inner join given using (given_mask);
