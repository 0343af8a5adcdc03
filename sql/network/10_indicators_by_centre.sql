-- stage: network / step: indicators and concordance by centre
-- reads: network.centre_quality_indicators, network.centre_concordance_by_line
-- writes: network.indicators_by_centre: one row per measure x centre and one 'network' row
--         per measure (the sum over the centres whose counts are shown). Measures: each
--         quality indicator (all years, all sites of the centre) and the concordance rate
--         among evaluable lines per line group ('concordance_line_all', '_1', ... '_4+').
--         A count a centre suppressed is null and its rate null; the network total adds
--         up only what is shown, and says how many centres it left out. The funnel-plot
--         limits are added afterwards (her2audit.network.merge).

create or replace table network.indicators_by_centre as
with centre_measures as (
    select
        'indicator' as measure_kind,
        indicator as measure,
        centre,
        numerator,
        denominator
    from network.centre_quality_indicators
    where period = 'all' and site_id = 'all'

    union all
    select
        'concordance',
        'concordance_line_' || line,
        centre,
        n_concordant,
        n_evaluable
    from network.centre_concordance_by_line
),

shown as (
    select
        *,
        numerator is not null and denominator is not null as is_shown
    from centre_measures
),

network_totals as (
    select
        measure_kind,
        measure,
        'network' as centre,
        sum(numerator) filter (where is_shown)::bigint as numerator,
        sum(denominator) filter (where is_shown)::bigint as denominator,
        count(*) filter (where is_shown)::integer as n_centres,
        count(*) filter (where not is_shown)::integer as n_centres_suppressed
    from shown
    group by measure_kind, measure
)

select
    shown.measure_kind,
    shown.measure,
    shown.centre,
    shown.numerator::bigint as numerator,
    shown.denominator::bigint as denominator,
    case when shown.is_shown then shown.numerator / nullif(shown.denominator, 0) end as rate,
    network_totals.numerator / nullif(network_totals.denominator, 0) as network_rate,
    1::integer as n_centres,
    (not shown.is_shown)::integer as n_centres_suppressed
from shown
inner join network_totals using (measure_kind, measure)

union all
select
    measure_kind,
    measure,
    centre,
    numerator,
    denominator,
    numerator / nullif(denominator, 0) as rate,
    numerator / nullif(denominator, 0) as network_rate,
    n_centres,
    n_centres_suppressed
from network_totals
order by measure_kind, measure, centre = 'network', centre;
