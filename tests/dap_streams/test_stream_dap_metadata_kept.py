"""Metadata answers (DDS, DAS, DMR, form, info) are kept whole per worker and served without
building the dataset while what they read is unchanged; an ingest into the stream, an asset load,
a quality record or a dictionary change makes them again (sizes, attributes and ETag follow), an
ingest into another stream does not. On both backends; counted with a spy on the dataset
builder, never timed."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from email.utils import format_datetime
from typing import Any

import numpy as np
import pytest
from stream_servers import in_process_app
from webob import Request

from dap_handlers.metadata_responses import RESPONSES
from stream_engine import demo
from stream_engine.config import REPO_ROOT
from stream_engine.engine.virtual import VirtualStreams
from stream_engine.preload import load_preload
from stream_engine.quality.annotations import load_annotations
from stream_engine.store.base import IndexRange, StreamKey
from stream_engine.store.embedded import EmbeddedStore
from stream_engine.web.views import dap as dap_view

SUFFIXES = (".dds", ".das", ".dmr", ".html", ".info", ".dds?time,temperature",
            ".dmr?dap4.ce=/time;/temperature", "/2019-05-02/2019-05-03.dds")
ADDED = 7


@contextmanager
def _filled(backend: str, request: pytest.FixtureRequest, curated: Any, tmp_path: Any) -> Iterator[Any]:
    if backend == "cassandra":
        with request.getfixturevalue("cassandra_node").laid_out(curated) as store:
            demo.fill_demo(store, curated)
            yield store
        return
    with EmbeddedStore(tmp_path / "data") as store:
        demo.fill_demo(store, curated)
        yield store


@pytest.fixture(params=["embedded", pytest.param("cassandra", marks=pytest.mark.cassandra)])
def served(request, curated, engine_settings, tmp_path, monkeypatch):
    """(app, store, builds): the web app over a fresh demo store, and the datasets it built."""
    builds: list[StreamKey] = []
    build = dap_view.stream_dataset_version

    def counted(store: Any, preload: Any, key: StreamKey, **kwargs: Any) -> Any:
        builds.append(key)
        return build(store, preload, key, **kwargs)

    monkeypatch.setattr(dap_view, "stream_dataset_version", counted)
    RESPONSES.clear()
    with _filled(request.param, request, curated, tmp_path) as store:
        app = in_process_app(VirtualStreams(store, curated, engine_settings), curated, tmp_path)
        yield app, store, builds
    RESPONSES.clear()


def _get(app: Any, key: StreamKey, suffix: str, **headers: str) -> Any:
    response = Request.blank(f"/dap/{key.path}{suffix}", headers=headers).get_response(app)
    assert response.status_code in (200, 304), response.text[:500]
    return response


def _answers(app: Any, key: StreamKey) -> dict[str, tuple[bytes, str, str]]:
    answers = {}
    for suffix in SUFFIXES:
        got = _get(app, key, suffix)
        assert got.status_code == 200
        answers[suffix] = (got.body, got.headers["ETag"], got.headers["Last-Modified"])
    return answers


def _obs(dds: bytes) -> int:
    text = dds.decode()
    return int(text.split("[obs = ", 1)[1].split("]", 1)[0])


def _append(store: Any, key: StreamKey, preload: Any, count: int = ADDED) -> None:
    """``count`` more records after the stream's last one (one second apart)."""
    total = store.coverage(key).count
    last = store.read(key, index_range=IndexRange(total - count, total))
    last["time"] = last["time"][-1] + np.arange(1.0, count + 1.0)
    store.write(key, last, bin_seconds=preload.stream(key.stream).bin_seconds)


