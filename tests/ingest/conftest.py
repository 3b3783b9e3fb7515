"""Fixtures for the ingest tests: the curated preload and a real embedded store."""

from __future__ import annotations

from pathlib import Path

import pytest

from stream_engine.preload import load_preload
from stream_engine.preload.model import Preload
from stream_engine.store.embedded import EmbeddedStore

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def preload() -> Preload:
    return load_preload(REPO_ROOT / "preload_database")


@pytest.fixture
def store(tmp_path: Path):
    with EmbeddedStore(tmp_path / "store") as s:
        yield s
