"""Fixtures: one store with the demo mooring and OOI samples, served by a real `stream-engine
serve` on loopback (one per test session), the engine's own answers as oracle, and a store with
a 10-million-record stream behind an in-process server that counts what is read."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from live_server import LiveServer, start_server
from stream_servers import (
    CHECKS,
    SIZE_CAP,
    CountingStore,
    InProcessServer,
    engine_values,
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


@pytest.fixture(scope="session", params=["embedded", pytest.param("cassandra", marks=pytest.mark.cassandra)])
def backend(request) -> str:
    """Every test that reads the served store runs once per backend, with identical expectations."""
    return request.param


@pytest.fixture(scope="session")
def cassandra_filled(request, curated, optional_samples):
    """The same data as ``data_dir`` in a Cassandra keyspace laid out from the dictionary."""
    node = request.getfixturevalue("cassandra_node")
    with node.laid_out(curated) as store:
        fill_store(store, curated, optional_samples)
        yield node, store


@pytest.fixture(scope="session")
def engine_store(request, backend, data_dir, curated, engine_settings) -> Iterator[Any]:
    """The served store, opened in the test process too, as the server sees it: with the
    virtual streams it computes."""
    if backend == "cassandra":
        yield VirtualStreams(request.getfixturevalue("cassandra_filled")[1], curated, engine_settings)
        return
    with EmbeddedStore(data_dir) as store:
        yield VirtualStreams(store, curated, engine_settings)


@pytest.fixture(scope="session")
def live(request, backend, data_dir, tmp_path_factory) -> Iterator[LiveServer]:
    log_dir = tmp_path_factory.mktemp(f"dap_streams_logs_{backend}")
    env = {"STREAM_ENGINE_DAP_MAX_RESPONSE_BYTES": str(SIZE_CAP)}
    if backend == "cassandra":
        node, store = request.getfixturevalue("cassandra_filled")
        env.update(node.settings_env(store.keyspace))
    server = start_server(data_dir, log_dir, extra_env=env)
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


_oracles: dict = {}


@pytest.fixture
def stream(request, engine_store, curated, engine_settings, optional_samples):
    """(key, the engine's values, parameters by name) of the stream a client test is given."""
    key = request.param
    if CHECKS[key][1] and optional_samples is None:
        pytest.skip("OOI samples not available")
    if key not in _oracles:
        _oracles[key] = engine_values(engine_store, curated, engine_settings, key)
    params = {p.name: p for p in curated.stream_parameters(key.stream)}
    return key, _oracles[key], params
