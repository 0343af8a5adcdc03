-- stage: concordance / step: the winning rule for each distinct context, and what it prefers
-- reads: staging.verdict_contexts, staging.guideline_rules, staging.guideline_rulebooks,
--        staging.guideline_evidence, staging.regimen_group_labels
-- writes: staging.context_rule_match (one row per distinct context judged by a rulebook:
--         rule_id, the preferred and alternative regimen groups, and the words of the verdict)
--
-- Precedence (documented in her2audit/guidelines.py and the README): among the rules of the
-- line's rulebook whose line range and conditions match, the one with the most conditions
-- wins, then the one with the narrowest line range. The loader refuses rulebooks where two
-- rules could tie, so rule_order only makes the choice total.
-- Sequence awareness: for a rule with prefer_next_in_sequence, the next step of the
-- rulebook's sequence is the first step with a group not yet received; its groups not yet
-- received are preferred (before the rule's own preferred groups).

create or replace table staging.context_rule_match as
with contexts as (
    select distinct
        guideline_id, evaluated_as_line, cns, hr_positive, early_relapse, de_novo,
        received_mask, received_groups
    from staging.verdict_contexts
    where guideline_id is not null
),

matching_rules as (
    select
        contexts.*,
        rules.rule_id,
        rules.preferred,
        rules.preferred_if_not_received,
        rules.prefer_next_in_sequence,
        rules.alternative,
        rules.alternative_if_not_received,
        rules.citation as rule_citation,
        rules.context_phrase,
        rulebooks.sequence
    from contexts
    inner join staging.guideline_rules as rules
        on rules.guideline_id = contexts.guideline_id
        and contexts.evaluated_as_line >= rules.line_from
        and (rules.line_to is null or contexts.evaluated_as_line <= rules.line_to)
        and (rules.cns is null or rules.cns = contexts.cns)
        and (rules.hr_positive is null or rules.hr_positive = contexts.hr_positive)
        and (rules.early_relapse is null or rules.early_relapse = contexts.early_relapse)
        and (rules.de_novo is null or rules.de_novo = contexts.de_novo)
        and list_has_all(contexts.received_groups, rules.received)
        and not list_has_any(contexts.received_groups, rules.not_received)
    inner join staging.guideline_rulebooks as rulebooks
        on rulebooks.guideline_id = rules.guideline_id
    qualify row_number() over (
        partition by contexts.guideline_id, contexts.evaluated_as_line, contexts.cns,
            contexts.hr_positive, contexts.early_relapse, contexts.de_novo,
            contexts.received_mask
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

with_preferred as (
    select
        *,
        list_distinct_in_order(
            next_groups || preferred || list_filter(
                preferred_if_not_received, lambda g: not list_contains(received_groups, g)
            )
        ) as preferred_groups
    from next_in_sequence
),

with_alternatives as (
    select
        *,
        list_filter(
            alternative || list_filter(
                alternative_if_not_received, lambda g: not list_contains(received_groups, g)
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
