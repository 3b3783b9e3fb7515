"""Fixtures for the web layer: settings with a private log folder, a real server on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from live_server import LiveServer, ensure_store, http, start_server

from stream_engine.config import Settings, load_settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings over an empty store (a server never creates one) and a private log folder."""
    ensure_store(tmp_path / "data")
    return load_settings(
        environ={
            "STREAM_ENGINE_LOG_DIR": str(tmp_path / "logs"),
            "STREAM_ENGINE_DATA_DIR": str(tmp_path / "data"),
        }
    )


def get(url: str, timeout: float = 5.0) -> tuple[int, dict[str, str], bytes]:
    """GET ``url``: status, headers, body (HTTP errors included, not raised)."""
    return http(url, timeout=timeout)


@pytest.fixture
def http_get():
    """The :func:`get` helper: ``http_get(url) -> (status, headers, body)``."""
    return get


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[LiveServer]:
    """``stream-engine serve`` on a free loopback port, with private data and log folders."""
    server = start_server(tmp_path / "data", tmp_path / "logs", threads=2)
    try:
        yield server
    finally:
        server.stop()
