"""Product windows: a projected product computes only its dependency chain, windows bound the
algorithms' memory, the worker's window cache serves repeated requests until the store changes,
and later variables of a response wait in memory or in a temporary file."""

from __future__ import annotations

import tracemalloc
from collections import Counter

import numpy as np
import pytest
from stream_servers import CountingStore, assert_same, engine_values

from dap_handlers import window_work
from dap_handlers.product_windows import PendingWindows, WindowCache
from dap_handlers.stream_dataset import stream_dataset
from stream_engine import demo
from stream_engine.engine.compiled_chains import CompiledChain
from stream_engine.functions.registry import Algorithm
from stream_engine.store.base import IndexRange
from stream_engine.store.embedded import EmbeddedStore

CTD_RECORDS = 40320
CHAIN = {"ctd_sbe16plus_tempwat", "ctd_sbe16plus_preswat", "ctd_sbe16plus_condwat", "ctd_pracsal"}


class TokenCountingStore(CountingStore):
    """Counts reads; passes the store's change tokens on (as every wrapper does)."""


class TokenlessStore(CountingStore):
    """Counts reads and cannot tell when data changed (no per-stream change tokens)."""

    def stream_token(self, key):
        return None

    def asset_token(self, refdes):
        return None


@pytest.fixture(scope="module")
def own_store(tmp_path_factory, curated):
    """A demo store this module may write to."""
    with EmbeddedStore(tmp_path_factory.mktemp("dap_windows")) as store:
        demo.fill_demo(store, curated)
        yield store


@pytest.fixture
def algorithm_calls(monkeypatch):
    """Calls of each algorithm, on the step-by-step path (compiled chains, which compute a
    window without calling algorithms, are tested on their own below)."""
    calls: Counter[str] = Counter()
    original = Algorithm.compute

    def counting(self, arguments):
        calls[self.function] += 1
        return original(self, arguments)

    monkeypatch.setattr(Algorithm, "compute", counting)
    monkeypatch.setattr(window_work, "compiled_chain", lambda plan, preload: None)
    return calls


