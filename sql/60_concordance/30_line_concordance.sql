-- stage: concordance / step: verdict and reason for every line
-- reads: staging.line_context, staging.line_rule_match, staging.guideline_evidence,
--        staging.regimen_group_labels, staging.guideline_rulebooks
-- writes: build.line_concordance (SPEC §6: patient_id, line_number, guideline_id,
--         guideline_version, category, concordant, rule_id, reason, evaluated_as_line, cns,
--         hr_positive, early_relapse)
--
-- Category, first match wins:
--   no rulebook in force (and none pinned)          -> not_evaluable, rule no_guideline_in_force
--   regimen group investigational                    -> trial,         rule investigational_agent
--   regimen group other, missing or not a SPEC group -> not_evaluable, rule unknown_regimen
--   in the winning rule's preferred groups           -> preferred
--   in its alternative groups                        -> alternative
--   anything else (e.g. no HER2-directed drug)       -> not_recommended
-- concordant = preferred or alternative.

create or replace table build.line_concordance as
with labels as (
    select map(list(regimen_group), list(label)) as label_of
    from staging.regimen_group_labels
),

evidence as (
    select guideline_id, map(list(regimen_group), list(citation)) as evidence_of
    from staging.guideline_evidence
    group by guideline_id
),

coverage as (
    select
        'the rulebooks in force by date cover lines started from '
        || coalesce(strftime(min(effective_from), '%Y-%m-%d'), 'no date') as coverage_text
    from staging.guideline_rulebooks
    where judges_by_date
),

judged as (
    select
        context.*,
        match.rule_id as matched_rule_id,
        match.preferred_groups,
        match.alternative_groups,
        match.next_groups,
        match.prefer_next_in_sequence,
        match.sequence_received,
        match.rule_citation,
        match.context_phrase,
        case
            when context.guideline_id is null then 'not_evaluable'
            when context.regimen_group = 'investigational' then 'trial'
            when context.regimen_group is null
                or context.regimen_group = 'other'
                or context.regimen_group not in (select regimen_group from staging.regimen_group_labels)
                then 'not_evaluable'
            when list_contains(match.preferred_groups, context.regimen_group) then 'preferred'
            when list_contains(match.alternative_groups, context.regimen_group) then 'alternative'
            else 'not_recommended'
        end as category
    from staging.line_context as context
    left join staging.line_rule_match as match using (patient_id, line_number)
),

worded as (
    select
        judged.*,
        'Line ' || judged.line_number || ' (' || strftime(judged.start_date, '%Y-%m-%d') || ')'
        || case when judged.evaluated_as_line <> judged.line_number
            then ', evaluated as line ' || judged.evaluated_as_line || ' after early relapse'
            else '' end
        || ': ' as prefix,
        coalesce(judged.regimen, judged.ingredients, 'The regimen') as regimen_text,
        array_to_string(
            list_transform(judged.preferred_groups, lambda g: labels.label_of[g]), ' or '
        ) as preferred_text,
        array_to_string(
            list_transform(judged.alternative_groups, lambda g: labels.label_of[g]), ', '
        ) as alternative_text,
        ' in line ' || judged.evaluated_as_line || coalesce(judged.context_phrase, '')
        || case
            when judged.prefer_next_in_sequence and len(judged.sequence_received) > 0
                then ' after '
                || array_to_string(
                    list_transform(judged.sequence_received, lambda g: labels.label_of[g]),
                    ' and '
                )
            else ''
        end as phrase,
        coalesce(
            nullif(
                array_to_string(
                    list_distinct(
                        list_transform(
                            judged.preferred_groups, lambda g: evidence.evidence_of[g]
                        )
                    ),
                    '; '
                ),
                ''
            ),
            judged.rule_citation
        ) as citation_text
    from judged
    cross join labels
    left join evidence using (guideline_id)
)

select
    worded.patient_id,
    worded.line_number,
    worded.guideline_id,
    worded.guideline_version,
    worded.category,
    worded.category in ('preferred', 'alternative') as concordant,
    case
        when worded.guideline_id is null then 'no_guideline_in_force'
        when worded.category = 'trial' then 'investigational_agent'
        when worded.category = 'not_evaluable' then 'unknown_regimen'
        else worded.matched_rule_id
    end as rule_id,
    worded.prefix || case
        when worded.guideline_id is null then
            'not graded, as no guideline version was in force on that date ('
            || coverage.coverage_text || ').'
        when worded.category = 'trial' then
            'trial participation with an investigational agent ('
            || coalesce(worded.ingredients, worded.regimen_text) || '), which '
            || worded.guideline_id || ' does not grade.'
        when worded.category = 'not_evaluable' then
            'the regimen (' || coalesce(worded.ingredients, 'no ingredients recorded')
            || ') is not one the regimen catalog names, so ' || worded.guideline_id
            || ' cannot grade it.'
        when len(worded.preferred_groups) = 0 then
            worded.regimen_text
            || case worded.category
                when 'alternative' then ' is an alternative: '
                else ' is not recommended'
                    || case when not worded.her2_directed then ' (no HER2-directed drug)' else '' end
                    || '; '
            end
            || worded.guideline_id || ' names no preferred regimen' || worded.phrase
            || ' and its alternatives are '
            || coalesce(nullif(worded.alternative_text, ''), 'none listed')
            || ' (' || worded.citation_text || ').'
        else
            worded.regimen_text
            || case worded.category
                when 'preferred' then ' is preferred: ' || worded.guideline_id || ' recommends '
                when 'alternative' then ' is an alternative; ' || worded.guideline_id || ' prefers '
                else ' is not recommended'
                    || case when not worded.her2_directed then ' (no HER2-directed drug)' else '' end
                    || '; ' || worded.guideline_id || ' prefers '
            end
            || worded.preferred_text || worded.phrase || ' (' || worded.citation_text || ').'
    end as reason,
    worded.evaluated_as_line,
    worded.cns,
    worded.hr_positive,
    worded.early_relapse
from worded
cross join coverage
order by worded.patient_id, worded.line_number;
