"""The `her2audit` command line (SPEC §9).

Exit status: 0 success; 2 unusable arguments or an unreadable registry (one line naming
the file and the problem); 3 the data-quality gate failed.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from her2audit import __version__
from her2audit.errors import Her2AuditError, UsageError

DEMO_DIR = Path("demo_output")
DEMO_REPORTS = Path("reports") / "demo"
DEMO_PATIENTS = 2000
DEMO_SEED = 20231120


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # exit 2 with one line, no usage dump
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


def _add_parameter_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group(
        "line-of-therapy and audit parameters (defaults: rules/parameters.yaml)"
    )
    g.add_argument("--config", type=Path, help="YAML file of parameters to use for this run")
    g.add_argument("--pre-index-days", type=int)
    g.add_argument("--regimen-window-days", type=int)
    g.add_argument("--max-gap-days", type=int)
    g.add_argument(
        "--data-cutoff", help="censoring date YYYY-MM-DD (default: latest date in the data)"
    )
    g.add_argument("--guideline", help="pin one rulebook id (e.g. her2-mbc-2023) for every line")
    g.add_argument(
        "--rulebooks", help="folder of extra guideline rulebooks (YAML), e.g. a local pathway"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="her2audit", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"her2audit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("demo", help="synthetic registry -> whole pipeline -> warehouse and report")
    p.add_argument("--patients", type=int, default=DEMO_PATIENTS)
    p.add_argument("--seed", type=int, default=DEMO_SEED)
    p.add_argument("--out", type=Path, default=DEMO_DIR, help="folder for registry and warehouse")
    p.add_argument("--reports", type=Path, default=DEMO_REPORTS)

    p = sub.add_parser("synth", help="write a synthetic registry (and its ground truth)")
    p.add_argument("--patients", type=int, required=True)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--format", choices=["csv", "parquet", "omop", "fhir"], default="csv")

    p = sub.add_parser("run", help="the whole pipeline on a registry")
    p.add_argument("--registry", required=True, help="registry folder or source URI")
    p.add_argument("--db", type=Path, required=True, help="DuckDB warehouse file")
    p.add_argument("--reports", type=Path, required=True, help="folder for the HTML report")
    _add_parameter_options(p)

    p = sub.add_parser("validate", help="data-quality checks only (nothing is published)")
    p.add_argument("--registry", required=True)
    p.add_argument("--db", type=Path, help="warehouse to record results in (default: in memory)")

    p = sub.add_parser("report", help="rebuild the report from a warehouse")
    p.add_argument("--db", type=Path, required=True)
    p.add_argument("--reports", type=Path, required=True)
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
    except KeyboardInterrupt:
        print("her2audit: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
