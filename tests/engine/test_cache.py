"""The product cache: hits return identical values, changed inputs miss, the byte bound holds."""

from __future__ import annotations

import numpy as np
import pytest
from engine_helpers import OPT, T0, deployment_event

from stream_engine.config import load_settings
from stream_engine.engine.cache import ProductCache, same, shared_cache
from stream_engine.engine.compute import compute
from stream_engine.engine.resolve import resolve
from stream_engine.errors import ConfigError
from stream_engine.store.base import StreamKey, TimeRange

CTD_B = StreamKey(OPT.subsite, OPT.node, OPT.sensor, "recovered_inst", "ctd_b")
TIMES = T0 + np.arange(0.0, 1000.0, 100.0)
COND = np.linspace(30.0, 31.0, len(TIMES))
RANGE = TimeRange(T0 - 1000, T0 + 3000)


def _arrays(n: int, value: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    return np.full(n, value), np.arange(n, dtype=np.int32)


# -- the cache on its own ------------------------------------------------------------------------


def test_hit_needs_identical_evidence_bit_for_bit():
    cache = ProductCache(10_000)
    values, raw = _arrays(10)
    cache.put("k", ("algo", raw, 2.0), values)
    np.testing.assert_array_equal(cache.get("k", ("algo", raw.copy(), 2.0)), values)
    changed = raw.copy()
    changed[3] += 1
    assert cache.get("k", ("algo", changed, 2.0)) is None
    assert cache.get("k", ("algo", raw.astype(np.int64), 2.0)) is None  # same numbers, other dtype
    assert cache.get("k", ("algo", raw, 3.0)) is None
    assert cache.get("other", ("algo", raw, 2.0)) is None
    assert (cache.hits, cache.misses) == (1, 4)


def test_nan_and_signed_zero_compare_by_bits():
    assert same(np.array([np.nan, 1.0]), np.array([np.nan, 1.0]))
    assert not same(np.array([0.0]), np.array([-0.0]))
    assert same(np.float32("nan"), np.float32("nan")) and same(float("nan"), float("nan"))
    assert not same(np.float32(1.0), np.float64(1.0))


def test_stored_arrays_become_read_only_and_views_are_copied():
    cache = ProductCache(10_000)
    base = np.arange(20.0)
    view = base[:10]
    values = np.ones(10)
    cache.put("k", (view,), values)
    assert not values.flags.writeable
    assert view.flags.writeable  # a view is copied, never frozen in place
    base[:10] = -1.0  # writing through the base does not reach the cache
    assert cache.get("k", (np.arange(10.0),)) is not None
    assert cache.get("k", (view,)) is None


def test_byte_bound_evicts_least_recently_used():
    one = np.zeros(100)  # 800 bytes
    cache = ProductCache(2000)
    cache.put("a", (), one.copy())
    cache.put("b", (), one.copy())
    assert cache.get("a", ()) is not None  # "a" is now the most recently used
    cache.put("c", (), one.copy())
    assert len(cache) == 2 and cache.nbytes == 1600
    assert cache.get("b", ()) is None and cache.get("a", ()) is not None
    cache.put("huge", (), np.zeros(1000))  # larger than the bound: not kept
    assert cache.get("huge", ()) is None and cache.nbytes <= 2000
    cache.max_bytes = 900
    assert len(cache) == 1 and cache.nbytes == 800
    cache.max_bytes = 0
    assert len(cache) == 0 and cache.get("a", ()) is None


def test_setting_is_validated():
    assert load_settings(environ={})["COMPUTE_CACHE_BYTES"] > 0
    with pytest.raises(ConfigError, match="COMPUTE_CACHE_BYTES"):
        load_settings(environ={"STREAM_ENGINE_COMPUTE_CACHE_BYTES": "-1"})
    with pytest.raises(ConfigError, match="COMPUTE_CACHE_BYTES"):
        load_settings(environ={"STREAM_ENGINE_COMPUTE_CACHE_BYTES": "lots"})


# -- through compute ------------------------------------------------------------------------------


@pytest.fixture
def streams(store, write):
    refdes = OPT.refdes
    store.put_asset_events(refdes, [deployment_event(refdes, 1, T0 - 10, None, {"CC_coef": [(T0 - 10, 2.0)]})])
    write(store, OPT, TIMES, 1, phase=np.linspace(1.0, 2.0, len(TIMES)), oxy_est=np.zeros(len(TIMES)))
    write(store, CTD_B, TIMES, 1, conductivity=COND)
    return store


def _both(store, preload, settings):
    ctd = compute(store, preload, resolve(store, preload, CTD_B, [302], RANGE, settings=settings), settings=settings)
    opt = compute(store, preload, resolve(store, preload, OPT, [209], RANGE, settings=settings), settings=settings)
    return ctd, opt


def test_external_sub_plan_reuses_the_product_just_computed(streams, preload, settings):
    cache = shared_cache(settings)
    cache.clear()
    hits = cache.hits
    ctd, opt = _both(streams, preload, settings)
    assert cache.hits == hits + 1  # the optode's sub-plan found ctd_b's sal_computed
    np.testing.assert_array_equal(ctd["sal_computed"], 2 * COND)
    np.testing.assert_array_equal(opt["ext_product"], 2 * COND)
    ctd_off, opt_off = _both(streams, preload, settings.replace(COMPUTE_CACHE_BYTES=0))
    for on, off in ((ctd, ctd_off), (opt, opt_off)):
        assert on.keys() == off.keys() and on.provenance == off.provenance
        for name in on:
            np.testing.assert_array_equal(on[name], off[name])
            assert on[name].dtype == off[name].dtype


def test_new_data_in_the_store_invalidates(streams, write, preload, settings):
    shared_cache(settings).clear()
    _both(streams, preload, settings)
    write(streams, CTD_B, TIMES, 1, conductivity=COND + 1.0)  # same times: values replaced
    hits = shared_cache(settings).hits
    ctd, opt = _both(streams, preload, settings)
    np.testing.assert_array_equal(ctd["sal_computed"], 2 * (COND + 1.0))
    np.testing.assert_array_equal(opt["ext_product"], 2 * (COND + 1.0))
    assert shared_cache(settings).hits == hits + 1  # only the second request reused the first
    write(streams, CTD_B, [T0 + 950], 1, conductivity=[50.0])  # a new record inside the range
    ctd, _ = _both(streams, preload, settings)
    assert ctd["sal_computed"][-1] == 100.0 and len(ctd["sal_computed"]) == len(TIMES) + 1


def test_callers_get_writable_arrays_that_do_not_alias_the_cache(streams, preload, settings):
    shared_cache(settings).clear()
    plan = resolve(streams, preload, CTD_B, [302], RANGE, settings=settings)
    first = compute(streams, preload, plan, settings=settings)
    first["sal_computed"][:] = -1.0
    again = compute(streams, preload, plan, settings=settings)
    assert again["sal_computed"].flags.writeable
    np.testing.assert_array_equal(again["sal_computed"], 2 * COND)
