-- stage: share / step: quality indicator cells
-- reads: build.quality_indicators
-- writes: staging.share_quality_indicators_cells (indicator x period x site, 'all' marking
--         the totals; real counts, suppressed in Python)
-- Columns by name: a table an older version (or a test fixture) made keeps those it has.

create or replace table staging.share_quality_indicators_cells as
select columns(lambda c: list_contains(['indicator', 'period', 'site_id', 'numerator',
    'denominator', 'rate'], c))
from build.quality_indicators;
