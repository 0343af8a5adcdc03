-- stage: concordance / step: the winning rule for each distinct context, and what it prefers
-- reads: staging.verdict_contexts, staging.guideline_rules, staging.guideline_rulebooks,
--        staging.guideline_counts_as, staging.guideline_evidence,
--        staging.regimen_group_labels
-- writes: staging.context_rule_match (one row per distinct context judged by a rulebook:
--         rule_id, the preferred and alternative regimen groups, and the words of the verdict)
--
-- What was received: the regimen groups of earlier lines, widened by the rulebook's
-- counts_as_received (T-DXd + pertuzumab counts as T-DXd); every rule condition, sequence
-- step and *_if_not_received list reads the widened list.
-- Precedence (documented in her2audit/guidelines.py and the README): among the rules of the
-- line's rulebook whose line range, conditions and own effective window (read at the
-- context's rules_as_of) match, the one with the most conditions wins, then the one with
-- the narrowest line range. The loader refuses rulebooks where two rules could tie on some
-- date, so rule_order only makes the choice total. A group in a rule's list counts only
-- inside its own window and when none of its if_never_given ingredients was given
-- (macro groups_in_force).
-- Sequence awareness: for a rule with prefer_next_in_sequence, the next step of the
-- rulebook's sequence is the first step none of whose groups was received; its groups are
-- preferred (before the rule's own preferred groups).

create or replace table staging.context_rule_match as
with contexts as (
    select distinct
        guideline_id, evaluated_as_line, cns, hr_positive, early_relapse, de_novo,
        received_mask, received_groups, given_mask, given_ingredients, rules_as_of
    from staging.verdict_contexts
    where guideline_id is not null
),

counted_as as (
    -- the groups each history also counts as (counts_as_received of the rulebook)
    select
        histories.guideline_id,
        histories.received_mask,
        list_sort(list_distinct(list(counts.counts_as))) as counted_groups
    from (select distinct guideline_id, received_mask, received_groups from contexts)
        as histories
    inner join staging.guideline_counts_as as counts
        on counts.guideline_id = histories.guideline_id
        and list_contains(histories.received_groups, counts.regimen_group)
    group by histories.guideline_id, histories.received_mask
),

widened as (
    select
        contexts.*,
        list_distinct_in_order(
            contexts.received_groups || coalesce(counted_as.counted_groups, [])
        ) as received
    from contexts
    left join counted_as using (guideline_id, received_mask)
),

matching_rules as (
    select
        widened.*,
        rules.rule_id,
        groups_in_force(rules.preferred, widened.rules_as_of, widened.given_ingredients)
            as preferred,
        groups_in_force(
            rules.preferred_if_not_received, widened.rules_as_of, widened.given_ingredients
        ) as preferred_if_not_received,
        rules.prefer_next_in_sequence,
        groups_in_force(rules.alternative, widened.rules_as_of, widened.given_ingredients)
            as alternative,
        groups_in_force(
            rules.alternative_if_not_received, widened.rules_as_of, widened.given_ingredients
        ) as alternative_if_not_received,
        rules.citation as rule_citation,
        rules.context_phrase,
        rulebooks.sequence
    from widened
    inner join staging.guideline_rules as rules
        on rules.guideline_id = widened.guideline_id
        and widened.evaluated_as_line >= rules.line_from
        and (rules.line_to is null or widened.evaluated_as_line <= rules.line_to)
        and (rules.effective_from is null or rules.effective_from <= widened.rules_as_of)
        and (rules.effective_to is null or widened.rules_as_of <= rules.effective_to)
        and (rules.cns is null or rules.cns = widened.cns)
        and (rules.hr_positive is null or rules.hr_positive = widened.hr_positive)
        and (rules.early_relapse is null or rules.early_relapse = widened.early_relapse)
        and (rules.de_novo is null or rules.de_novo = widened.de_novo)
        and list_has_all(widened.received, rules.received)
        and not list_has_any(widened.received, rules.not_received)
    inner join staging.guideline_rulebooks as rulebooks
        on rulebooks.guideline_id = rules.guideline_id
    qualify row_number() over (
        partition by widened.guideline_id, widened.evaluated_as_line, widened.cns,
            widened.hr_positive, widened.early_relapse, widened.de_novo,
            widened.received_mask, widened.given_mask, widened.rules_as_of
        order by rules.n_conditions desc, rules.line_width, rules.rule_order
    ) = 1
),

next_in_sequence as (
    select
        *,
        case when prefer_next_in_sequence then
            coalesce(
                list_filter(sequence, lambda step: not list_has_any(step, received))[1], []
            )
        else [] end as next_groups,
        -- the steps' groups the patient actually had (for "... after T-DXd")
        list_filter(flatten(sequence), lambda g: list_contains(received_groups, g))
            as sequence_received
    from matching_rules
),

with_preferred as (
    select
        *,
        list_distinct_in_order(
            next_groups || preferred || list_filter(
                preferred_if_not_received, lambda g: not list_contains(received, g)
            )
        ) as preferred_groups
    from next_in_sequence
),

with_alternatives as (
    select
        *,
        list_filter(
            list_distinct_in_order(
                alternative || list_filter(
                    alternative_if_not_received, lambda g: not list_contains(received, g)
                )
            ),
            lambda g: not list_contains(preferred_groups, g)
        ) as alternative_groups
    from with_preferred
),

labels as (
    select map(list(regimen_group), list(label)) as label_of
    from staging.regimen_group_labels
),

evidence as (
    select guideline_id, map(list(regimen_group), list(citation)) as evidence_of
    from staging.guideline_evidence
    group by guideline_id
)

select
    with_alternatives.guideline_id,
    with_alternatives.evaluated_as_line,
    with_alternatives.cns,
    with_alternatives.hr_positive,
    with_alternatives.early_relapse,
    with_alternatives.de_novo,
    with_alternatives.received_mask,
    with_alternatives.given_mask,
    with_alternatives.rules_as_of,
    with_alternatives.rule_id,
    with_alternatives.preferred_groups,
    with_alternatives.alternative_groups,
    with_alternatives.next_groups,
    -- "T-DXd or tucatinib + trastuzumab + capecitabine"
    array_to_string(
        list_transform(with_alternatives.preferred_groups, lambda g: labels.label_of[g]), ' or '
    ) as preferred_text,
    array_to_string(
        list_transform(with_alternatives.alternative_groups, lambda g: labels.label_of[g]), ', '
    ) as alternative_text,
    -- " in line 3 with CNS involvement after T-DXd"
    ' in line ' || with_alternatives.evaluated_as_line || with_alternatives.context_phrase
    || case
        when with_alternatives.prefer_next_in_sequence
            and len(with_alternatives.sequence_received) > 0
            then ' after ' || array_to_string(
                list_transform(with_alternatives.sequence_received, lambda g: labels.label_of[g]),
                ' and '
            )
        else ''
    end as phrase,
    -- the evidence for the preferred groups, else the rule's citation
    coalesce(
        nullif(
            array_to_string(
                list_transform(
                    with_alternatives.preferred_groups, lambda g: evidence.evidence_of[g]
                ),
                '; '
            ),
            ''
        ),
        with_alternatives.rule_citation
    ) as citation_text
from with_alternatives
cross join labels
left join evidence using (guideline_id);
