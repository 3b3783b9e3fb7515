"""Cached plans are never stale: kept through unrelated ingests, resolved again (and the DDS/DAS
follow) when the stream, a consulted co-located stream, the list of streams or assets change."""

from __future__ import annotations

import numpy as np
import pytest
from engine_helpers import OPT, T0, build_preload, deployment_event

from dap_handlers.app import handle_dap
from dap_handlers.responses.dds import dds_text
from dap_handlers.stream_dataset import stream_dataset
from stream_engine.engine.plan_cache import PLANS, PlanCache
from stream_engine.engine.resolve import resolve
from stream_engine.store.base import StreamKey, TimeRange

TIMES = T0 + np.arange(0.0, 2000.0, 100.0)
LATER = T0 + 10 * 86400 + np.arange(0.0, 2000.0, 100.0)  # outside the optode's coverage


def ctd(node: str, sensor: str) -> StreamKey:
    return StreamKey("CE01ISSM", node, sensor, "recovered_host", "ctd_a")


SAME_DEPTH = ctd("MFD35", "02-CTDBPC000")  # co-located with OPT (same nominal depth)
SAME_REFDES = StreamKey(OPT.subsite, OPT.node, OPT.sensor, "recovered_host", "ctd_a")
FAR = ctd("RID16", "06-CTDBPC003")  # same site, 23 m deeper: never a candidate
DEPTHS = {OPT.refdes: 7.0, SAME_DEPTH.refdes: 7.0, FAR.refdes: 30.0}


def _ctd(store, write, key, times, temperature=10.0):
    write(store, key, times, 1, temperature=np.full(len(times), temperature),
          salinity=np.full(len(times), 33.0), ctd_count=np.arange(len(times), dtype=np.int32))


def _describe(store, preload, settings) -> tuple[str, str]:
    """The optode's DDS and DAS, read through one snapshot as a response does."""
    with store.snapshot() as view:
        dataset = stream_dataset(view, preload, OPT, settings=settings)
        das = b"".join(handle_dap(dataset, "das", "", max_response_bytes=10**6).body_iter).decode()
        return dds_text(dataset), das


@pytest.fixture
def dap_settings(settings):
    return settings.replace(DAP_SHARED_CACHE_BYTES=0)


@pytest.fixture(autouse=True)
def still_clock(monkeypatch):
    """A DAS carries the request time (``date_created``, ``history``) to the second: two texts
    made across a second boundary differ there, so the texts compared here are made at one time."""
    monkeypatch.setattr("stream_engine.outputs.attributes._now_iso", lambda: "2026-01-01T00:00:00Z")


def test_plans_follow_exactly_what_their_resolution_consulted(store, write, dap_settings):
    preload = build_preload(DEPTHS)
    refdes = OPT.refdes
    store.put_asset_events(refdes, [deployment_event(refdes, 1, T0 - 10, None, {"CC_coef": [(T0 - 10, 2.0)]})])
    write(store, OPT, TIMES, 1, phase=np.linspace(1.0, 2.0, len(TIMES)))
    _ctd(store, write, FAR, TIMES)
    _ctd(store, write, SAME_DEPTH, LATER)  # co-located, but no data in the optode's range
    PLANS.clear()

    def described() -> tuple[str, str, int, int]:
        before, hits = PLANS.resolutions, PLANS.hits
        dds, das = _describe(store, preload, dap_settings)
        return dds, das, PLANS.resolutions - before, PLANS.hits - hits

    dds, das, resolved, _ = described()
    assert resolved == 1
    assert "oxy_temp_sum" not in dds and "scaled_phase" in dds and "oxy_used" not in dds
    assert "no stream provides dpi_TEMPWAT_L1" in das

    # an ingest into a stream the resolution did not consult (FAR is no candidate): same plan
    _ctd(store, write, FAR, TIMES + 50.0, temperature=11.0)
    again, das_again, resolved, hits = described()
    assert (resolved, hits) == (0, 1) and (again, das_again) == (dds, das)

    # an ingest into a consulted co-located stream (it now holds data in range): resolved again
    _ctd(store, write, SAME_DEPTH, TIMES, temperature=12.0)
    dds, das, resolved, _ = described()
    assert resolved == 1 and "Float64 oxy_temp_sum[obs = 20];" in dds
    assert "no stream provides dpi_TEMPWAT_L1" not in das and f"temperature from {SAME_DEPTH.path}" in das

    # a new candidate stream appearing (the optode's own refdes: a better tier): resolved again
    _ctd(store, write, SAME_REFDES, TIMES)
    dds_new, das_new, resolved, _ = described()
    assert resolved == 1 and dds_new == dds
    assert f"temperature from {SAME_REFDES.path}" in das_new and f"temperature from {SAME_DEPTH.path}" not in das_new
    dds, das = dds_new, das_new

    # an asset change (the calibration of scaled_phase removed): resolved again, product gone
    store.put_asset_events(refdes, [deployment_event(refdes, 1, T0 - 10, None, {})])
    dds, das, resolved, _ = described()
    assert resolved == 1 and "scaled_phase" not in dds and "missing calibration CC_coef" in das

    # an ingest into the stream itself, same records (same coverage, so the same request):
    # the instrument's own oxygen estimate is stored now, so oxy_used can be computed
    write(store, OPT, TIMES, 1, phase=np.linspace(1.0, 2.0, len(TIMES)), oxy_est=np.full(len(TIMES), 250.0))
    dds, das, resolved, _ = described()
    assert resolved == 1 and "Float64 oxy_used[obs = 20];" in dds and "Float64 oxy_est[obs = 20];" in dds

    # nothing changed: every plan comes from the cache
    _, _, resolved, hits = described()
    assert resolved == 0 and hits >= 1


