"""A realistic stand-in for the tables the other stages write, for report tests.

`write_build_tables(con, n_patients, seed)` fills `build` with the SPEC's tables
(patients, lines_of_therapy, line_concordance, quality_indicators and their definitions,
cohort_attrition, quarantine, row_accounting, unmapped_drugs, data_quality_results,
survival_summary, survival_curves, survival_comparisons, median_follow_up,
guideline_versions), so the real `marts`, `report` and `publish` stages can run on it.
Data are drawn with numpy (vectorised, seeded) and summarised in DuckDB SQL; Kaplan–Meier
curves are computed in SQL with Greenwood variance and log(−log) intervals (the median
follow-up by the outcomes stage's own step and estimator).

It always adds a site `S-TINY` with exactly 3 patients (ids `TINY-0001`…`TINY-0003`)
and quarantine details that quote patient ids, to try to break suppression and
pseudonymisation.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa

REGIMENS = {
    # regimen: (regimen_group, ingredients, her2_directed)
    "THP": ("taxane_trastuzumab_pertuzumab", "docetaxel + pertuzumab + trastuzumab", True),
    "TH": ("trastuzumab_chemotherapy", "paclitaxel + trastuzumab", True),
    "HP + endocrine": ("her2_endocrine", "letrozole + pertuzumab + trastuzumab", True),
    "T-DXd": ("trastuzumab_deruxtecan", "trastuzumab deruxtecan", True),
    "T-DM1": ("trastuzumab_emtansine", "trastuzumab emtansine", True),
    "Tucatinib + trastuzumab + capecitabine": (
        "tucatinib_trastuzumab_capecitabine", "capecitabine + trastuzumab + tucatinib", True),
    "Neratinib + capecitabine": ("neratinib_capecitabine", "capecitabine + neratinib", True),
    "Lapatinib + capecitabine": ("lapatinib_capecitabine", "capecitabine + lapatinib", True),
    "Trastuzumab + other chemotherapy": (
        "trastuzumab_chemotherapy", "trastuzumab + vinorelbine", True),
    "Chemotherapy, no anti-HER2": ("chemotherapy_only", "capecitabine", False),
    "Investigational agent": ("investigational", "zanidatamab", True),
    "Other": ("other", "everolimus", False),
}
NAMES = list(REGIMENS)
IDX = {name: i for i, name in enumerate(NAMES)}

# Probabilities of each regimen by line (1, 2, 3, 4+) and era (before / from 2022-05-04).
_P = {
    (1, 0): {"THP": .70, "TH": .09, "HP + endocrine": .07, "T-DM1": .04,
             "Chemotherapy, no anti-HER2": .05, "Investigational agent": .03, "Other": .02},
    (1, 1): {"THP": .74, "TH": .07, "HP + endocrine": .08, "T-DXd": .02,
             "Chemotherapy, no anti-HER2": .04, "Investigational agent": .03, "Other": .02},
    (2, 0): {"T-DM1": .62, "T-DXd": .06, "Tucatinib + trastuzumab + capecitabine": .10,
             "Lapatinib + capecitabine": .08, "Trastuzumab + other chemotherapy": .07,
             "Chemotherapy, no anti-HER2": .04, "Investigational agent": .03},
    (2, 1): {"T-DXd": .72, "T-DM1": .08, "Tucatinib + trastuzumab + capecitabine": .11,
             "Trastuzumab + other chemotherapy": .04, "Chemotherapy, no anti-HER2": .02,
             "Investigational agent": .03},
    (3, 0): {"Tucatinib + trastuzumab + capecitabine": .35, "T-DXd": .15, "T-DM1": .10,
             "Lapatinib + capecitabine": .15, "Trastuzumab + other chemotherapy": .12,
             "Chemotherapy, no anti-HER2": .08, "Investigational agent": .05},
    (3, 1): {"Tucatinib + trastuzumab + capecitabine": .50, "T-DXd": .15, "T-DM1": .10,
             "Neratinib + capecitabine": .08, "Trastuzumab + other chemotherapy": .08,
             "Chemotherapy, no anti-HER2": .05, "Investigational agent": .04},
    (4, 0): {"Lapatinib + capecitabine": .25, "Neratinib + capecitabine": .15,
             "Trastuzumab + other chemotherapy": .25, "T-DM1": .10,
             "Chemotherapy, no anti-HER2": .15, "Investigational agent": .05, "Other": .05},
    (4, 1): {"Neratinib + capecitabine": .20, "Trastuzumab + other chemotherapy": .30,
             "T-DM1": .15, "Lapatinib + capecitabine": .10, "Chemotherapy, no anti-HER2": .15,
             "Investigational agent": .05, "Other": .05},
}
ERA_2022 = np.datetime64("2022-05-04")
EPOCH = np.datetime64("1970-01-01")


def _probs(line: int, era: int) -> np.ndarray:
    p = np.zeros(len(NAMES))
    for name, v in _P[(line, era)].items():
        p[IDX[name]] = v
    return p / p.sum()


def _dates(days: np.ndarray) -> pa.Array:
    return pa.array(days.astype("int32"), type=pa.int32()).cast(pa.date32())


def _draw_patients(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    n_sites = 14
    site_weights = rng.dirichlet(np.full(n_sites, 3.0))
    site = rng.choice(n_sites, size=n, p=site_weights)
    start = (np.datetime64("2013-03-01") - EPOCH).astype(int)
    end = (np.datetime64("2025-06-30") - EPOCH).astype(int)
    met = rng.integers(start, end, size=n)
    ids = np.array([f"PT{i:06d}" for i in range(n)], dtype=object)
    sites = np.array([f"S{s + 1:02d}" for s in site], dtype=object)
    # the site built to break suppression: 3 patients
    ids = np.concatenate([ids, np.array(["TINY-0001", "TINY-0002", "TINY-0003"], dtype=object)])
    sites = np.concatenate([sites, np.array(["S-TINY"] * 3, dtype=object)])
    met = np.concatenate([met, rng.integers(start, end, size=3)])
    m = len(ids)
    return {
        "patient_id": ids, "site_id": sites, "metastatic": met,
        "hr_positive": rng.random(m) < 0.55, "de_novo": rng.random(m) < 0.38,
        "early_relapse": rng.random(m) < 0.07, "age": rng.normal(57, 12, m).clip(25, 92),
        "os_months": rng.exponential(55 / np.log(2), m),
        "cns_month": np.where(rng.random(m) < 0.3, rng.exponential(24, m), np.inf),
        "poor_site": np.isin(sites, ["S03", "S-TINY"]),
    }


def _draw_lines(rng: np.random.Generator, pt: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    m = len(pt["patient_id"])
    n_lines = 1 + np.minimum(rng.geometric(0.42, m) - 1, 5)
    pidx = np.repeat(np.arange(m), n_lines)
    line = np.concatenate([np.arange(1, k + 1) for k in n_lines])
    gaps = np.where(line == 1, rng.integers(5, 75, len(line)),
                    rng.exponential(330, len(line)).astype(int) + 40)
    start = pt["metastatic"][pidx] + np.cumsum(gaps) - np.repeat(
        np.cumsum(np.r_[0, np.bincount(pidx, weights=gaps)[:-1].astype(int)]), n_lines)
    era = (start >= (ERA_2022 - EPOCH).astype(int)).astype(int)
    regimen = np.empty(len(line), dtype=int)
    u = rng.random(len(line))
    for ln in (1, 2, 3, 4):
        for e in (0, 1):
            sel = (np.minimum(line, 4) == ln) & (era == e)
            cdf = np.cumsum(_probs(ln, e))
            regimen[sel] = np.searchsorted(cdf, u[sel] * cdf[-1])
    # sites differ in how often they give chemotherapy without anti-HER2; S03 far more
    site_rate = {s: r for s, r in zip(sorted(set(pt["site_id"])),
                                      rng.uniform(0.0, 0.10, len(set(pt["site_id"]))),
                                      strict=True)}
    rate = np.array([site_rate[s] for s in pt["site_id"]])
    rate = np.where(pt["poor_site"], 0.35, rate)
    poor = rng.random(len(line)) < rate[pidx]
    regimen[poor] = IDX["Chemotherapy, no anti-HER2"]
    death = pt["metastatic"] + (pt["os_months"] * 30.4375).astype(int)
    cutoff = (np.datetime64("2025-12-31") - EPOCH).astype(int)
    keep = start < np.minimum(death[pidx], cutoff)
    keep &= (line == 1) | np.r_[True, keep[:-1]]
    pidx, line, start, regimen = pidx[keep], line[keep], start[keep], regimen[keep]
    nxt = np.r_[start[1:], 0]
    has_next = np.r_[pidx[1:] == pidx[:-1], False]
    end = np.where(has_next, nxt - rng.integers(7, 40, len(line)),
                   start + rng.integers(60, 500, len(line)))
    end = np.minimum(end, np.minimum(death[pidx], cutoff))
    end = np.maximum(end, start)
    reason = np.where(has_next, "next_line",
                      np.where(end >= cutoff, "ongoing",
                               np.where(end >= death[pidx], "death", "treatment_gap")))
    return {"pidx": pidx, "line": line, "start": start, "end": end, "regimen": regimen,
            "end_reason": reason, "death": death, "cutoff": cutoff, "has_next": has_next,
            "next_start": np.where(has_next, nxt, 0)}


def _verdicts(pt, ln) -> dict[str, np.ndarray]:
    """Category per line by a simplified rulebook (enough for plausible shares)."""
    start, line, reg = ln["start"], ln["line"], ln["regimen"]
    p = ln["pidx"]
    cns = (start - pt["metastatic"][p]) / 30.4375 >= pt["cns_month"][p]
    hr = pt["hr_positive"][p]
    early = pt["early_relapse"][p] & (line == 1)
    as_line = np.where(early, 2, line)
    guide = np.select(
        [start >= (ERA_2022 - EPOCH).astype(int),
         start >= (np.datetime64("2020-04-17") - EPOCH).astype(int),
         start >= (np.datetime64("2013-02-22") - EPOCH).astype(int)],
        ["her2-mbc-2023", "her2-mbc-2020", "her2-mbc-2013"], default=None).astype(object)
    name = np.array(NAMES, dtype=object)[reg]
    cat = np.full(len(line), "not_recommended", dtype=object)
    preferred = {
        1: ["THP"], 2: ["T-DXd"], 3: ["Tucatinib + trastuzumab + capecitabine"],
    }
    alternative = {
        1: ["HP + endocrine", "TH"], 2: ["T-DM1", "Tucatinib + trastuzumab + capecitabine"],
        3: ["T-DXd", "T-DM1"],
    }
    for k in (1, 2, 3):
        sel = as_line == k
        cat[sel & np.isin(name, preferred[k])] = "preferred"
        cat[sel & np.isin(name, alternative[k])] = "alternative"
    old = guide != "her2-mbc-2023"
    cat[(as_line == 2) & old & (name == "T-DM1")] = "preferred"
    cat[(as_line == 2) & old & (name == "T-DXd")] = "alternative"
    cat[(as_line == 1) & ~hr & (name == "HP + endocrine")] = "not_recommended"
    sel4 = (as_line >= 4) & np.isin(name, ["Lapatinib + capecitabine", "Neratinib + capecitabine",
                                          "Trastuzumab + other chemotherapy", "T-DM1"])
    cat[sel4] = "alternative"
    cat[name == "Investigational agent"] = "trial"
    cat[(name == "Other") | (guide == None)] = "not_evaluable"  # noqa: E711
    return {"cns": cns, "hr": hr, "early": early, "as_line": as_line, "guide": guide,
            "category": cat}


KM_SQL = """
create or replace table build.survival_curves as
with durations as (select * from _durations),
per_time as (
    select endpoint, grouping, group_label, line_number, group_value, time_days,
           count(*) filter (where event) as n_events,
           count(*) filter (where not event) as n_censored,
           count(*) as n_leaving
    from durations group by all
),
risk as (
    select *,
           sum(n_leaving) over (partition by endpoint, grouping, group_label
                                order by time_days desc) as n_at_risk
    from per_time
),
steps as (
    select *,
        exp(sum(ln(greatest(1 - n_events / n_at_risk, 1e-12))) over w) as survival,
        sum(case when n_at_risk > n_events then n_events / (n_at_risk * (n_at_risk - n_events))
                 else 0 end) over w as greenwood
    from risk
    window w as (partition by endpoint, grouping, group_label order by time_days)
)
select endpoint, grouping, group_label, line_number, group_value, time_days, survival,
    case when survival > 0 and survival < 1 and greenwood > 0 then
        exp(-exp(ln(-ln(survival)) + 1.959964 * sqrt(greenwood) / abs(ln(survival)))) end
        as ci_lower,
    case when survival > 0 and survival < 1 and greenwood > 0 then
        exp(-exp(ln(-ln(survival)) - 1.959964 * sqrt(greenwood) / abs(ln(survival)))) end
        as ci_upper,
    n_at_risk::bigint as n_at_risk, n_events::bigint as n_events,
    n_censored::bigint as n_censored
