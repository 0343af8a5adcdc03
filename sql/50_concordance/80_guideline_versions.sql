-- stage: concordance / step: the rulebooks and rules this run used (recorded in audit.runs)
-- reads: staging.guideline_rulebooks, staging.guideline_rules, build.line_concordance
-- writes: build.guideline_versions (guideline_id, version, effective_from, effective_to,
--         n_lines judged in this run, and where the rulebook came from),
--         build.guideline_rules (every rule, flattened, for reading verdicts by rule_id:
--         a rule's own effective window, its lists as regimen group names, and
--         conditional_groups describing the groups that count only on some dates or when
--         an ingredient was never given)

create or replace table build.guideline_versions as
with lines_judged as (
    select guideline_id, count(*) as n_lines
    from build.line_concordance
    where guideline_id is not null
    group by guideline_id
)

select
    rulebooks.guideline_id,
    rulebooks.version,
    rulebooks.effective_from,
    rulebooks.effective_to,
    coalesce(lines_judged.n_lines, 0) as n_lines,
    rulebooks.title,
    rulebooks.in_force_by_date,
    rulebooks.pinned,
    rulebooks.n_rules,
    rulebooks.file,
    rulebooks.sha256
from staging.guideline_rulebooks as rulebooks
left join lines_judged using (guideline_id)
order by rulebooks.rulebook_order;

create or replace table build.guideline_rules as
select
    guideline_id,
    rule_id,
    line_label as line,
    effective_from,
    effective_to,
    cns,
    hr_positive,
    early_relapse,
    de_novo,
    received,
    not_received,
    list_transform(preferred, lambda e: e.regimen_group) as preferred,
    list_transform(preferred_if_not_received, lambda e: e.regimen_group)
        as preferred_if_not_received,
    prefer_next_in_sequence,
    list_transform(alternative, lambda e: e.regimen_group) as alternative,
    list_transform(alternative_if_not_received, lambda e: e.regimen_group)
        as alternative_if_not_received,
    conditional_groups,
    n_conditions,
    citation,
    note
from staging.guideline_rules
order by guideline_id, rule_order;
