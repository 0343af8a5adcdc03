-- stage: outcomes / step: line_outcomes
-- reads: build.lines_of_therapy, build.patients, staging.data_cutoff
-- writes: build.line_outcomes (os, ttnt, ttd per line: days and event flags)
-- SPEC §7. An alive patient is censored at the last date known alive
-- (build.patients.last_known_alive_date: latest of last contact, latest administration and
-- data cut-off), never after the data cut-off; a death after the cut-off is not counted.
-- os: line start -> death. ttnt: line start -> next line's start or death, whichever first.
-- ttd: line start -> the line's last administration (end_date) when it ended by next_line,
-- treatment_gap or death; an ongoing line is censored. Durations are never negative.

create or replace table build.line_outcomes as
with cutoff as (
    select max(data_cutoff) as data_cutoff
    from staging.data_cutoff
),

patients as (
    select
        patients.patient_id,
        case
            when patients.death_date <= cutoff.data_cutoff then patients.death_date
        end as death_date,
        least(
            coalesce(patients.last_known_alive_date, cutoff.data_cutoff), cutoff.data_cutoff
        ) as censor_date,
        cutoff.data_cutoff
    from build.patients as patients
    cross join cutoff
),

lines as (
    select
        patient_id,
        line_number,
        start_date,
        end_date,
        end_reason,
        lead(start_date) over (
            partition by patient_id order by line_number
        ) as next_line_start
    from build.lines_of_therapy
),

line_ends as (
    select
        lines.patient_id,
        lines.line_number,
        lines.start_date,
        -- os
        patients.death_date is not null as os_event,
        coalesce(patients.death_date, patients.censor_date) as os_end,
        -- ttnt: the earlier of the next line's start (up to the cut-off) and death
        least(
            case when lines.next_line_start <= patients.data_cutoff then lines.next_line_start end,
            patients.death_date
        ) as ttnt_event_date,
        -- ttd: the last administration of a line that ended; ongoing lines are censored
        lines.end_reason in ('next_line', 'treatment_gap', 'death') as ttd_event,
        lines.end_date,
        patients.censor_date
    from lines
    inner join patients
        on lines.patient_id = patients.patient_id
)

select
    patient_id,
    line_number,
    start_date,
    greatest(datediff('day', start_date, os_end), 0)::integer as os_days,
    os_event,
    greatest(
        datediff('day', start_date, coalesce(ttnt_event_date, censor_date)), 0
    )::integer as ttnt_days,
    ttnt_event_date is not null as ttnt_event,
    greatest(
        datediff('day', start_date, case when ttd_event then end_date else censor_date end), 0
    )::integer as ttd_days,
    coalesce(ttd_event, false) as ttd_event
from line_ends
order by patient_id, line_number;