from steps
order by endpoint, grouping, group_label, time_days;

create or replace table build.survival_summary as
select endpoint, grouping, group_label, line_number, group_value,
    max(n_at_risk) as n, sum(n_events)::bigint as events,
    min(time_days) filter (where survival <= 0.5) as median_days,
    min(time_days) filter (where ci_lower <= 0.5) as median_ci_lower_days,
    min(time_days) filter (where ci_upper <= 0.5) as median_ci_upper_days
from build.survival_curves
group by all
order by all;
"""

QI_SQL = """
create or replace table build.quality_indicators as
with judged as (
    select c.*, l.start_date, l.regimen, l.her2_directed, p.site_id,
           year(l.start_date)::varchar as year
    from build.line_concordance c
    join build.lines_of_therapy l using (patient_id, line_number)
    join build.patients p using (patient_id)
),
facts as (
    select 'first_line_thp' as indicator, site_id, year, (regimen = 'THP') as hit
    from judged where line_number = 1 and not early_relapse
    union all
    select 'second_line_preferred', site_id, year, category = 'preferred'
    from judged where evaluated_as_line = 2 and category <> 'not_evaluable'
    union all
    select 'third_line_preferred', site_id, year, category = 'preferred'
    from judged where evaluated_as_line = 3 and category <> 'not_evaluable'
    union all
    select 'her2_blockade', site_id, year, her2_directed from judged
    union all
    select 'line_concordance', site_id, year, concordant
    from judged where category in ('preferred', 'alternative', 'not_recommended')
)
select indicator, coalesce(year, 'all') as period, coalesce(site_id, 'all') as site_id,
       count(*) filter (where hit) as numerator, count(*) as denominator,
       count(*) filter (where hit) / count(*) as rate
