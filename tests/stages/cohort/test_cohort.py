"""The cohort stage: HER2 status by ASCO/CAP, HR status, de novo, early relapse, attrition."""

from __future__ import annotations

import datetime as dt

from her2audit.stages import cohort

D = dt.date.fromisoformat


def load_staging(ctx, patients, diagnoses, biomarkers, administrations=()):
    con = ctx.con
    con.execute(
        "create or replace table staging.patients (patient_id varchar, site_id varchar, "
        "birth_date date, sex varchar, death_date date, last_contact_date date)"
    )
    con.executemany("insert into staging.patients values (?, ?, ?, ?, ?, ?)", patients)
    con.execute(
        "create or replace table staging.diagnoses (patient_id varchar, "
        "diagnosis_date date, stage_at_diagnosis varchar, metastatic_date date)"
    )
    con.executemany("insert into staging.diagnoses values (?, ?, ?, ?)", diagnoses)
    con.execute(
        "create or replace table staging.biomarkers (patient_id varchar, test_date date, "
        "marker varchar, method varchar, result varchar, result_percent double)"
    )
    con.executemany("insert into staging.biomarkers values (?, ?, ?, ?, ?, ?)", biomarkers)
    con.execute(
        "create or replace table staging.metastases (patient_id varchar, "
        "diagnosis_date date, site varchar)"
    )
    con.execute(
        "create or replace table staging.treatments (record_key varchar, "
        "patient_id varchar, start_date date, end_date date)"
    )
    con.execute(
        "create or replace table staging.progressions (patient_id varchar, "
        "progression_date date, type varchar)"
    )
    con.execute(
        "create or replace table staging.administrations (record_key varchar, "
        "patient_id varchar, ingredient varchar, drug_class varchar, line_forming boolean, "
        "her2_directed boolean, start_date date, end_date date, setting varchar)"
    )
    if administrations:
        con.executemany(
            "insert into staging.administrations values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            administrations,
        )


def patient(pid, **kw):
    row = {
        "site_id": "S1",
        "birth_date": D("1960-06-15"),
        "sex": "F",
        "death_date": None,
        "last_contact_date": D("2024-01-01"),
    } | kw
    return (
        pid,
        row["site_id"],
        row["birth_date"],
        row["sex"],
        row["death_date"],
        row["last_contact_date"],
    )


def her2(pid, date, result, method="IHC"):
    return (pid, D(date), "HER2", method, result, None)


def facts(ctx):
    rows = ctx.con.execute("select * from staging.patient_facts order by patient_id").fetchall()
    cols = [d[0] for d in ctx.con.description]
    return {r[0]: dict(zip(cols, r, strict=True)) for r in rows}


def test_her2_status_follows_asco_cap(run_context):
    met = D("2020-03-01")
    load_staging(
        run_context,
        [
            patient(p)
            for p in [
                "ihc3",
                "ihc1",
                "ihc2_ish_amp",
                "ihc2_ish_neg",
                "ihc2_alone",
                "ish_amp",
                "late_test",
                "untested",
            ]
        ],
        [
            (p, D("2018-01-01"), "II", met)
            for p in [
                "ihc3",
                "ihc1",
                "ihc2_ish_amp",
                "ihc2_ish_neg",
                "ihc2_alone",
                "ish_amp",
                "late_test",
                "untested",
            ]
        ],
        [
            her2("ihc3", "2020-03-05", "3+"),
            her2("ihc1", "2020-03-05", "1+"),
            her2("ihc2_ish_amp", "2020-03-05", "2+"),
            her2("ihc2_ish_amp", "2020-03-05", "amplified", "ISH"),
            her2("ihc2_ish_neg", "2020-03-05", "2+"),
            her2("ihc2_ish_neg", "2020-03-05", "not amplified", "ISH"),
            her2("ihc2_alone", "2020-03-05", "2+"),
            # ISH on another date does not resolve an IHC 2+ ... but is itself a later specimen
            her2("ish_amp", "2018-01-01", "1+"),
            her2("ish_amp", "2020-04-01", "amplified", "ISH"),
            # a test more than 60 days after metastatic diagnosis does not count
            her2("late_test", "2020-06-01", "3+"),
        ],
    )
    cohort.run(run_context)
    f = facts(run_context)
    assert f["ihc3"]["her2_status"] == "positive"
    assert f["ihc1"]["her2_status"] == "negative"
    assert f["ihc2_ish_amp"]["her2_status"] == "positive"
    assert f["ihc2_ish_neg"]["her2_status"] == "negative"
    assert f["ihc2_alone"]["her2_status"] == "equivocal"
    assert f["ish_amp"]["her2_status"] == "positive"  # latest specimen wins
    assert f["late_test"]["her2_status"] == "not_tested"
    assert f["untested"]["her2_status"] == "not_tested"


def test_latest_specimen_within_60_days_decides(run_context):
    load_staging(
        run_context,
        [patient("P1")],
        [("P1", D("2015-01-01"), "II", D("2020-01-01"))],
        [her2("P1", "2015-01-01", "3+"), her2("P1", "2020-02-15", "1+")],
    )
    cohort.run(run_context)
    f = facts(run_context)["P1"]
    assert (f["her2_status"], f["her2_test_date"]) == ("negative", D("2020-02-15"))


