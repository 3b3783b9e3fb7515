"""Fixtures for the engine tests (helpers in ``engine_helpers``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from engine_helpers import build_preload, write_stream

from stream_engine.config import load_settings
from stream_engine.preload.model import Preload
from stream_engine.store.embedded import EmbeddedStore


@pytest.fixture
def preload() -> Preload:
    return build_preload()


@pytest.fixture
def store(tmp_path: Path):
    with EmbeddedStore(tmp_path / "store") as s:
        yield s


@pytest.fixture
def settings():
    return load_settings(environ={}).replace(MAX_INTERPOLATION_GAP=100.0)


@pytest.fixture
def write() -> Callable[..., None]:
    return write_stream
