"""Fixtures of the preload tests: the upstream dictionary and our curated one, loaded once."""

from __future__ import annotations

from pathlib import Path

import pytest

from stream_engine.preload import Preload, load_preload

CURATED_DIR = Path(__file__).resolve().parents[2] / "preload_database"


@pytest.fixture(scope="session")
def upstream_dir(ooi_dir: Path) -> Path:
    return ooi_dir / "preload"


@pytest.fixture(scope="session")
def upstream(upstream_dir: Path) -> Preload:
    return load_preload(upstream_dir)


@pytest.fixture(scope="session")
def curated_dir() -> Path:
    return CURATED_DIR


@pytest.fixture(scope="session")
def curated() -> Preload:
    return load_preload(CURATED_DIR)
