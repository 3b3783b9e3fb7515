"""Fixtures for the catalog: one store (demo mooring plus OOI samples when present) served by a
real ``stream-engine serve`` on loopback for the whole session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from catalog_annotations import FLUOROMETER_ANNOTATIONS
from live_server import LiveServer, start_server

from stream_engine import demo
from stream_engine.assets import load_event_file
from stream_engine.config import REPO_ROOT, load_settings
from stream_engine.engine.virtual import VirtualStreams
from stream_engine.ingest import ingest_file
from stream_engine.preload import load_preload
from stream_engine.quality.annotations import load_annotations
from stream_engine.store.embedded import EmbeddedStore

SAMPLE_FILES = (
    "deployment0006_CE05MOAS-GL319-05-CTDGVM000-recovered_host-"
    "ctdgv_m_glider_instrument_recovered.nc",
    "metbk_a_dcl_instrument.nc",
)
SAMPLE_EVENTS = ("CE05MOAS-GL319-05-CTDGVM000_events.json", "CE02SHSM-SBD11-06-METBKA000_events.json")


@pytest.fixture(scope="session")
def curated():
    return load_preload(REPO_ROOT / "preload_database")


@pytest.fixture(scope="session")
def catalog_data(tmp_path_factory, curated, request) -> Path:
    folder = tmp_path_factory.mktemp("catalog") / "data"
    try:
        samples = request.getfixturevalue("samples_dir")
    except pytest.skip.Exception:
        samples = None
    with EmbeddedStore(folder) as store:
        demo.fill_demo(store, curated)
        load_annotations(store, FLUOROMETER_ANNOTATIONS)
        if samples is not None:
            for name in SAMPLE_FILES:
                ingest_file(store, curated, samples / name)
            for name in SAMPLE_EVENTS:
                load_event_file(store, samples / name)
    return folder


@pytest.fixture(scope="session")
def catalog_store(catalog_data, curated) -> Iterator[VirtualStreams]:
    """The store as the server sees it: with the virtual streams (metbk_hourly) it computes."""
    with EmbeddedStore(catalog_data) as store:
        yield VirtualStreams(store, curated, load_settings(environ={}))


@pytest.fixture(scope="session")
def catalog_server(catalog_data, tmp_path_factory) -> Iterator[LiveServer]:
    server = start_server(catalog_data, tmp_path_factory.mktemp("catalog_logs"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def settings_for_app(tmp_path):
    from live_server import ensure_store

    from stream_engine.config import load_settings

    ensure_store(tmp_path / "data")  # empty: views may look (/download/ takes the stream's version)
    return load_settings(environ={"STREAM_ENGINE_LOG_DIR": str(tmp_path / "logs"),
                                  "STREAM_ENGINE_DATA_DIR": str(tmp_path / "data")})
