"""Small synthetic registries shared by the synth tests (written once per session)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from her2audit.synth import write_registry

N_PATIENTS = 3000
SEED = 11


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "registry"
    write_registry(out, patients=N_PATIENTS, seed=SEED, fmt="csv")
    return out


def read(path: Path) -> pd.DataFrame:
    """A CSV exactly as written: every value text, empty cells as ''."""
    return pd.read_csv(path, dtype=str, keep_default_na=False)


@pytest.fixture(scope="session")
def tables(registry: Path) -> dict[str, pd.DataFrame]:
    names = ["patients", "diagnoses", "biomarkers", "metastases", "treatments", "progressions"]
    out = {name: read(registry / f"{name}.csv") for name in names}
    for name in ["patients", "lines", "outcome_parameters", "mess", "flags", "drug_names"]:
        out[f"truth_{name}"] = read(registry / "truth" / f"{name}.csv")
    return out


@pytest.fixture(scope="session")
def mess(tables: dict[str, pd.DataFrame]) -> dict[str, tuple[float, int]]:
    t = tables["truth_mess"]
    return {k: (float(r), int(n)) for k, r, n in zip(t["kind"], t["rate"], t["n_rows"],
                                                      strict=True)}