from facts
group by grouping sets ((indicator), (indicator, year), (indicator, site_id),
                        (indicator, site_id, year))
order by all;
"""


LINE_CONTEXT_SQL = """
create or replace table build.line_context as
select c.patient_id, c.line_number, l.start_date, year(l.start_date) as start_year, p.site_id,
       l.regimen, l.regimen_group, l.ingredients, l.her2_directed, c.evaluated_as_line,
       c.cns, c.hr_positive, c.early_relapse, c.guideline_id, c.guideline_version, c.rule_id,
       c.category, c.concordant,
       case least(c.evaluated_as_line, 4)
            when 1 then ['taxane_trastuzumab_pertuzumab']
            when 2 then case when c.guideline_id = 'her2-mbc-2023'
                             then ['trastuzumab_deruxtecan'] else ['trastuzumab_emtansine'] end
            when 3 then ['tucatinib_trastuzumab_capecitabine']
            else []::varchar[] end as preferred_groups
from build.line_concordance as c
join build.lines_of_therapy as l using (patient_id, line_number)
join build.patients as p using (patient_id)
"""


def _write_median_follow_up(con) -> None:
    """build.median_follow_up as the outcomes stage writes it (its SQL step and estimator,
    on the fixture's patients)."""
    from her2audit import warehouse
    from her2audit.paths import SQL_DIR
    from her2audit.stages.outcomes import km, stage

    warehouse.run_sql_file(con, SQL_DIR / "60_outcomes" / "40_follow_up_input.sql")
    warehouse.write_arrow(con, "build.median_follow_up", km.median_follow_up(
        stage.follow_up_input(con), stage.load_settings().alpha))


def write_build_tables(con, n_patients: int = 800, seed: int = 7) -> None:
    """Create the upstream `build` tables for `n_patients` (+3 at site S-TINY)."""
    rng = np.random.default_rng(seed)
    pt = _draw_patients(rng, n_patients)
    ln = _draw_lines(rng, pt)
    v = _verdicts(pt, ln)
    p = ln["pidx"]
    m = len(pt["patient_id"])
    death = ln["death"]
    cutoff = ln["cutoff"]
    dead = death <= cutoff
    patients = pa.table({
        "patient_id": pt["patient_id"].tolist(),
        "site_id": pt["site_id"].tolist(),
        "age_at_metastatic": pt["age"].astype(int),
        "metastatic_date": _dates(pt["metastatic"]),
        "metastatic_year": (pt["metastatic"].astype("datetime64[D]").astype("datetime64[Y]")
                            .astype(int) + 1970),
        "de_novo": pt["de_novo"], "her2_status": ["positive"] * m,
        "hr_status": np.where(pt["hr_positive"], "positive", "negative").tolist(),
        "hr_positive": pt["hr_positive"], "early_relapse": pt["early_relapse"],
        "death_date": pa.array(np.where(dead, death, 0).astype("int32")).cast(pa.date32())
        .to_pylist(),
        "os_days": np.minimum(death, cutoff) - pt["metastatic"],
        "last_known_alive_date": _dates(np.maximum(
            pt["metastatic"], np.minimum(death, cutoff) - (np.arange(m) % 9) * 60)),
        "os_event": dead,
    })
    # death_date null for the living
    patients = patients.set_column(
        patients.schema.get_field_index("death_date"), "death_date",
        pa.array([d if alive else None for d, alive in
                  zip(patients["death_date"].to_pylist(), ~dead, strict=True)],
                 type=pa.date32()))
    names = np.array(NAMES, dtype=object)[ln["regimen"]]
    lines = pa.table({
        "patient_id": pt["patient_id"][p].tolist(),
        "line_number": ln["line"].astype("int32"),
        "start_date": _dates(ln["start"]), "end_date": _dates(ln["end"]),
        "end_reason": ln["end_reason"].tolist(),
        "ingredients": [REGIMENS[n][1] for n in names],
        "regimen": names.tolist(),
        "regimen_group": [REGIMENS[n][0] for n in names],
        "her2_directed": [REGIMENS[n][2] for n in names],
        "has_maintenance_addition": np.zeros(len(p), dtype=bool),
        "n_administrations": rng.integers(1, 30, len(p)).astype("int32"),
    })
    concordant = np.isin(v["category"], ["preferred", "alternative"])
    concordance = pa.table({
        "patient_id": pt["patient_id"][p].tolist(),
        "line_number": ln["line"].astype("int32"),
        "guideline_id": v["guide"].tolist(),
        "guideline_version": [None if g is None else g[-4:] + ".1" for g in v["guide"]],
        "category": v["category"].tolist(),
        "concordant": concordant,
        "rule_id": [f"L{min(a, 4)}-{c}" for a, c in zip(v["as_line"], v["category"],
                                                         strict=True)],
        "reason": [f"Line {ln_}: {n} is {c.replace('_', ' ')}." for ln_, n, c in
                   zip(ln["line"], names, v["category"], strict=True)],
        "evaluated_as_line": v["as_line"].astype("int32"),
        "cns": v["cns"], "hr_positive": v["hr"], "early_relapse": v["early"],
    })
    for name, table in (("patients", patients), ("lines_of_therapy", lines),
                        ("line_concordance", concordance)):
        con.register("_t", table)
        con.execute(f"create or replace table build.{name} as select * from _t")
        con.unregister("_t")
    con.execute(QI_SQL)
    con.execute(LINE_CONTEXT_SQL)
    con.execute("create or replace table staging.data_cutoff as "
                "select date '2025-12-31' as data_cutoff, false as given")
    con.execute("""
        create or replace table build.quality_indicator_definitions as
        select * from (values
          ('first_line_thp', 'First lines (not early relapse) given a taxane + trastuzumab + '
           || 'pertuzumab (THP).'),
          ('second_line_preferred', 'Evaluable second lines given the preferred regimen.'),
          ('third_line_preferred', 'Evaluable third lines given the preferred regimen.'),
          ('her2_blockade', 'Lines that include a HER2-directed drug.'),
          ('line_concordance', 'Evaluable lines that are preferred or alternative.')
        ) as t(indicator, definition)
    """)
    # outcomes: durations per endpoint x grouping, then KM in SQL
    os_days = np.minimum(death[p], cutoff) - ln["start"]
    ttnt_days = np.where(ln["has_next"], ln["next_start"], np.minimum(death[p], cutoff)) \
        - ln["start"]
    ttnt_event = ln["has_next"] | (death[p] <= cutoff)
    ttd_days = ln["end"] - ln["start"]
    ttd_event = ln["end_reason"] != "ongoing"
    line_label = np.where(ln["line"] >= 4, "4+", ln["line"].astype(str)).astype(object)
    conc_label = np.array([f"line {a} · {'concordant' if c else 'not concordant'}"
                           for a, c in zip(line_label, concordant, strict=True)], dtype=object)
    reg_label = np.array([f"line {a} · {r}" for a, r in zip(line_label, names, strict=True)],
                         dtype=object)
    frames = []
    for endpoint, days, event in (("os", os_days, death[p] <= cutoff),
                                  ("ttnt", ttnt_days, ttnt_event), ("ttd", ttd_days, ttd_event)):
        for grouping, labels in (("line", line_label), ("line_concordance", conc_label),
                                 ("line_regimen_group", reg_label)):
            values = {"line": [None] * len(p),
                      "line_concordance": np.where(concordant, "concordant",
                                                   "not_concordant").tolist(),
                      "line_regimen_group": [REGIMENS[n][0] for n in names]}[grouping]
            frames.append(pa.table({
                "endpoint": [endpoint] * len(p), "grouping": [grouping] * len(p),
                "group_label": labels.tolist(),
                "line_number": np.minimum(ln["line"], 4).astype("int32"),
                "group_value": pa.array(values, type=pa.string()),
                "time_days": np.maximum(days, 0).astype(float),
                "event": np.asarray(event, dtype=bool)}))
    con.register("_durations", pa.concat_tables(frames))
    con.execute(KM_SQL)
    con.unregister("_durations")
    _write_median_follow_up(con)
    # crude hazard ratios: concordant vs not, by line, rate ratio with a log-normal interval
    rows = []
    for k in (1, 2, 3):
        for endpoint, days, event in (("os", os_days, death[p] <= cutoff),
                                      ("ttnt", ttnt_days, ttnt_event)):
            sel = ln["line"] == k
            a, b = sel & concordant, sel & ~concordant
            ea, eb = event[a].sum(), event[b].sum()
            if ea == 0 or eb == 0:
                continue
            hr = (ea / days[a].sum()) / (eb / days[b].sum())
            se = np.sqrt(1 / ea + 1 / eb)
            for model, adj in (("cox_unadjusted", 1.0), ("cox_adjusted", 0.97)):
                rows.append({
                    "endpoint": endpoint, "line_number": k,
                    "comparison": "concordant vs not concordant", "model": model,
                    "n": int(sel.sum()), "events": int(ea + eb),
                    "n_concordant": int(a.sum()), "events_concordant": int(ea),
                    "n_not_concordant": int(b.sum()), "events_not_concordant": int(eb),
                    "hazard_ratio": float(hr * adj),
                    "hr_ci_lower": float(hr * adj * np.exp(-1.96 * se)),
                    "hr_ci_upper": float(hr * adj * np.exp(1.96 * se)),
                    "p_value": 0.01, "test_statistic": 2.5, "status": "estimated",
                    "note": None, "caveat": "Observational association, not a causal "
                    "effect; adjusted for age, HR status, CNS, de novo disease and year."})
    con.register("_t", pa.Table.from_pylist(rows))
    con.execute("create or replace table build.survival_comparisons as select * from _t")
    con.unregister("_t")
    n_all = m + 260
    con.execute(f"""
        create or replace table build.cohort_attrition as
        select * from (values
          (1, 'patients in the registry', {n_all}, 0, null),
          (2, 'breast cancer diagnosis recorded', {n_all - 40}, 40, 'no diagnosis row'),
          (3, 'HER2-positive at metastatic diagnosis', {m + 4}, 216, 'HER2-negative or '
           || 'equivocal'),
          (4, 'metastatic disease', {m}, 4, 'never metastatic')
        ) as t(step_order, step, n_patients, n_excluded, reason)
    """)
    con.execute("""
        create or replace table build.quarantine as
        select * from (values
          ('treatments', 'treatments.csv:17', 'impossible_date',
           'start_date 2031-02-03 for patient TINY-0002 is in the future', 'TINY-0002'),
          ('treatments', 'treatments.csv:18', 'impossible_date',
           'start_date 2031-02-04 is in the future', 'PT000001'),
          ('patients', 'patients.csv:4', 'duplicate_patient_id', 'PT000002 repeated',
           'PT000002')
        ) as t(source_table, record_key, rule, detail, patient_id)
        union all
        select 'treatments', 'treatments.csv:' || (100 + i), 'end_before_start',
               'end_date before start_date', 'PT' || lpad(i::varchar, 6, '0')
        from range(40) as r(i)
    """)
    con.execute("""
        create or replace table build.row_accounting as
        select * from (values
          ('patients', 1203, 1202, 1, true), ('treatments', 52000, 51958, 42, true),
          ('diagnoses', 1200, 1200, 0, true)
        ) as t(source_table, rows_in, rows_staged, rows_quarantined, balanced)
    """)
    con.execute("""
        create or replace table build.unmapped_drugs as
        select * from (values ('zzz unknown', 23), ('herceptn', 4), ('xyz-123', 2))
            as t(drug, n_records)
    """)
    from her2audit.stages.validate import RESULT_SCHEMA  # the validate stage's own layout

    base = {"expectation_type": None, "column_name": None, "status": None,
            "unexpected_percent": None, "description": None}
    results = pa.Table.from_pylist([
        {**base, "run_id": "fixture-run", "suite": "patients",
         "expectation": "expect_column_values_to_not_be_null(patient_id)",
         "severity": "critical", "success": True, "status": "passed",
         "observed_value": "0 of 1203 values unexpected", "unexpected_count": 0},
        {**base, "run_id": "fixture-run", "suite": "treatments",
         "expectation": "expect_column_values_to_be_in_set(route)", "severity": "warning",
         "success": False, "status": "failed", "observed_value": "7 of 52000 values unexpected",
         "unexpected_count": 7},
    ], schema=RESULT_SCHEMA)
    con.register("_t", results)
    con.execute("create or replace table build.data_quality_results as select * from _t")
    con.unregister("_t")
    con.execute("""
        create or replace table build.guideline_versions as
        select * from (values
          ('her2-mbc-2013', '2013.1', date '2013-02-22', date '2020-04-16'),
          ('her2-mbc-2020', '2020.1', date '2020-04-17', date '2022-05-03'),
          ('her2-mbc-2023', '2023.1', date '2022-05-04', null::date)
        ) as t(guideline_id, version, effective_from, effective_to)
    """)
    con.execute("""
        create or replace table build.sensitivity as  -- the layout of her2audit sensitivity
        select * from (values
          ('max_gap_days=90, regimen_window_days=21', 30, 21, 90, false, 'indicator',
           'line_concordance', 1500, 2000, 0.75, 0.76, -0.01, null, null, null),
          ('max_gap_days=120, regimen_window_days=28', 30, 28, 120, true, 'indicator',
           'line_concordance', 1520, 2000, 0.76, 0.76, 0.0, null, null, null),
          ('max_gap_days=90, regimen_window_days=21', 30, 21, 90, false, 'line', '1',
           400, 500, 0.80, 0.79, 0.01, 505, 500, 31),
          ('max_gap_days=120, regimen_window_days=28', 30, 28, 120, true, 'line', '1',
           395, 500, 0.79, 0.79, 0.0, 500, 500, 0),
          ('max_gap_days=90, regimen_window_days=21', 30, 21, 90, false, 'line', '3',
           95, 100, 0.95, 0.94, 0.01, 101, 100, 4)
        ) as t(parameter_set, pre_index_days, regimen_window_days, max_gap_days,
               is_run_parameters, measure_type, measure, numerator, denominator, rate,
               run_rate, rate_change, n_lines, run_lines, lines_changed)
    """)
    con.execute("update build.run_info set source_fingerprint = ?",
                ["sha256:" + "ab" * 32])


def fixture_dates() -> tuple[dt.date, dt.date]:
    return dt.date(2013, 3, 1), dt.date(2025, 12, 31)
