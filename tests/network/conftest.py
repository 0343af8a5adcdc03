"""One synthetic registry audited whole, and split by site into 5 centres audited each on
their own, shared and merged into a network (written once per session)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import duckdb
import pytest

N_PATIENTS = 2000
SEED = 16
N_CENTRES = 5


@dataclasses.dataclass(frozen=True)
class NetworkCase:
    single: Path  # the warehouse of the whole registry
    centres: dict[str, Path]  # centre -> its warehouse
    packages: Path
    network: Path
    reports: Path


@pytest.fixture(scope="session")
def network_case(tmp_path_factory: pytest.TempPathFactory) -> NetworkCase:
    from her2audit import pipeline, share_package
    from her2audit.network.build import build_network
    from her2audit.parameters import load_parameters
    from her2audit.synth import write_registry
    from tests.network.packages import split_registry

    root = tmp_path_factory.mktemp("network")
    registry = root / "registry"
    write_registry(registry, patients=N_PATIENTS, seed=SEED, fmt="csv")
    quiet = lambda message: None  # noqa: E731
    single = root / "single.duckdb"
    pipeline.run_pipeline(single, str(registry), load_parameters(), None, progress=quiet)
    # every centre censors at the whole registry's cut-off (a network agrees on one date)
    cutoff = duckdb.connect(str(single), read_only=True)
    try:
        date = str(cutoff.sql("select data_cutoff from staging.data_cutoff").fetchall()[0][0])
    finally:
        cutoff.close()
    centres = {}
    for centre, folder in split_registry(registry, root / "centres", N_CENTRES).items():
        db = root / f"{centre}.duckdb"
        params = load_parameters(None, {"data_cutoff": date})
        pipeline.run_pipeline(db, str(folder), params, None, progress=quiet)
        share_package.write(db, root / "packages" / centre, centre)
        centres[centre] = db
    network = root / "network_audit.duckdb"
    build_network(root / "packages", network, root / "reports")
    return NetworkCase(single, centres, root / "packages", network, root / "reports")
