"""Fixtures: one store with the demo mooring and OOI samples, served by a real `stream-engine
serve` on loopback (one per test session), the engine's own answers as oracle, and a store with
a 10-million-record stream behind an in-process server that counts what is read."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from live_server import LiveServer, start_server
from stream_servers import (
    SIZE_CAP,
    CountingStore,
    InProcessServer,
    fill_store,
    in_process_app,
    write_big_stream,
)

from stream_engine.config import REPO_ROOT, load_settings
from stream_engine.engine.virtual import VirtualStreams
from stream_engine.preload import load_preload
from stream_engine.store.embedded import EmbeddedStore


@pytest.fixture(scope="session")
def curated():
    return load_preload(REPO_ROOT / "preload_database")


@pytest.fixture(scope="session")
def engine_settings():
    return load_settings(environ={})


@pytest.fixture(scope="session")
def optional_samples(request) -> Path | None:
    """The OOI samples folder, or None when the reference data is absent (demo tests still run)."""
    try:
        return request.getfixturevalue("samples_dir")
    except pytest.skip.Exception:
        return None


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory, curated, optional_samples) -> Path:
    folder = tmp_path_factory.mktemp("dap_streams") / "data"
    with EmbeddedStore(folder) as store:
        fill_store(store, curated, optional_samples)
    return folder


@pytest.fixture(scope="session")
def engine_store(data_dir, curated, engine_settings) -> Iterator[VirtualStreams]:
    """The served store, opened in the test process too (the embedded store allows it), as the
    server sees it: with the virtual streams it computes."""
    with EmbeddedStore(data_dir) as store:
        yield VirtualStreams(store, curated, engine_settings)


@pytest.fixture(scope="session")
def live(data_dir, tmp_path_factory) -> Iterator[LiveServer]:
    log_dir = tmp_path_factory.mktemp("dap_streams_logs")
    server = start_server(
        data_dir, log_dir, extra_env={"STREAM_ENGINE_DAP_MAX_RESPONSE_BYTES": str(SIZE_CAP)}
    )
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def big_store(tmp_path_factory, curated) -> Iterator[CountingStore]:
    folder = tmp_path_factory.mktemp("dap_big") / "data"
    with EmbeddedStore(folder) as store:
        write_big_stream(store, curated)
        yield CountingStore(store)


@pytest.fixture(scope="session")
def big_server(big_store, curated, tmp_path_factory) -> Iterator[InProcessServer]:
    app = in_process_app(big_store, curated, tmp_path_factory.mktemp("dap_big_logs"))
    server = InProcessServer(app)
    try:
        yield server
    finally:
        server.close()