def test_one_product_computes_only_its_dependency_chain(own_store, curated, engine_settings,
                                                        algorithm_calls):
    settings = engine_settings.replace(DAP_COMPUTE_RECORDS=10_000, DAP_CACHE_BYTES=0,
                                       DAP_COMPUTE_THREADS=1)
    dataset = stream_dataset(own_store, curated, demo.CTD, settings=settings,
                             projection={"sea_water_practical_salinity"})
    assert "sea_water_density" in dataset  # declared, but not computed
    expected = engine_values(own_store, curated, engine_settings, demo.CTD)
    algorithm_calls.clear()
    values = dataset["sea_water_practical_salinity"].read()
    assert_same(values, expected["practical_salinity"], "salinity")
    windows = -(-CTD_RECORDS // 10_000)
    assert dict(algorithm_calls) == dict.fromkeys(CHAIN, windows)


def test_a_compiled_chain_computes_the_plain_windows(own_store, curated, engine_settings, monkeypatch):
    """Salinity through the compiled CTD chain: every window but those that are not the plain
    case, nothing beyond salinity's chain, values equal to the engine's."""
    settings = engine_settings.replace(DAP_COMPUTE_RECORDS=10_000, DAP_CACHE_BYTES=0, DAP_COMPUTE_THREADS=1)
    windows: list[tuple[bool, tuple[str, ...]]] = []
    original = CompiledChain.compute

    def counting(self, columns, wanted):
        got = original(self, columns, wanted)
        windows.append((got is not None, tuple(sorted(set(self.outputs.values())))))
        return got

    monkeypatch.setattr(CompiledChain, "compute", counting)
    dataset = stream_dataset(own_store, curated, demo.CTD, settings=settings,
                             projection={"sea_water_practical_salinity"})
    values = dataset["sea_water_practical_salinity"].read()
    assert_same(values, engine_values(own_store, curated, engine_settings, demo.CTD)["practical_salinity"],
                "salinity")
    assert len(windows) == -(-CTD_RECORDS // 10_000)
    assert sum(taken for taken, _ in windows) >= len(windows) - 1
    assert {roles for _, roles in windows} == {("conductivity", "pressure", "salinity", "temperature")}


def test_later_products_are_computed_with_the_first(own_store, curated, engine_settings,
                                                    algorithm_calls):
    settings = engine_settings.replace(DAP_COMPUTE_RECORDS=CTD_RECORDS, DAP_CACHE_BYTES=0,
                                       DAP_COMPUTE_THREADS=1)
    names = {"sea_water_practical_salinity", "sea_water_density"}
    dataset = stream_dataset(own_store, curated, demo.CTD, settings=settings, projection=names)
    for name in ("sea_water_practical_salinity", "sea_water_density"):
        dataset[name].read()
    assert algorithm_calls["ctd_pracsal"] == 1
    assert algorithm_calls["ctd_sbe16plus_tempwat"] == 1
    assert algorithm_calls["ctd_density"] == 1


def _peak_bytes(store, curated, settings, records: int) -> int:
    dataset = stream_dataset(store, curated, demo.CTD, settings=settings.replace(
        DAP_COMPUTE_RECORDS=records, DAP_CACHE_BYTES=0, DAP_COMPUTE_THREADS=1))
    variable = dataset["sea_water_density"]
    tracemalloc.start()
    try:
        variable.read(slice(0, 1))  # imports and first-call allocations out of the way
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        values = variable.read()
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert values.shape == (CTD_RECORDS,)
    return peak


def test_compute_windows_bound_the_temporaries(own_store, curated, engine_settings):
    whole = _peak_bytes(own_store, curated, engine_settings, CTD_RECORDS)
    small = _peak_bytes(own_store, curated, engine_settings, 2048)
    # the whole stream in one window holds float64 temporaries of the whole chain at once
    assert whole > 60 * CTD_RECORDS
    # 2048-record windows: the result (4 bytes a record) and parts, plus one window's temporaries
    assert small < 4 * CTD_RECORDS * 3 + 150 * 2048 * 2
    assert small * 4 < whole


def test_repeated_requests_reuse_windows_until_the_store_changes(own_store, curated,
                                                                 engine_settings):
    settings = engine_settings.replace(DAP_COMPUTE_RECORDS=4096, DAP_CACHE_BYTES=2**24)
    counting = TokenCountingStore(own_store)
    first = stream_dataset(counting, curated, demo.CTD, settings=settings)
    before = first["sea_water_temperature"].read()
    assert counting.records[demo.CTD] == CTD_RECORDS
    counting.reset()
    again = stream_dataset(counting, curated, demo.CTD, settings=settings)
    assert np.array_equal(again["sea_water_temperature"].read(), before)
    assert counting.reads == {}  # every window came from the worker's cache

    # rewrite the first 100 records with other counts: same keys, count, first and last time
    raw = own_store.read(demo.CTD, None, index_range=IndexRange(0, 100))
    raw["temperature"] = raw["temperature"] + 5000
    own_store.write(demo.CTD, raw, bin_seconds=curated.stream(demo.CTD.stream).bin_seconds)
    after = stream_dataset(counting, curated, demo.CTD, settings=settings)
    changed = after["sea_water_temperature"].read()
    expected = engine_values(own_store, curated, engine_settings, demo.CTD)
    assert_same(changed, expected["ctdbp_seawater_temperature"], "after the write")
    assert not np.array_equal(changed[:100], before[:100])
    assert np.array_equal(changed[100:], before[100:])


def test_a_store_without_change_token_gets_no_cross_request_cache(own_store, curated,
                                                                  engine_settings):
    settings = engine_settings.replace(DAP_COMPUTE_RECORDS=4096, DAP_CACHE_BYTES=2**24)
    counting = TokenlessStore(own_store)
    for _ in range(2):
        counting.reset()
        stream_dataset(counting, curated, demo.CTD, settings=settings)["sea_water_pressure"].read()
        assert counting.records[demo.CTD] == CTD_RECORDS


def test_change_token_moves_with_commits_from_any_connection(own_store, tmp_path):
    token = own_store.change_token()
    assert own_store.change_token() == token
    with EmbeddedStore(own_store.path.parent) as other:
        other.put_asset_events("XX00XXXX-XX000-00-XXXXXX000", [])
    moved = own_store.change_token()
    assert moved != token
    assert own_store.change_token() == moved


def test_read_columns_returns_only_the_named_columns(own_store):
    window = IndexRange(100, 5000, 7)
    only = own_store.read_columns(demo.CTD, ["temperature"], index_range=window)
    full = own_store.read(demo.CTD, ["temperature"], index_range=window)
    assert list(only) == ["temperature"]
    np.testing.assert_array_equal(only["temperature"], full["temperature"])


def test_pending_windows_spill_to_a_file_and_come_back_exact(tmp_path):
    pending = PendingWindows(memory_bytes=1000, spool_dir=str(tmp_path))
    small = np.arange(100, dtype=np.float32)
    big = np.linspace(0, 1, 5000).reshape(1000, 5)
    pending.put(("a", (0, 100)), small)
    pending.put(("b", (0, 1000)), big)
    assert pending.nbytes == small.nbytes and pending.spooled_bytes == big.nbytes
    assert ("b", (0, 1000)) in pending
    np.testing.assert_array_equal(pending.take(("b", (0, 1000))), big)
    assert pending.take(("b", (0, 1000))) is None
    np.testing.assert_array_equal(pending.take(("a", (0, 100))), small)
    assert list(tmp_path.iterdir()) == []  # the spool file is unlinked


def test_window_cache_is_bounded_and_read_only():
    cache = WindowCache(max_bytes=1000)
    cache.put("a", np.zeros(100, np.float32))
    cache.put("b", np.ones(100, np.float32))
    assert cache.get("a") is not None  # "b" is now the least recently used
    cache.put("c", np.full(100, 2, np.float32))
    assert cache.get("b") is None and cache.nbytes == 800
    with pytest.raises(ValueError):
        cache.get("c")[0] = 1
    cache.put("huge", np.zeros(1000, np.float32))
    assert cache.get("huge") is None


def test_bad_window_settings_and_mmap_are_refused(tmp_path):
    from stream_engine.config import load_settings
    from stream_engine.errors import ConfigError

    with pytest.raises(ConfigError, match="DAP_COMPUTE_RECORDS"):
        load_settings(environ={"STREAM_ENGINE_DAP_COMPUTE_RECORDS": "0"})
    with pytest.raises(ConfigError, match="DAP_CACHE_BYTES"):
        load_settings(environ={"STREAM_ENGINE_DAP_CACHE_BYTES": "-1"})
    with pytest.raises(ValueError, match="mmap_bytes"):
        EmbeddedStore(tmp_path, mmap_bytes=-1)
