"""Fixtures for the catalog: one store (demo mooring plus OOI samples when present) served by a
real ``stream-engine serve`` on loopback for the whole session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
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
#: Unix ms of 2019-05-05T00:00Z, 2019-05-08T12:00Z, 2019-05-22T00:00Z, 2018-03-01T00:00Z, 2018-03-02T00:00Z.
MAY_5, MAY_8_NOON, MAY_22, MARCH_2018, MARCH_2_2018 = (
    1557014400000, 1557316800000, 1558483200000, 1519862400000, 1519948800000)
#: The fluorometer's annotations (the stream page's timeline): an exclusion of one parameter, an
#: open-ended note, and one before the stream's data.
FLUOROMETER_ANNOTATIONS = [
    {"subsite": demo.FLUOROMETER.subsite, "node": demo.FLUOROMETER.node, "sensor": demo.FLUOROMETER.sensor,
     "method": None, "stream": demo.FLUOROMETER.stream, "beginDT": MAY_5, "endDT": MAY_8_NOON,
     "parameters": [1141], "exclusionFlag": True, "qcFlag": "fail", "annotation": "chlorophyll channel fouled",
     "source": "ops@example.org"},
    {"subsite": demo.FLUOROMETER.subsite, "node": demo.FLUOROMETER.node, "sensor": demo.FLUOROMETER.sensor,
     "method": None, "stream": demo.FLUOROMETER.stream, "beginDT": MAY_22, "endDT": None, "parameters": [],
     "exclusionFlag": False, "qcFlag": "suspect", "annotation": "biofouling <suspected> & growing"},
    {"subsite": demo.FLUOROMETER.subsite, "node": demo.FLUOROMETER.node, "sensor": demo.FLUOROMETER.sensor,
     "method": None, "stream": demo.FLUOROMETER.stream, "beginDT": MARCH_2018, "endDT": MARCH_2_2018,
     "parameters": [], "exclusionFlag": False, "qcFlag": None, "annotation": "bench test"},
]


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
    from stream_engine.config import load_settings

    return load_settings(environ={"STREAM_ENGINE_LOG_DIR": str(tmp_path / "logs"),
                                  "STREAM_ENGINE_DATA_DIR": str(tmp_path / "data")})
