"""Fixtures for the registry adapter tests: a hand-written canonical registry and a
PostgreSQL schema of our own (skipped when no server answers)."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import registry_fixture  # noqa: E402
from adapter_helpers import PG_HOST, PG_PORT, PG_URI_BASE, server_answers  # noqa: E402


@pytest.fixture
def hand_registry(tmp_path: Path) -> Path:
    return registry_fixture.write_hand_registry(tmp_path / "canonical")


@pytest.fixture
def pg_schema():
    """A fresh, uniquely named schema on the local PostgreSQL; dropped afterwards."""
    if not server_answers():
        pytest.skip(f"no PostgreSQL server answers on {PG_HOST}:{PG_PORT}")
    import psycopg

    name = f"her2audit_test_{uuid.uuid4().hex[:10]}"
    try:
        conn = psycopg.connect(PG_URI_BASE, autocommit=True)
    except psycopg.Error as exc:
        pytest.skip(f"PostgreSQL on {PG_HOST}:{PG_PORT} refused the test connection: {exc}")
    conn.execute(f"create schema {name}")
    try:
        yield name
    finally:
        conn.execute(f"drop schema if exists {name} cascade")
        conn.close()


