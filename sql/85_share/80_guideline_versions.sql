-- stage: share / step: guideline versions (no counts)
-- reads: build.guideline_versions
-- writes: share.guideline_versions: the rulebooks this run used, with their checksums (not
--         the number of lines each judged, nor the local path of its file). Columns by name:
--         a table an older version made keeps the columns it has.

create or replace table share.guideline_versions as
select columns(lambda c: list_contains(['guideline_id', 'version', 'effective_from',
    'effective_to', 'title', 'in_force_by_date', 'pinned', 'sha256'], c))
from build.guideline_versions
order by all;
