-- stage: concordance / step: published context of each line
-- reads: staging.line_context, staging.line_rule_match, build.line_concordance
-- writes: build.line_context (one row per line: the context the verdict used and the
--         regimen groups the winning rule preferred and allowed for this patient)

create or replace table build.line_context as
select
    context.patient_id,
    context.line_number,
    context.start_date,
    context.start_year,
    context.site_id,
    context.regimen,
    context.regimen_group,
    context.ingredients,
    context.her2_directed,
    context.evaluated_as_line,
    context.cns,
    context.hr_positive,
    context.early_relapse,
    context.de_novo,
    context.received_groups,
    context.guideline_id,
    context.guideline_version,
    verdicts.rule_id,
    verdicts.category,
    coalesce(match.preferred_groups, []) as preferred_groups,
    coalesce(match.alternative_groups, []) as alternative_groups,
    coalesce(match.next_groups, []) as next_in_sequence
from staging.line_context as context
inner join build.line_concordance as verdicts using (patient_id, line_number)
left join staging.line_rule_match as match using (patient_id, line_number)
order by context.patient_id, context.line_number;
