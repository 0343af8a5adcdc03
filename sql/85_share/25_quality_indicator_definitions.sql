-- stage: share / step: quality indicator definitions (no counts)
-- reads: build.quality_indicator_definitions
-- writes: share.quality_indicator_definitions
-- Columns by name: a table an older version (or a test fixture) made keeps those it has.

create or replace table share.quality_indicator_definitions as
select columns(lambda c: list_contains(['indicator', 'definition', 'numerator', 'denominator',
    'unit', 'period_basis', 'indicator_order'], c))
from build.quality_indicator_definitions
order by all;