def test_hr_status_positive_at_one_percent(run_context):
    met = D("2020-01-01")
    pids = ["er80", "pr1", "both_neg", "er_zero_pct", "none"]
    load_staging(
        run_context,
        [patient(p) for p in pids],
        [(p, met, "IV", met) for p in pids],
        [her2(p, "2020-01-01", "3+") for p in pids]
        + [
            ("er80", D("2020-01-01"), "ER", "IHC", "80%", 80.0),
            ("pr1", D("2020-01-01"), "ER", "IHC", "negative", None),
            ("pr1", D("2020-01-01"), "PR", "IHC", "1%", 1.0),
            ("both_neg", D("2020-01-01"), "ER", "IHC", "negative", None),
            ("both_neg", D("2020-01-01"), "PR", "IHC", "negative", None),
            ("er_zero_pct", D("2020-01-01"), "ER", "IHC", "0%", 0.0),
        ],
    )
    cohort.run(run_context)
    f = facts(run_context)
    assert [f[p]["hr_status"] for p in pids] == [
        "positive",
        "positive",
        "negative",
        "negative",
        "unknown",
    ]
    assert [f[p]["hr_positive"] for p in pids] == [True, True, False, False, False]


def test_de_novo_and_early_relapse(run_context):
    load_staging(
        run_context,
        [patient(p) for p in ["de_novo", "early", "late", "no_prior"]],
        [
            ("de_novo", D("2020-01-01"), "IV", D("2020-03-01")),  # 60 days: de novo
            ("early", D("2018-01-01"), "II", D("2019-09-01")),
            ("late", D("2018-01-01"), "II", D("2019-09-01")),
            ("no_prior", D("2018-01-01"), "II", D("2019-09-01")),
        ],
        [her2(p, "2018-01-01", "3+") for p in ["de_novo", "early", "late", "no_prior"]],
        [
            # last adjuvant trastuzumab 2019-03-05: metastasis 180 days later -> early relapse
            (
                "r1",
                "early",
                "trastuzumab",
                "anti_her2_antibody",
                True,
                True,
                D("2018-03-01"),
                D("2019-03-05"),
                "adjuvant",
            ),
            # 2019-02-20 is 193 days before metastasis -> not early
            (
                "r2",
                "late",
                "trastuzumab",
                "anti_her2_antibody",
                True,
                True,
                D("2018-03-01"),
                D("2019-02-20"),
                "adjuvant",
            ),
            # chemotherapy only: no HER2-directed treatment before metastasis
            (
                "r3",
                "no_prior",
                "docetaxel",
                "taxane",
                True,
                False,
                D("2019-06-01"),
                None,
                "adjuvant",
            ),
        ],
    )
    cohort.run(run_context)
    f = facts(run_context)
    assert f["de_novo"]["de_novo"] and not f["de_novo"]["early_relapse"]
    assert f["early"]["early_relapse"] and not f["early"]["de_novo"]
    assert f["early"]["last_prior_her2_date"] == D("2019-03-05")
    assert not f["late"]["early_relapse"]
    assert not f["no_prior"]["early_relapse"]


def test_attrition_accounts_for_every_patient(run_context):
    met = D("2020-01-01")
    load_staging(
        run_context,
        [patient(p) for p in ["pos", "neg", "equiv", "nomet", "nodx", "untested"]],
        [
            ("pos", met, "IV", met),
            ("neg", met, "IV", met),
            ("equiv", met, "IV", met),
            ("nomet", met, "II", None),
            ("untested", met, "IV", met),
        ],
        [
            her2("pos", "2020-01-01", "3+"),
            her2("neg", "2020-01-01", "0"),
            her2("equiv", "2020-01-01", "2+"),
            her2("nomet", "2020-01-01", "3+"),
        ],
    )
    cohort.run(run_context)
    con = run_context.con
    attrition = con.execute(
        "select step, n_patients, n_excluded, reason from build.cohort_attrition "
        "order by step_order"
    ).fetchall()
    assert [(s, n, e) for s, n, e, _ in attrition] == [
        ("registry_patients", 6, 0),
        ("has_diagnosis", 5, 1),
        ("metastatic", 4, 1),
        ("her2_tested", 3, 1),
        ("her2_not_negative", 2, 1),
        ("her2_positive", 1, 1),
    ]
    exclusions = dict(
        con.execute("select patient_id, reason from build.patient_exclusions").fetchall()
    )
    assert exclusions == {
        "nodx": "no_diagnosis_record",
        "nomet": "never_metastatic",
        "untested": "no_her2_test_by_metastatic_date_plus_60_days",
        "neg": "her2_negative_at_metastatic_diagnosis",
        "equiv": "her2_equivocal_at_metastatic_diagnosis",
    }
    assert con.execute("select list(patient_id) from build.patients").fetchone()[0] == ["pos"]


def test_data_cutoff_defaults_to_latest_date_and_can_be_set(run_context):
    load_staging(
        run_context,
        [patient("P1", last_contact_date=D("2024-05-05"))],
        [("P1", D("2020-01-01"), "IV", D("2020-01-01"))],
        [her2("P1", "2020-01-01", "3+")],
    )
    cohort.run(run_context)
    con = run_context.con
    assert con.execute("select data_cutoff from staging.data_cutoff").fetchone()[0] == D(
        "2024-05-05"
    )
    con.execute("set variable data_cutoff = date '2025-01-01'")
    cohort.run(run_context)
    assert con.execute("select data_cutoff from staging.data_cutoff").fetchone()[0] == D(
        "2025-01-01"
    )
    assert con.execute("select last_known_alive_date from build.patients").fetchone()[0] == D(
        "2025-01-01"
    )
