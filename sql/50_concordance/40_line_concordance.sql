-- stage: concordance / step: the verdict of every line (SPEC §6)
-- reads: line_context_work (temp, from step 10), staging.verdicts
-- (temp line_verdicts_work: each line joined to its verdict once, read by both tables)
-- writes: build.line_concordance (patient_id, line_number, guideline_id, guideline_version,
--         category, concordant, rule_id, reason, evaluated_as_line, cns, hr_positive,
--         early_relapse), and build.line_context (the context, the rulebook, the date its
--         rules were read at (rules_as_of) and the rule, and the preferred and alternative
--         regimen groups for that patient at that line)
-- line_concordance is stored in (patient_id, line_number) order; line_context is not
-- sorted (sorting 1M patients' lines twice costs more than it is worth: order when you read)

-- Each line meets its verdict (one per distinct context) once; both tables read this.
create or replace temp table line_verdicts_work as
select
    lines.*,
    verdicts.category,
    verdicts.concordant,
    verdicts.rule_id,
    verdicts.reason_tail,
    verdicts.received_groups,
    verdicts.preferred_groups,
    verdicts.alternative_groups,
    verdicts.next_groups
from line_context_work as lines
inner join staging.verdicts as verdicts
    on verdicts.guideline_id is not distinct from lines.guideline_id
    and verdicts.guideline_version is not distinct from lines.guideline_version
    and verdicts.evaluated_as_line = lines.evaluated_as_line
    and verdicts.cns = lines.cns
    and verdicts.hr_positive = lines.hr_positive
    and verdicts.early_relapse = lines.early_relapse
    and verdicts.de_novo = lines.de_novo
    and verdicts.received_mask = lines.received_mask
    and verdicts.given_mask = lines.given_mask
    and verdicts.rules_as_of is not distinct from lines.rules_as_of
    and verdicts.regimen_group is not distinct from lines.regimen_group
    and verdicts.known_group = lines.known_group
    and verdicts.her2_directed = lines.her2_directed
    and verdicts.regimen_text = lines.regimen_text
    and verdicts.detail_text is not distinct from lines.detail_text;

create or replace table build.line_concordance as
select
    lines.patient_id,
    lines.line_number,
    lines.guideline_id,
    lines.guideline_version,
    lines.category,
    lines.concordant,
    lines.rule_id,
    'Line ' || lines.line_number || ' (' || strftime(lines.start_date, '%Y-%m-%d') || ')'
    || case when lines.evaluated_as_line <> lines.line_number
        then ', evaluated as line ' || lines.evaluated_as_line || ' after early relapse'
        else '' end
    || ': ' || lines.reason_tail as reason,
    lines.evaluated_as_line,
    lines.cns,
    lines.hr_positive,
    lines.early_relapse
from line_verdicts_work as lines
order by lines.patient_id, lines.line_number;

create or replace table build.line_context as
select
    lines.patient_id,
    lines.line_number,
    lines.start_date,
    lines.start_year,
    lines.site_id,
    lines.regimen,
    lines.regimen_group,
    lines.ingredients,
    lines.her2_directed,
    lines.evaluated_as_line,
    lines.cns,
    lines.hr_positive,
    lines.early_relapse,
    lines.de_novo,
    lines.received_groups,
    lines.guideline_id,
    lines.guideline_version,
    lines.rules_as_of,
    lines.rule_id,
    lines.category,
    lines.concordant,
    coalesce(lines.preferred_groups, []) as preferred_groups,
    coalesce(lines.alternative_groups, []) as alternative_groups,
    coalesce(lines.next_groups, []) as next_in_sequence
from line_verdicts_work as lines;

drop table if exists line_verdicts_work;
drop table if exists line_context_work;
