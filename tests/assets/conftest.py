"""Fixtures for the asset tests: a real embedded store in a temporary folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from stream_engine.store.embedded import EmbeddedStore


@pytest.fixture
def store(tmp_path: Path):
    with EmbeddedStore(tmp_path / "store") as s:
        yield s
