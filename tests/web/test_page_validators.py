"""Validators beyond DAP: catalog pages and their JSON twins, /dap/ and /dap.json, THREDDS
catalog.xml and /annotations send ETag (and Last-Modified where the store has change tokens),
answer 304 to a current client, and change with exactly what they show (in-process app)."""

from __future__ import annotations

import numpy as np
import orjson
import pytest
from live_server import ensure_store
from webob import Request

from stream_engine import demo
from stream_engine.config import REPO_ROOT, load_settings
from stream_engine.engine.resolve import resolve
from stream_engine.engine.versions import plan_streams
from stream_engine.preload import load_preload
from stream_engine.store.base import StreamKey, TimeRange
from stream_engine.store.embedded import EmbeddedStore
from stream_engine.web.app import create_app

OTHER = StreamKey("RS01SBPS", "SF01A", "2A-CTDBPC000", "recovered_inst", demo.CTD.stream)  # a CTD of its own
STREAMS = (demo.CTD, demo.OPTODE, demo.FLUOROMETER, OTHER)


@pytest.fixture
def setup(tmp_path):
    preload = load_preload(REPO_ROOT / "preload_database")
    ensure_store(tmp_path / "data")
    store = EmbeddedStore(tmp_path / "data")
    demo.fill_demo(store, preload)
    store.write(OTHER, {k: v[:100] for k, v in store.read(demo.CTD).items()}, bin_seconds=86400)
    settings = load_settings(environ={"STREAM_ENGINE_LOG_DIR": str(tmp_path / "logs"),
                                      "STREAM_ENGINE_DATA_DIR": str(tmp_path / "data")})
    yield create_app(settings), store, preload
    store.close()


def _get(app, path, headers=None):
    return Request.blank(path, headers=headers or {}).get_response(app)


def _tags(app, paths) -> dict[str, tuple[str, str | None]]:
    out = {}
    for path in paths:
        response = _get(app, path)
        assert response.status_code == 200, (path, response.text[:300])
        out[path] = (response.headers["ETag"], response.headers.get("Last-Modified"))
    return out


def _change_ctd_values(store, preload) -> None:
    raw = store.read(demo.CTD)
    raw["temperature"] = raw["temperature"] + np.int32(1)
    store.write(demo.CTD, raw, bin_seconds=preload.stream(demo.CTD.stream).bin_seconds)


def _inputs_of(app, store, preload, key) -> set[StreamKey]:
    """The stream and every stream it takes inputs from, over its whole coverage."""
    coverage = store.coverage(key)
    span = TimeRange(coverage.first, float(np.nextafter(coverage.last, np.inf)))
    return set(plan_streams(resolve(store, preload, key, None, span, settings=app.settings)))


def _pages(key: StreamKey) -> list[str]:
    return [f"/catalog/{key.path}", f"/catalog/{key.path}.json"]


def test_stream_pages_change_with_their_stream_and_its_inputs_only(setup) -> None:
    app, store, preload = setup
    paths = [p for key in STREAMS for p in _pages(key)]
    before = _tags(app, paths)
    assert before == _tags(app, paths), "stable without writes"
    html, twin = _pages(demo.CTD)
    assert before[html][0] != before[twin][0], "the page and its twin are different representations"
    depends = {key: demo.CTD in _inputs_of(app, store, preload, key) for key in STREAMS}
    assert depends == {demo.CTD: True, demo.OPTODE: True, demo.FLUOROMETER: True, OTHER: False}
    _change_ctd_values(store, preload)
    after = _tags(app, paths)
    for key in STREAMS:
        for path in _pages(key):
            assert (after[path][0] != before[path][0]) is depends[key], (key.stream, path)
    for path in (html, twin):
        assert _get(app, path, {"If-None-Match": after[path][0]}).status_code == 304
        stale = _get(app, path, {"If-None-Match": before[path][0]})
        assert stale.status_code == 200 and stale.headers["ETag"] == after[path][0]
        current = _get(app, path, {"If-Modified-Since": after[path][1]})
        assert current.status_code == 304 and current.headers["ETag"] == after[path][0]
        assert not current.body


