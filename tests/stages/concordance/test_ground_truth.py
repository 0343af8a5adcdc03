"""Against the synthetic ground truth: wherever the inferred lines of a patient match the true
ones (same start, ingredients and regimen group, for this line and every earlier one), the
concordance stage recovers the generator's intended category and the context it used
(evaluated_as_line, CNS, HR status, early relapse, guideline version). The synthetic
registry runs to 2026, so the comparison covers every rulebook (her2-mbc-2025 included),
the approvals inside a rulebook's period, T-DXd + pertuzumab, and anti-HER2 + checkpoint
inhibitor trial lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from her2audit import pipeline, synth
from her2audit.parameters import load_parameters

PATIENTS = 1500
SEED = 4


@pytest.fixture(scope="module")
def warehouse_and_truth(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ground_truth")
    registry = tmp / "registry"
    synth.write_registry(registry, patients=PATIENTS, seed=SEED, fmt="csv")
    db = tmp / "her2audit.duckdb"
    pipeline.run_pipeline(db, str(registry), load_parameters(), None, "test",
                          stages=["extract", "cohort", "lines", "concordance"],
                          progress=lambda m: None)
    return db, registry / "truth" / "lines.csv"


def _compare(db: Path, truth_csv: Path):
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        con.execute(
            "create temp table truth as select * from read_csv(?, all_varchar = true)",
            [str(truth_csv)],
        )
        con.execute(
            """
            create temp table compared as
            with joined as (
                select
                    truth.patient_id,
                    truth.line_number::integer as line_number,
                    truth.start_date::date = lines.start_date
                        and truth.ingredients = lines.ingredients
                        and truth.regimen_group = lines.regimen_group as line_matches,
                    truth.regimen_group,
                    truth.intended_category,
                    verdicts.category,
                    verdicts.rule_id,
                    verdicts.reason,
                    truth.evaluated_as_line::integer as true_evaluated_as_line,
                    verdicts.evaluated_as_line,
                    truth.cns::boolean as true_cns,
                    verdicts.cns,
                    truth.hr_positive::boolean as true_hr_positive,
                    verdicts.hr_positive,
                    truth.early_relapse::boolean as true_early_relapse,
                    verdicts.early_relapse,
                    truth.guideline_id as true_guideline_id,
                    verdicts.guideline_id,
                    context.rules_as_of,
                    lines.ingredients as inferred_ingredients
                from truth
                left join build.lines_of_therapy as lines
                    on lines.patient_id = truth.patient_id
                    and lines.line_number = truth.line_number::integer
                left join build.line_concordance as verdicts
                    on verdicts.patient_id = truth.patient_id
                    and verdicts.line_number = truth.line_number::integer
                left join build.line_context as context
                    on context.patient_id = truth.patient_id
                    and context.line_number = truth.line_number::integer
            )
            select
                *,
                coalesce(bool_and(line_matches) over (
                    partition by patient_id order by line_number
                    rows between unbounded preceding and current row
                ), false) as history_matches
            from joined
            """
        )
        n_truth, n_matched = con.execute(
            "select count(*), count(*) filter (where history_matches) from compared"
        ).fetchone()
        disagreements = con.execute(
            """
            select patient_id, line_number, regimen_group, intended_category, category,
                true_evaluated_as_line, evaluated_as_line, true_cns, cns,
                true_hr_positive, hr_positive, true_early_relapse, early_relapse,
                true_guideline_id, guideline_id, rule_id, reason
            from compared
            where history_matches and (
                intended_category is distinct from category
                or true_evaluated_as_line is distinct from evaluated_as_line
                or true_cns is distinct from cns
                or true_hr_positive is distinct from hr_positive
                or true_early_relapse is distinct from early_relapse
                or true_guideline_id is distinct from guideline_id
            )
            order by patient_id, line_number
            """
        ).fetchall()
        by_category = dict(con.execute(
            "select intended_category, count(*) from compared where history_matches group by 1"
        ).fetchall())
        covered = dict(con.execute(
            """
            select what, count(*) from (
                select 'rulebook ' || guideline_id as what from compared
                where history_matches
                union all
                select 'rules as of ' || rules_as_of from compared
                where history_matches and guideline_id in ('her2-mbc-2013', 'her2-mbc-2020')
                union all
                select 'group ' || regimen_group || ' ' || intended_category from compared
                where history_matches
                union all
                select 'checkpoint inhibitor ' || intended_category from compared
                where history_matches
                    and regexp_matches(inferred_ingredients, 'pembrolizumab|atezolizumab')
            )
            group by what
            """
        ).fetchall())
    finally:
        con.close()
    return n_truth, n_matched, disagreements, by_category, covered


def test_intended_concordance_is_recovered_where_lines_match(warehouse_and_truth):
    n_truth, n_matched, disagreements, by_category, covered = _compare(*warehouse_and_truth)
    # the comparison must cover most lines and every category, or it proves little
    assert n_truth > 2 * PATIENTS * 0.6
    assert n_matched >= 0.9 * n_truth, f"only {n_matched} of {n_truth} true lines inferred"
    assert set(by_category) == {"preferred", "alternative", "not_recommended", "trial"}
    assert all(n >= 20 for n in by_category.values()), by_category
    shown = "\n".join(str(d) for d in disagreements[:15])
    assert disagreements == [], (
        f"{len(disagreements)} of {n_matched} matched lines disagree with the truth:\n{shown}"
    )


def test_the_comparison_covers_every_rulebook_and_the_2025_changes(warehouse_and_truth):
    *_, covered = _compare(*warehouse_and_truth)
    for what, at_least in [
        ("rulebook her2-mbc-2013", 100), ("rulebook her2-mbc-2020", 100),
        ("rulebook her2-mbc-2023", 100), ("rulebook her2-mbc-2025", 30),
        # approvals inside a rulebook's period: T-DXd, neratinib (2013), margetuximab (2020)
        ("rules as of 2019-12-20", 5), ("rules as of 2020-02-25", 5),
        ("rules as of 2020-12-16", 5),
        ("group trastuzumab_deruxtecan_pertuzumab preferred", 5),
        ("group taxane_trastuzumab_pertuzumab alternative", 20),  # THP without pertuzumab
        ("checkpoint inhibitor trial", 3),
    ]:
        assert covered.get(what, 0) >= at_least, (what, covered)
