-- stage: concordance / step: the winning rule for each line, and what it prefers
-- reads: staging.line_context, staging.guideline_rules, staging.guideline_rulebooks
-- writes: staging.line_rule_match (one row per line judged by a rulebook: rule_id, the
--         preferred and alternative regimen groups for this patient at this line)
--
-- Precedence (documented in her2audit/guidelines.py and the README): among the rules of the
-- line's rulebook whose line range and conditions match, the one with the most conditions
-- wins, then the one with the narrowest line range. The loader refuses rulebooks where two
-- rules could tie, so rule_order only makes the choice total.
-- Sequence awareness: for a rule with prefer_next_in_sequence, the next step of the
-- rulebook's sequence is the first step with a group not yet received; its groups not yet
-- received are preferred (with the rule's own preferred groups).

create or replace table staging.line_rule_match as
with matching_rules as (
    select
        context.patient_id,
        context.line_number,
        context.received_groups,
        rules.rule_id,
        rules.preferred,
        rules.prefer_next_in_sequence,
        rules.alternative,
        rules.alternative_if_not_received,
        rules.citation,
        rules.context_phrase,
        rulebooks.sequence
    from staging.line_context as context
    inner join staging.guideline_rules as rules
        on rules.guideline_id = context.guideline_id
        and context.evaluated_as_line >= rules.line_from
        and (rules.line_to is null or context.evaluated_as_line <= rules.line_to)
        and (rules.cns is null or rules.cns = context.cns)
        and (rules.hr_positive is null or rules.hr_positive = context.hr_positive)
        and (rules.early_relapse is null or rules.early_relapse = context.early_relapse)
        and (rules.de_novo is null or rules.de_novo = context.de_novo)
        and list_has_all(context.received_groups, rules.received)
        and not list_has_any(context.received_groups, rules.not_received)
    inner join staging.guideline_rulebooks as rulebooks
        on rulebooks.guideline_id = rules.guideline_id
    qualify row_number() over (
        partition by context.patient_id, context.line_number
        order by rules.n_conditions desc, rules.line_width, rules.rule_order
    ) = 1
),

next_in_sequence as (
    select
        *,
        case when prefer_next_in_sequence then
            list_filter(
                coalesce(
                    list_filter(
                        sequence,
                        lambda step: len(
                            list_filter(step, lambda g: not list_contains(received_groups, g))
                        ) > 0
                    )[1],
                    []
                ),
                lambda g: not list_contains(received_groups, g)
            )
        else [] end as next_groups,
        list_filter(flatten(sequence), lambda g: list_contains(received_groups, g))
            as sequence_received
    from matching_rules
),

preferred as (
    select
        *,
        next_groups || list_filter(preferred, lambda g: not list_contains(next_groups, g))
            as preferred_groups
    from next_in_sequence
)

select
    patient_id,
    line_number,
    rule_id,
    preferred_groups,
    list_filter(
        alternative || list_filter(
            alternative_if_not_received, lambda g: not list_contains(received_groups, g)
        ),
        lambda g: not list_contains(preferred_groups, g)
    ) as alternative_groups,
    next_groups,
    prefer_next_in_sequence,
    sequence_received,
    citation as rule_citation,
    context_phrase
from preferred;