def test_a_cached_plan_equals_a_fresh_resolution(store, write, settings):
    preload = build_preload(DEPTHS)
    write(store, OPT, TIMES, 1, phase=np.linspace(1.0, 2.0, len(TIMES)))
    _ctd(store, write, SAME_DEPTH, TIMES)
    cache = PlanCache(capacity=2)
    span = TimeRange(T0, T0 + 2000)
    with store.snapshot() as view:
        first = cache.resolve(view, preload, OPT, [202], span, settings=settings)
    with store.snapshot() as view:
        second = cache.resolve(view, preload, OPT, [202], span, settings=settings)
        assert second is first and (cache.resolutions, cache.hits) == (1, 1)
        assert second.to_dict() == resolve(view, preload, OPT, [202], span, settings=settings).to_dict()
        for parameters in ([215], [206], [202]):  # capacity 2: the least recently used goes
            cache.resolve(view, preload, OPT, parameters, span, settings=settings)
    assert cache.resolutions == 4
    # another dictionary object is another key, even with the same content
    with store.snapshot() as view:
        cache.resolve(view, build_preload(DEPTHS), OPT, [202], span, settings=settings)
    assert cache.resolutions == 5


def test_das_and_dmr_texts_are_kept_per_dataset_version(store, write, dap_settings, tmp_path):
    """A repeated DAS/DMR is served whole from the worker's kept answers (each made once); an
    ingest into a consulted stream changes the ETag, so the next one is made again and shows the
    change; a dated dataset is never answered with the whole stream's text."""
    from webob import Request

    from dap_handlers.metadata_responses import RESPONSES
    from stream_engine.web.app import create_app

    preload = build_preload(DEPTHS)
    write(store, OPT, TIMES, 1, phase=np.linspace(1.0, 2.0, len(TIMES)))
    _ctd(store, write, SAME_DEPTH, LATER)
    app = create_app(dap_settings.replace(LOG_DIR=str(tmp_path / "logs")))
    app.context._store, app.context._preload = store, preload
    url = f"/dap/{OPT.path}"

    def get(path: str) -> tuple[str, str]:
        response = Request.blank(path).get_response(app)
        assert response.status_code == 200, response.text
        return response.text, response.headers["ETag"]

    RESPONSES.clear()
    made, kept = RESPONSES.made, RESPONSES.hits + RESPONSES.checked
    das, etag = get(url + ".das")
    dmr, _ = get(url + ".dmr")
    assert (get(url + ".das"), get(url + ".dmr")) == ((das, etag), (dmr, etag))
    assert (RESPONSES.made - made, RESPONSES.hits + RESPONSES.checked - kept) == (2, 2)
    assert "no stream provides dpi_TEMPWAT_L1" in das and "no stream provides dpi_TEMPWAT_L1" in dmr

    dated, _ = get(url + "/2017-04-01T02:00:00Z/2017-04-02.das")
    assert dated != das and RESPONSES.made - made == 3

    _ctd(store, write, SAME_DEPTH, TIMES)  # the optode's temperature input now exists
    das_after, etag_after = get(url + ".das")
    dmr_after, _ = get(url + ".dmr")
    assert etag_after != etag and RESPONSES.made - made == 5
    assert f"temperature from {SAME_DEPTH.path}" in das_after and f"temperature from {SAME_DEPTH.path}" in dmr_after
