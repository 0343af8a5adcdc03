-- stage: share / step: the run
-- reads: build.run_info, variables software_version, share_rulebooks (the rulebooks used,
--        JSON), share_data_cutoff_month, suppression_threshold, share_interval_days
-- writes: share.run (one row): what the share layer was made from, for a reader of the
--         shared tables and the share package's manifest

create or replace table share.run as
select
    run_info.run_id,
    run_info.started_at,
    run_info.source_fingerprint,
    run_info.parameters,
    getvariable('software_version')::varchar as software_version,
    getvariable('share_rulebooks')::json as rulebooks,
    getvariable('share_data_cutoff_month')::varchar as data_cutoff_month,
    getvariable('suppression_threshold')::integer as suppression_threshold,
    getvariable('share_interval_days')::double as life_table_interval_days
from build.run_info as run_info;
