-- stage: concordance / step: category, rule and reason for each distinct verdict context
-- reads: staging.verdict_contexts, staging.context_rule_match, staging.guideline_rulebooks
-- writes: staging.verdicts (one row per distinct context x regimen: category, rule_id, and
--         the reason without its "Line n (date): " prefix)
--
-- Category, first match wins:
--   no rulebook in force (and none pinned)          -> not_evaluable, rule no_guideline_in_force
--   regimen group investigational (an investigational agent, or an anti-HER2 drug with an
--   immune checkpoint inhibitor)                     -> trial,         rule investigational_agent
--   regimen group other, missing or not a SPEC group -> not_evaluable, rule unknown_regimen
--   in the winning rule's preferred groups           -> preferred
--   in its alternative groups                        -> alternative
--   anything else (e.g. no HER2-directed drug)       -> not_recommended
-- concordant = preferred or alternative.

create or replace table staging.verdicts as
with coverage as (
    select
        'the rulebooks in force by date cover lines started from '
        || coalesce(strftime(min(effective_from), '%Y-%m-%d'), 'no date') as coverage_text
    from staging.guideline_rulebooks
    where judges_by_date
),

judged as (
    select
        verdict_contexts.*,
        match.rule_id as matched_rule_id,
        match.preferred_groups,
        match.alternative_groups,
        match.next_groups,
        match.preferred_text,
        match.alternative_text,
        match.phrase,
        match.citation_text,
        case
            when verdict_contexts.guideline_id is null then 'not_evaluable'
            when verdict_contexts.regimen_group = 'investigational' then 'trial'
            when not verdict_contexts.known_group or verdict_contexts.regimen_group = 'other'
                then 'not_evaluable'
            when list_contains(match.preferred_groups, verdict_contexts.regimen_group)
                then 'preferred'
            when list_contains(match.alternative_groups, verdict_contexts.regimen_group)
                then 'alternative'
            else 'not_recommended'
        end as category
    from staging.verdict_contexts as verdict_contexts
    left join staging.context_rule_match as match
        on match.guideline_id = verdict_contexts.guideline_id
        and match.evaluated_as_line = verdict_contexts.evaluated_as_line
        and match.cns = verdict_contexts.cns
        and match.hr_positive = verdict_contexts.hr_positive
        and match.early_relapse = verdict_contexts.early_relapse
        and match.de_novo = verdict_contexts.de_novo
        and match.received_mask = verdict_contexts.received_mask
        and match.given_mask = verdict_contexts.given_mask
        and match.rules_as_of = verdict_contexts.rules_as_of
),

not_recommended_words as (
    select
        *,
        ' is not recommended'
        || case when not her2_directed then ' (no HER2-directed drug)' else '' end
        || '; ' as not_recommended_text
    from judged
)

select
    not_recommended_words.* exclude (matched_rule_id, not_recommended_text),
    category in ('preferred', 'alternative') as concordant,
    case
        when guideline_id is null then 'no_guideline_in_force'
        when category = 'trial' then 'investigational_agent'
        when category = 'not_evaluable' then 'unknown_regimen'
        else matched_rule_id
    end as rule_id,
    case
        when guideline_id is null then
            'not graded, as no guideline version was in force on that date ('
            || coverage.coverage_text || ').'
        when category = 'trial' then
            'trial participation with an investigational agent or combination ('
            || detail_text || '), which ' || guideline_id || ' does not grade.'
        when category = 'not_evaluable' then
            'the regimen (' || detail_text || ') is not one the regimen catalog names, so '
            || guideline_id || ' cannot grade it.'
        when len(preferred_groups) = 0 then
            regimen_text
            || case category
                when 'alternative' then ' is an alternative: '
                else not_recommended_text
            end
            || guideline_id || ' names no preferred regimen' || phrase
            || ' and its alternatives are ' || coalesce(nullif(alternative_text, ''), 'none')
            || ' (' || citation_text || ').'
        else
            regimen_text
            || case category
                when 'preferred' then ' is preferred: ' || guideline_id || ' recommends '
                when 'alternative' then ' is an alternative; ' || guideline_id || ' prefers '
                else not_recommended_text || guideline_id || ' prefers '
            end
            || preferred_text || phrase || ' (' || citation_text || ').'
    end as reason_tail
from not_recommended_words
cross join coverage;
