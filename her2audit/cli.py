"""her2audit: do HER2-positive metastatic breast cancer patients get the recommended sequence
of therapy, and what happens to them when they don't?

Reads a cancer registry (a folder of CSV/Parquet files, an OMOP CDM, a FHIR export), infers
lines of therapy, judges every line and sequence against a versioned guideline rulebook,
measures outcomes, and publishes a DuckDB warehouse and a self-contained HTML report.

Exit status: 0 success; 2 unusable arguments, an unreadable registry or an environment the
run cannot work in (one line naming the file and the problem); 3 the data-quality gate failed.
"""

from __future__ import annotations

import argparse
import difflib
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from her2audit import __version__
from her2audit.errors import Her2AuditError, UsageError

DEMO_DIR = Path("demo_output")
DEMO_REPORTS = Path("reports") / "demo"
DEMO_PATIENTS = 2000
DEMO_SEED = 20231120


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Shows every option's default (when it has one) and keeps the examples' line breaks."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if (action.default not in (None, argparse.SUPPRESS) and action.option_strings
                and "default" not in text and not action.required
                and not isinstance(action.default, bool)):
            text += " (default: %(default)s)"
        return text


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        kwargs.setdefault("allow_abbrev", False)  # --reg is not silently --registry
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # exit 2 with one line, no usage dump
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")

    def parse_known_args(self, args: Sequence[str] | None = None, namespace=None):
        # An unknown option is named as unknown, before argparse would report a required
        # option as missing (a misspelt --registy is not "--registry is required").
        if self._subparsers is None:
            self._refuse_unknown_options(sys.argv[1:] if args is None else list(args))
        return super().parse_known_args(args, namespace)

    def _refuse_unknown_options(self, args: list[str]) -> None:
        known = set(self._option_string_actions)
        for token in args:
            if token == "--":
                return
            if not token.startswith("-") or token == "-" or _is_number(token):
                continue
            option = token.split("=", 1)[0]
            if option in known:
                continue
            close = difflib.get_close_matches(option, sorted(known), n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]}?" if close else ""
            self.error(f"unknown option {option}{hint}")


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def _rule_defaults():
    from her2audit.parameters import load_parameters

    return load_parameters()


def _add_parameter_options(p: argparse.ArgumentParser) -> None:
    rules = _rule_defaults()
    g = p.add_argument_group(
        "line-of-therapy and audit parameters",
        "Defaults come from the rules (her2audit/rules/parameters.yaml);\n"
        "the values used are recorded with the run in audit.runs.",
    )
    g.add_argument("--config", type=Path, metavar="YAML",
                   help="YAML file of parameters for this run (keys as in parameters.yaml); "
                        "options given here win over it")
    g.add_argument("--pre-index-days", type=int, metavar="DAYS", default=None,
                   help="administrations from metastatic_date minus DAYS belong to the "
                        f"metastatic setting (rule default: {rules.pre_index_days})")
    g.add_argument("--regimen-window-days", type=int, metavar="DAYS", default=None,
                   help="drugs first given within DAYS of a line's start form its regimen "
                        f"(rule default: {rules.regimen_window_days})")
    g.add_argument("--max-gap-days", type=int, metavar="DAYS", default=None,
                   help="a gap longer than DAYS between administrations ends the line "
                        f"(rule default: {rules.max_gap_days})")
    g.add_argument("--data-cutoff", metavar="YYYY-MM-DD", default=None,
                   help="censoring date; when not given: the latest follow-up date in the "
                        "registry (last contact, death or administration)")
    g.add_argument("--guideline", metavar="ID", default=None,
                   help="judge every line by this rulebook id (e.g. her2-mbc-2023); when not "
                        "given: the rulebook in force at each line's start")
    g.add_argument("--rulebooks", metavar="DIR", default=None,
                   help="folder of extra guideline rulebooks (YAML), e.g. a local pathway; "
                        "when not given: the shipped rulebooks only")


def _days_list(text: str) -> list[int]:
    """'90,120,180' -> [90, 120, 180]."""
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        values = []
    if not values or min(values) < 0:
        raise argparse.ArgumentTypeError(
            f"expected whole numbers of days separated by commas (e.g. 90,120,180), got {text!r}")
    return values


