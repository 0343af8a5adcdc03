"""Synthetic HER2 registry: `write_registry` writes a canonical registry (SPEC §2) and its
ground truth to DIR/truth/. Seeded and deterministic; see README.md in this folder."""

from __future__ import annotations

import importlib
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from her2audit.errors import UsageError

FORMATS = ("csv", "parquet", "omop", "fhir")
TRUTH_DIR = "truth"


def _exporter(fmt: str) -> Callable[[Path, Path, str], None]:
    try:
        module = importlib.import_module("her2audit.sources.exporters")
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("her2audit"):
            raise UsageError(
                f"--format {fmt} is not available in this build (no OMOP/FHIR exporter); "
                "use --format csv or parquet") from None
        raise
    export = getattr(module, "export", None)
    if export is None:
        raise UsageError(f"--format {fmt} is not available in this build; use csv or parquet")
    return export


def write_registry(out: Path, patients: int, seed: int, fmt: str = "csv",
                   progress: Callable[[str], None] | None = None) -> dict[str, int]:
    """Write a synthetic registry of `patients` patients to `out` (canonical CSV or Parquet,
    or OMOP / FHIR through her2audit.sources.exporters) and its truth to out/truth/.
    Returns the number of rows written per table."""
    if fmt not in FORMATS:
        raise UsageError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    if patients < 1:
        raise UsageError("the number of patients must be at least 1")
    out = Path(out)
    if fmt in ("omop", "fhir"):
        export = _exporter(fmt)
        with tempfile.TemporaryDirectory(prefix="her2audit-synth-") as tmp:
            canonical = Path(tmp) / "registry"
            counts = write_registry(canonical, patients, seed, "parquet", progress)
            out.mkdir(parents=True, exist_ok=True)
            export(canonical, out, fmt)
            if (out / TRUTH_DIR).exists():
                shutil.rmtree(out / TRUTH_DIR)
            shutil.copytree(canonical / TRUTH_DIR, out / TRUTH_DIR)
        return counts
    return _write_canonical(out, patients, seed, fmt, progress)


def _write_canonical(out: Path, patients: int, seed: int, fmt: str,
                     progress: Callable[[str], None] | None) -> dict[str, int]:
    from her2audit.synth import assemble, generator, writer

    say = progress or (lambda _m: None)
    t0 = time.perf_counter()
    gen = generator.Generator(patients, seed, say)
    raw = gen.run()
    tables, truth, mess = assemble.build(gen, raw)
    fmt_ = writer.Formatter(patients)
    arrow = fmt_.registry(tables)
    out.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    for name in writer.TABLES:
        if name == "treatments":
            rows = tables.pop("treatments")
            writer.write_batches(lambda rows=rows: fmt_.treatment_batches(rows), out, name, fmt)
            counts[name] = len(rows["patient"])
            del rows
        else:
            writer.write_table(arrow[name], out, name, fmt)
            counts[name] = arrow[name].num_rows
    truth_dir = out / TRUTH_DIR
    truth_dir.mkdir(exist_ok=True)
    for name, table in fmt_.truth(truth, gen.n_sites).items():
        writer.write_table(table, truth_dir, name, "csv")
    writer.write_table(writer.mess_table(mess), truth_dir, "mess", "csv")
    say(f"synth: wrote {', '.join(f'{k} {v:,}' for k, v in counts.items())} rows "
        f"in {time.perf_counter() - t0:.1f} s")
    return counts


__all__ = ["write_registry", "FORMATS"]