def test_repeats_are_served_without_building_and_follow_every_change(served, curated, tmp_path):
    app, store, builds = served
    key = demo.CTD
    first = _answers(app, key)
    assert len(builds) == len(SUFFIXES)
    hits = RESPONSES.hits + RESPONSES.checked
    assert _answers(app, key) == first
    assert len(builds) == len(SUFFIXES) and RESPONSES.hits + RESPONSES.checked - hits == len(SUFFIXES)

    # conditional requests answered from the kept validators
    body, etag, modified = first[".dds"]
    assert _get(app, key, ".dds", **{"If-None-Match": etag}).status_code == 304
    assert _get(app, key, ".das", **{"If-Modified-Since": modified}).status_code == 304
    not_yet = format_datetime(_before(modified), usegmt=True)
    assert _get(app, key, ".das", **{"If-Modified-Since": not_yet}).status_code == 200
    assert _get(app, key, ".dmr", **{"If-None-Match": '"other"'}).body == first[".dmr"][0]
    assert len(builds) == len(SUFFIXES)

    # an ingest into another stream (the fluorometer, same node): checked, not rebuilt
    _append(store, demo.FLUOROMETER, curated)
    checked = RESPONSES.checked
    assert _answers(app, key) == first
    assert len(builds) == len(SUFFIXES) and RESPONSES.checked - checked >= 1

    # an ingest into the stream: obs grows, every answer and its ETag change
    count = _obs(body)
    _append(store, key, curated)
    grown = _answers(app, key)
    assert len(builds) == 2 * len(SUFFIXES)
    assert _obs(grown[".dds"][0]) == count + ADDED
    assert f'name="obs" size="{count + ADDED}"'.encode() in grown[".dmr"][0]
    assert _obs(grown["/2019-05-02/2019-05-03.dds"][0]) == _obs(first["/2019-05-02/2019-05-03.dds"][0])
    for suffix in SUFFIXES:
        assert grown[suffix][1] != first[suffix][1], suffix
    assert grown[".das"][0] != first[".das"][0]  # the time coverage
    assert _get(app, key, ".dds", **{"If-None-Match": etag}).status_code == 200
    assert _get(app, key, ".dds", **{"If-None-Match": grown[".dds"][1]}).status_code == 304

    # an asset load: calibrations gone, the products leave the DDS and the DAS says why
    events = [{**event, "sensor": {**event["sensor"], "calibration": []}} for event in demo.asset_events(key)]
    store.put_asset_events(key.refdes, events)
    uncalibrated = _answers(app, key)
    assert b"sea_water_density" in grown[".dds"][0] and b"sea_water_density" not in uncalibrated[".dds"][0]
    assert b"sea_water_density" not in uncalibrated[".dmr"][0]
    assert b"unavailable_parameters" in uncalibrated[".das"][0]
    assert all(uncalibrated[s][1] != grown[s][1] for s in SUFFIXES)
    assert len(builds) == 3 * len(SUFFIXES)

    # a quality record: an annotation of the stream appears in its DAS
    load_annotations(store, [{"subsite": key.subsite, "node": key.node, "sensor": key.sensor, "method": key.method,
                              "stream": key.stream, "beginDT": 1556755200000, "endDT": 1556758800000,
                              "annotation": "pump off for a test", "exclusionFlag": False, "parameters": []}])
    annotated = _answers(app, key)
    assert b"pump off for a test" in annotated[".das"][0] and b"pump off" not in uncalibrated[".das"][0]
    assert annotated[".das"][1] != uncalibrated[".das"][1]
    assert len(builds) == 4 * len(SUFFIXES)
    assert _answers(app, key) == annotated and len(builds) == 4 * len(SUFFIXES)

    # a dictionary change (the server loads another dictionary): units in the DAS/DMR, the ETag
    folder = tmp_path / "preload"
    shutil.copytree(REPO_ROOT / "preload_database", folder)
    defs = folder / "ParameterDefs.csv"
    text = defs.read_text()
    assert text.count(",kg m-3,-9999999,Seawater Density,") == 1
    defs.write_text(text.replace(",kg m-3,-9999999,Seawater Density,", ",kg/m^3 (test),-9999999,Seawater Density,"))
    store.put_asset_events(key.refdes, demo.asset_events(key))  # calibrations back: density served
    app.context._preload = load_preload(folder)
    app.context._store = VirtualStreams(store, app.context._preload, app.context.settings)
    edited = _answers(app, key)
    assert b"kg/m^3 (test)" in edited[".das"][0] and b"kg/m^3 (test)" in edited[".dmr"][0]
    assert b"kg/m^3 (test)" not in grown[".das"][0]
    assert all(edited[s][1] != grown[s][1] for s in SUFFIXES)
    assert len(builds) == 5 * len(SUFFIXES)


def test_a_consulted_stream_changes_its_readers(served, curated):
    """The optode takes temperature and salinity from the CTD: an ingest into the CTD makes the
    optode's answers again, with a new ETag."""
    app, store, builds = served
    key = demo.OPTODE
    first = _get(app, key, ".das")
    assert _get(app, key, ".das").body == first.body and len(builds) == 1
    _append(store, demo.CTD, curated)
    again = _get(app, key, ".das")
    assert len(builds) == 2 and again.headers["ETag"] != first.headers["ETag"]


def _before(http_date: str) -> Any:
    from datetime import timedelta
    from email.utils import parsedate_to_datetime

    return parsedate_to_datetime(http_date) - timedelta(seconds=10)


def test_a_worker_without_the_answer_checks_conditions_from_tokens(served, curated):
    """Another worker (nothing kept) answers a conditional request without a constraint with 304
    from the change tokens alone; a request with a constraint is still checked first (a bad one
    is an error, never a 304), and a changed stream gets its new answer."""
    app, store, builds = served
    key = demo.CTD
    dds = _get(app, key, ".dds")
    dmr = _get(app, key, ".dmr")
    etag, modified = dds.headers["ETag"], dds.headers["Last-Modified"]
    assert dmr.headers["ETag"] == etag and len(builds) == 2
    RESPONSES.clear()
    for suffix in (".dds", ".das", ".dmr", ".html", "/2019-05-02/2019-05-03.das"):
        got = _get(app, key, suffix, **{"If-None-Match": etag})
        assert (got.status_code, got.headers["ETag"], got.body) == (304, etag, b""), suffix
    assert _get(app, key, ".dmr", **{"If-Modified-Since": modified}).headers["X-DAP"] == "4.0"
    assert _get(app, key, ".dds", **{"If-Modified-Since": modified}).headers["XDAP"] == "2.0"
    assert len(builds) == 2
    assert _get(app, key, ".dds?time", **{"If-None-Match": etag}).status_code == 304
    assert len(builds) == 3  # the constraint was checked against the dataset
    bad = Request.blank(f"/dap/{key.path}.dds?no_such_variable", headers={"If-None-Match": etag}).get_response(app)
    assert bad.status_code == 404 and b"no_such_variable" in bad.body
    _append(store, key, curated)
    fresh = _get(app, key, ".dds", **{"If-None-Match": etag})
    assert fresh.status_code == 200 and fresh.headers["ETag"] != etag
    assert _obs(fresh.body) == _obs(dds.body) + ADDED
