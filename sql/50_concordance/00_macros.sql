-- stage: concordance / step: macros used by the concordance SQL
-- reads: nothing
-- writes: macro list_distinct_in_order(xs): the list without repeats, first occurrence kept
--         in place (list_distinct does not promise an order, and reasons must be stable);
--         macro groups_in_force(entries, as_of, given): the regimen groups of one of a
--         rule's lists (staging.guideline_rules.preferred, ...) that count for a line whose
--         rules are read as of `as_of` and whose earlier lines gave the ingredients `given`
--         (an entry counts inside its own effective window, and only when none of its
--         if_never_given ingredients was given)

create or replace macro list_distinct_in_order(xs) as
    list_filter(xs, lambda x, i: list_position(xs, x) = i);

create or replace macro groups_in_force(entries, as_of, given) as
    list_transform(
        list_filter(
            entries,
            lambda e: (e.effective_from is null or e.effective_from <= as_of)
                and (e.effective_to is null or as_of <= e.effective_to)
                and not list_has_any(e.if_never_given, given)
        ),
        lambda e: e.regimen_group
    );