def test_folders_and_dataset_lists_change_with_the_streams_they_list(setup) -> None:
    app, store, preload = setup
    ctd_folders = ["/", "/index.json", "/catalog/CE07SHSM/", "/catalog/CE07SHSM.json",
                   f"/catalog/{'/'.join(demo.CTD.path.split('/')[:3])}/", "/dap/", "/dap.json",
                   "/catalog.xml", "/catalog/CE07SHSM/catalog.xml",
                   f"/catalog/{'/'.join(demo.CTD.path.split('/')[:4])}/catalog.xml"]
    other_folders = ["/catalog/RS01SBPS/", "/catalog/RS01SBPS.json", "/dap/RS01SBPS/",
                     "/catalog/RS01SBPS/catalog.xml",
                     f"/catalog/{'/'.join(OTHER.path.split('/')[:4])}/catalog.xml"]
    before = _tags(app, ctd_folders + other_folders)
    _change_ctd_values(store, preload)
    after = _tags(app, ctd_folders + other_folders)
    assert [p for p in ctd_folders if after[p] == before[p]] == []
    assert [p for p in other_folders if after[p] != before[p]] == []
    for path in ctd_folders:
        assert _get(app, path, {"If-None-Match": after[path][0]}).status_code == 304, path
        assert _get(app, path, {"If-None-Match": before[path][0]}).status_code == 200, path


def test_annotations_answer_304_until_one_is_added(setup) -> None:
    app, *_ = setup
    paths = ["/annotations", f"/annotations/{demo.CTD.path}", f"/annotations/{OTHER.path}"]
    before = _tags(app, paths)
    for path in paths:
        assert _get(app, path, {"If-None-Match": before[path][0]}).status_code == 304
    record = {"subsite": demo.CTD.subsite, "node": demo.CTD.node, "sensor": demo.CTD.sensor,
              "method": demo.CTD.method, "stream": demo.CTD.stream, "beginDT": 1_500_000_000_000,
              "endDT": 1_600_000_000_000, "annotation": "pump failure", "exclusionFlag": False,
              "qcFlag": "suspect", "source": "test"}
    posted = Request.blank("/annotations", method="POST", body=orjson.dumps(record),
                           content_type="application/json").get_response(app)
    assert posted.status_code == 201, posted.text
    after = _tags(app, paths)
    assert after["/annotations"] != before["/annotations"]
    assert after[f"/annotations/{demo.CTD.path}"] != before[f"/annotations/{demo.CTD.path}"]
    assert after[f"/annotations/{OTHER.path}"] == before[f"/annotations/{OTHER.path}"]
    stale = _get(app, "/annotations", {"If-None-Match": before["/annotations"][0]})
    assert stale.status_code == 200 and b"pump failure" in stale.body


def test_downloads_and_particles_carry_the_data_version(setup) -> None:
    app, store, preload = setup
    path = f"/download/{OTHER.path}?format=csv"
    first = _get(app, path)
    assert first.status_code == 200 and first.content_type == "application/zip"
    tag = first.headers["ETag"]
    assert _get(app, path, {"If-None-Match": tag}).status_code == 304
    body = {"streams": [{"subsite": OTHER.subsite, "node": OTHER.node, "sensor": OTHER.sensor,
                         "method": OTHER.method, "stream": OTHER.stream}], "limit": 10}
    posted = Request.blank("/particles", method="POST", body=orjson.dumps(body),
                           content_type="application/json").get_response(app)
    assert posted.status_code == 200 and posted.headers["ETag"]
    raw = store.read(OTHER)
    raw["temperature"] = raw["temperature"] + np.int32(1)
    store.write(OTHER, raw, bin_seconds=86400)
    again = _get(app, path, {"If-None-Match": tag})
    assert again.status_code == 200 and again.headers["ETag"] != tag
    reposted = Request.blank("/particles", method="POST", body=orjson.dumps(body),
                             content_type="application/json").get_response(app)
    assert reposted.headers["ETag"] not in (posted.headers["ETag"], None)
