"""ETag and Last-Modified follow exactly what a response depends on (in-process app)."""

from __future__ import annotations

import numpy as np
import pytest
from live_server import ensure_store
from webob import Request

from stream_engine import demo
from stream_engine.config import REPO_ROOT, load_settings
from stream_engine.engine.resolve import resolve
from stream_engine.engine.versions import plan_streams
from stream_engine.preload import load_preload
from stream_engine.store.base import TimeRange
from stream_engine.store.embedded import EmbeddedStore
from stream_engine.web.app import create_app

STREAMS = (demo.CTD, demo.OPTODE, demo.FLUOROMETER)


@pytest.fixture
def setup(tmp_path):
    preload = load_preload(REPO_ROOT / "preload_database")
    ensure_store(tmp_path / "data")
    store = EmbeddedStore(tmp_path / "data")
    demo.fill_demo(store, preload)
    settings = load_settings(environ={"STREAM_ENGINE_LOG_DIR": str(tmp_path / "logs"),
                                      "STREAM_ENGINE_DATA_DIR": str(tmp_path / "data")})
    yield create_app(settings), store, preload, settings
    store.close()


def _get(app, key, headers=None):
    return Request.blank(f"/dap/{key.path}.dds", headers=headers or {}).get_response(app)


def _validators(app) -> dict:
    return {key: (_get(app, key).headers["ETag"], _get(app, key).headers["Last-Modified"])
            for key in STREAMS}


def _inputs_of(store, preload, settings, key):
    coverage = store.coverage(key)
    plan = resolve(store, preload, key, None, TimeRange(coverage.first, coverage.last + 1),
                   settings=settings)
    return set(plan_streams(plan))


def test_validators_are_stable_without_writes(setup) -> None:
    app, *_ = setup
    assert _validators(app) == _validators(app)


def test_changed_values_at_the_same_times_change_the_etag_of_dependents_only(setup) -> None:
    app, store, preload, settings = setup
    before = _validators(app)
    depends = {key: demo.CTD in _inputs_of(store, preload, settings, key) for key in STREAMS}
    assert depends[demo.CTD] and depends[demo.OPTODE], "the optode takes its salinity from the CTD"
    raw = store.read(demo.CTD)
    raw["temperature"] = raw["temperature"] + np.int32(1)
    store.write(demo.CTD, raw, bin_seconds=preload.stream(demo.CTD.stream).bin_seconds)
    after = _validators(app)
    for key in STREAMS:
        changed = after[key][0] != before[key][0]
        assert changed == depends[key], f"{key.stream}: ETag changed={changed}, depends={depends[key]}"
    stale = _get(app, demo.CTD, {"If-None-Match": before[demo.CTD][0]})
    assert stale.status_code == 200, "a client holding the old ETag must get the new data"
    fresh = _get(app, demo.CTD, {"If-None-Match": after[demo.CTD][0]})
    assert fresh.status_code == 304


def test_asset_changes_change_the_etag_of_that_instrument(setup) -> None:
    app, store, *_ = setup
    before = _validators(app)
    events = store.asset_events(demo.FLUOROMETER.refdes)
    store.put_asset_events(demo.FLUOROMETER.refdes, events)  # rewritten, even unchanged
    after = _validators(app)
    assert after[demo.FLUOROMETER][0] != before[demo.FLUOROMETER][0]
    assert after[demo.FLUOROMETER][1] >= before[demo.FLUOROMETER][1]
    assert after[demo.CTD] == before[demo.CTD]


def test_a_new_unrelated_stream_leaves_validators_alone(setup) -> None:
    app, store, preload, _ = setup
    before = _validators(app)
    other = demo.CTD.__class__("RS01SBPS", "SF01A", "2A-CTDPFA102", "streamed", "ctdpf_sbe43_sample")
    store.write(other, {"time": np.array([3.9e9]), "deployment": np.array([1], np.int32),
                        "temperature": np.array([1.0])}, bin_seconds=86400)
    assert _validators(app) == before
