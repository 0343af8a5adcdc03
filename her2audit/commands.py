"""What each `her2audit` command does; `cli.py` only parses arguments."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from her2audit.parameters import RunParameters, load_parameters


def parameters_from_args(args: argparse.Namespace) -> RunParameters:
    return load_parameters(
        args.config,
        {
            "pre_index_days": args.pre_index_days,
            "regimen_window_days": args.regimen_window_days,
            "max_gap_days": args.max_gap_days,
            "data_cutoff": args.data_cutoff,
            "guideline": args.guideline,
            "rulebooks": args.rulebooks,
        },
    )


def check_rulebooks(params: RunParameters) -> None:
    """Refuse a bad rulebook or an unknown --guideline before any work is done (exit 2)."""
    from her2audit import guidelines

    guidelines.check_pinned(guidelines.load_rulebooks(params.rulebooks), params.guideline)


def _say(message: str) -> None:
    print(message, flush=True)


def _run_pipeline(registry: str, db: Path, reports: Path, params: RunParameters, command: str):
    from her2audit import pipeline

    run_id, timings = pipeline.run_pipeline(db, registry, params, reports, command=command)
    return run_id, timings


def run(args: argparse.Namespace) -> int:
    params = parameters_from_args(args)
    check_rulebooks(params)
    run_id, timings = _run_pipeline(args.registry, args.db, args.reports, params, "run")
    from her2audit import summary

    summary.print_run_summary(args.db, run_id, args.reports, _say)
    return 0


def demo(args: argparse.Namespace) -> int:
    from her2audit import summary, synth

    registry = args.out / "registry"
    db = args.out / "her2audit.duckdb"
    _say(
        f"her2audit demo: writing a synthetic registry of {args.patients:,} patients "
        f"(seed {args.seed}) to {registry}"
    )
    synth.write_registry(
        registry,
        patients=args.patients,
        seed=args.seed,
        fmt="csv",
        progress=lambda m: print(m, file=sys.stderr, flush=True),
    )
    params = load_parameters()
    run_id, _ = _run_pipeline(str(registry), db, args.reports, params, "demo")
    summary.print_run_summary(db, run_id, args.reports, _say)
    return 0


def synth(args: argparse.Namespace) -> int:
    from her2audit import synth as synth_module
    from her2audit.errors import UsageError

    if args.patients < 1:
        raise UsageError("--patients must be at least 1")
    synth_module.write_registry(
        args.out,
        patients=args.patients,
        seed=args.seed,
        fmt=args.format,
        progress=lambda m: print(m, file=sys.stderr, flush=True),
    )
    _say(
        f"wrote a synthetic registry of {args.patients:,} patients (seed {args.seed}) to "
        f"{args.out}; ground truth in {args.out / 'truth'}"
    )
    return 0


def validate(args: argparse.Namespace) -> int:
    """Extract and run the data-quality gate; print the results even when the gate fails."""
    import tempfile

    from her2audit import pipeline, summary
    from her2audit.errors import DataQualityError
    from her2audit.parameters import load_parameters

    stages = ["extract", "validate"]

    def check(db: Path) -> None:
        try:
            pipeline.run_pipeline(db, args.registry, load_parameters(), None, "validate", stages,
                                  work=True)
        except DataQualityError:
            summary.print_validation_summary(db, _say)
            raise
        summary.print_validation_summary(db, _say)

    if args.db is not None:
        check(args.db)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            check(Path(tmp) / "validate.duckdb")
    return 0


def report(args: argparse.Namespace) -> int:
    from her2audit import environment, work_file
    from her2audit.stages import report as report_module

    environment.check_reports_dir(args.reports)
    work_file.recover(args.db)  # a publication a killed run left half done
    path = report_module.build_from_warehouse(args.db, args.reports, site=args.site)
    _say(f"report: {path}")
    return 0


def sensitivity(args: argparse.Namespace) -> int:
    """Lines and concordance over a grid of line parameters; prints how far the rates move."""
    from her2audit import sensitivity as sensitivity_module

    result = sensitivity_module.run_sensitivity(
        args.db,
        config=args.config,
        overrides={
            "max_gap_days": args.max_gap_days,
            "regimen_window_days": args.regimen_window_days,
            "pre_index_days": args.pre_index_days,
        },
        progress=lambda m: print(m, file=sys.stderr, flush=True),
    )
    for line in sensitivity_module.summary_lines(result):
        _say(line)
    return 0


def sql(args: argparse.Namespace) -> int:
    from her2audit import sql_shell

    if args.max_rows < 1:
        from her2audit.errors import UsageError

        raise UsageError("--max-rows must be at least 1")
    if args.query is None:
        if args.format != "table" or args.out is not None:
            from her2audit.errors import UsageError

            raise UsageError("--format and --out need a QUERY")
        sql_shell.interactive(args.db, args.max_rows)
    else:
        sql_shell.run_query(args.db, args.query, args.format, args.out, args.max_rows)
    return 0


def share(args: argparse.Namespace) -> int:
    from her2audit import share_package

    manifest = share_package.write(args.db, args.out, args.centre)
    _say(f"share package: {manifest.parent} ({manifest.name} and "
         f"{len(share_package.read_manifest(manifest.parent)['tables'])} Parquet files)")
    return 0


def network(args: argparse.Namespace) -> int:
    from her2audit.network.build import build_network

    result = build_network(args.packages, args.db, args.reports, _say)
    steps = ", ".join(f"{step} {seconds:.1f} s" for step, seconds in result.seconds.items())
    _say(f"merged {len(result.packages)} centre packages in "
         f"{sum(result.seconds.values()):.1f} s ({steps})")
    return 0