def _add_sensitivity_options(p: argparse.ArgumentParser) -> None:
    from her2audit.parameters import sensitivity_grid

    grid = sensitivity_grid()

    def listed(name: str) -> str:
        return ",".join(map(str, grid[name]))

    p.add_argument("--db", type=Path, required=True, metavar="FILE",
                   help="published DuckDB warehouse; audit.sensitivity is written to it "
                        "(required)")
    g = p.add_argument_group(
        "the grid",
        "Every combination of the values is run, plus the audited run's own parameters.\n"
        "Defaults come from the rules (her2audit/rules/parameters.yaml, `sensitivity:`).",
    )
    g.add_argument("--max-gap-days", type=_days_list, metavar="DAYS,...", default=None,
                   help=f"values of max_gap_days (rule default: {listed('max_gap_days')})")
    g.add_argument("--regimen-window-days", type=_days_list, metavar="DAYS,...", default=None,
                   help="values of regimen_window_days "
                        f"(rule default: {listed('regimen_window_days')})")
    g.add_argument("--pre-index-days", type=_days_list, metavar="DAYS,...", default=None,
                   help="values of pre_index_days; when not given: the audited run's own value")
    g.add_argument("--config", type=Path, metavar="YAML", default=None,
                   help="YAML file with a `sensitivity:` mapping of these parameters to lists "
                        "of days; options given here win over it")


def _sub(sub, name: str, summary: str, examples: str) -> argparse.ArgumentParser:
    return sub.add_parser(name, help=summary, description=f"{summary}.\n\nexamples:\n{examples}")


