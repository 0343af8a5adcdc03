-- stage: concordance / step: macros used by the concordance SQL
-- reads: nothing
-- writes: macro list_distinct_in_order(xs): the list without repeats, first occurrence kept
--         in place (list_distinct does not promise an order, and reasons must be stable)

create or replace macro list_distinct_in_order(xs) as
    list_filter(xs, lambda x, i: list_position(xs, x) = i);