def build_parser() -> argparse.ArgumentParser:
    lines = __doc__.strip().splitlines()
    parser = _Parser(
        prog="her2audit",
        description="\n".join(lines[:-3]).strip(),
        epilog=(
            "start here:\n"
            "  her2audit demo                      synthetic registry -> warehouse and report\n"
            "  her2audit run --registry DIR --db her2audit.duckdb --reports reports/\n"
            "  her2audit COMMAND --help            options, defaults and examples\n\n"
            + "\n".join(lines[-3:])
        ),
    )
    parser.add_argument("--version", action="version", version=f"her2audit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                parser_class=_Parser)

    p = _sub(sub, "demo", "make a synthetic registry and run the whole pipeline on it",
             "  her2audit demo\n  her2audit demo --patients 10000 --seed 7 --out /tmp/demo")
    p.add_argument("--patients", type=int, default=DEMO_PATIENTS, metavar="N",
                   help="number of synthetic patients")
    p.add_argument("--seed", type=int, default=DEMO_SEED, metavar="S",
                   help="random seed (same seed and N give byte-identical files)")
    p.add_argument("--out", type=Path, default=DEMO_DIR, metavar="DIR",
                   help="folder for the synthetic registry and the warehouse")
    p.add_argument("--reports", type=Path, default=DEMO_REPORTS, metavar="DIR",
                   help="folder for the HTML report")

    p = _sub(sub, "synth", "write a synthetic registry and its ground truth",
             "  her2audit synth --patients 1000 --out registry/\n"
             "  her2audit synth --patients 1000 --format fhir --out fhir_export/")
    p.add_argument("--patients", type=int, required=True, metavar="N",
                   help="number of synthetic patients (required)")
    p.add_argument("--seed", type=int, default=1, metavar="S",
                   help="random seed (same seed and N give byte-identical files)")
    p.add_argument("--out", type=Path, required=True, metavar="DIR",
                   help="folder to write; the ground truth goes to DIR/truth/ (required)")
    p.add_argument("--format", choices=["csv", "parquet", "omop", "fhir"], default="csv",
                   help="canonical CSV or Parquet files, OMOP CDM tables, or FHIR R4 NDJSON")

    p = _sub(sub, "run", "run the whole pipeline on a registry",
             "  her2audit run --registry registry/ --db her2audit.duckdb --reports reports/\n"
             "  her2audit run --registry 'postgresql://analyst@db/omop?schema=cdm' \\\n"
             "      --db her2audit.duckdb --reports reports/ --data-cutoff 2026-06-30\n"
             "  her2audit run --registry fhir:export/ --db her2audit.duckdb --reports reports/ \\\n"
             "      --max-gap-days 90 --guideline her2-mbc-2023")
    p.add_argument("--registry", required=True, metavar="SOURCE",
                   help="registry folder (CSV/Parquet, or OMOP CDM files), "
                        "postgresql://…?schema=NAME (OMOP CDM), or fhir:FOLDER (required)")
    p.add_argument("--db", type=Path, required=True, metavar="FILE",
                   help="DuckDB warehouse file to publish to, e.g. her2audit.duckdb (required)")
    p.add_argument("--reports", type=Path, required=True, metavar="DIR",
                   help="folder for index.html and case_review.html (required)")
    _add_parameter_options(p)

    p = _sub(sub, "validate", "extract and run the data-quality checks only; nothing is published",
             "  her2audit validate --registry registry/\n"
             "  her2audit validate --registry registry/ --db checks.duckdb")
    p.add_argument("--registry", required=True, metavar="SOURCE",
                   help="registry folder or source URI, as for run (required)")
    p.add_argument("--db", type=Path, metavar="FILE", default=None,
                   help="warehouse to record the results in; when not given: a temporary file")

    p = _sub(sub, "sensitivity",
             "re-run lines and concordance over a grid of line parameters on a published "
             "warehouse and write audit.sensitivity",
             "  her2audit sensitivity --db her2audit.duckdb\n"
             "  her2audit sensitivity --db her2audit.duckdb --max-gap-days 60,90,120,180 \\\n"
             "      --regimen-window-days 28")
    _add_sensitivity_options(p)

    p = _sub(sub, "sql", "read-only SQL on the published warehouse (no DuckDB CLI needed)",
             "  her2audit sql --db her2audit.duckdb\n"
             "  her2audit sql --db her2audit.duckdb \"select * from share.quality_indicators\"\n"
             "  her2audit sql --db her2audit.duckdb \"select * from audit.runs\" "
             "--format csv --out runs.csv\n\n"
             "Without QUERY: an interactive prompt (statements end with ';'; .tables, .schema\n"
             "TABLE, .quit), with a history file under $XDG_STATE_HOME/her2audit/ (default\n"
             "~/.local/state/her2audit/). It never blocks a run, nor waits for one.")
    p.add_argument("query", nargs="?", default=None, metavar="QUERY",
                   help="SQL to run; when not given: the interactive prompt")
    p.add_argument("--db", type=Path, required=True, metavar="FILE",
                   help="published DuckDB warehouse, opened read-only (required)")
    p.add_argument("--format", choices=["table", "csv", "json", "parquet"], default="table",
                   help="how to give QUERY's result: a table on the terminal, or a file format "
                        "(json: an array of objects)")
    p.add_argument("--out", type=Path, default=None, metavar="FILE",
                   help="file to write the result to (needed for parquet); when not given: "
                        "the terminal")
    p.add_argument("--max-rows", type=int, default=100, metavar="N",
                   help="rows shown by --format table")

    p = _sub(sub, "share", "write the share layer as a package for a network of centres",
             "  her2audit share --db her2audit.duckdb --out share_package/\n"
             "  her2audit share --db her2audit.duckdb --out share_package/ --centre centre-a\n\n"
             "One Parquet file per table of schema share (aggregates, counts from 1 to 10\n"
             "suppressed) and manifest.json (run id, source fingerprint, software and\n"
             "rulebook versions, suppression threshold, a sha256 per file).")
    p.add_argument("--db", type=Path, required=True, metavar="FILE",
                   help="published DuckDB warehouse (required)")
    p.add_argument("--out", type=Path, required=True, metavar="DIR",
                   help="folder for the package; files of the same names are replaced "
                        "(required)")
    p.add_argument("--centre", default=None, metavar="NAME",
                   help="the centre's name, recorded in the manifest; when not given: none")

    p = _sub(sub, "report", "rebuild the HTML report from a published warehouse",
             "  her2audit report --db her2audit.duckdb --reports reports/\n"
             "  her2audit report --db her2audit.duckdb --reports reports/ --site S01")
    p.add_argument("--db", type=Path, required=True, metavar="FILE",
                   help="published DuckDB warehouse (required)")
    p.add_argument("--reports", type=Path, required=True, metavar="DIR",
                   help="folder for index.html and case_review.html (required)")
    p.add_argument("--site", metavar="SITE",
                   help="write that site's report against the others (site-SITE.html) "
                        "instead of the whole report")

    p = _sub(sub, "network", "merge centres' share packages into a network warehouse and report",
             "  her2audit network --packages packages/ --db network_audit.duckdb "
             "--reports reports/network/\n"
             "  (packages/ holds one folder per centre, each written by her2audit share)")
    p.add_argument("--packages", type=Path, required=True, metavar="DIR",
                   help="folder of centre packages, one sub-folder each (required)")
    p.add_argument("--db", type=Path, required=True, metavar="FILE",
                   help="network DuckDB warehouse to write, e.g. network_audit.duckdb; "
                        "replaced when complete (required)")
    p.add_argument("--reports", type=Path, required=True, metavar="DIR",
                   help="folder for network.html (required)")
    return parser


class _StderrLines(logging.Handler):
    """The library's warnings (e.g. failed expectations) as plain lines on stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        print(self.format(record), file=sys.stderr, flush=True)


def _show_library_warnings() -> None:
    logger = logging.getLogger("her2audit")
    if not any(isinstance(h, _StderrLines) for h in logger.handlers):
        logger.addHandler(_StderrLines(logging.WARNING))


def main(argv: list[str] | None = None) -> int:
    _show_library_warnings()
    try:
        args = build_parser().parse_args(argv)
        from her2audit import commands

        return getattr(commands, args.command)(args)
    except Her2AuditError as exc:
        print(f"her2audit: error: {exc}", file=sys.stderr)
        return exc.exit_status
    except (OSError, RuntimeError) as exc:  # a full or read-only disk, a lock: one line
        from her2audit.environment import fault_from

        fault = fault_from(exc)
        if fault is None:
            raise
        print(f"her2audit: error: {fault}", file=sys.stderr)
        return fault.exit_status
    except KeyboardInterrupt:
        print("her2audit: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
