"""Computed DAP windows shared by worker processes through the store's folder: a repeat served
by another worker (here: a process whose own window cache is empty) is read, not computed; an
ingest into another stream leaves them valid; the files are bounded and crash-safe."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
from stream_servers import CountingStore

from dap_handlers.product_windows import shared_windows
from dap_handlers.shared_windows import FOLDER, SharedWindows
from dap_handlers.stream_dataset import stream_dataset
from stream_engine import demo
from stream_engine.store.base import IndexRange
from stream_engine.store.embedded import EmbeddedStore

CTD_RECORDS = 40320


@pytest.fixture(scope="module")
def own_store(tmp_path_factory, curated):
    with EmbeddedStore(tmp_path_factory.mktemp("shared_windows")) as store:
        demo.fill_demo(store, curated)
        yield store


def _settings(engine_settings, **changes):
    values = {"DAP_COMPUTE_RECORDS": 4096, "DAP_CACHE_BYTES": 2**24, "DAP_SHARED_CACHE_BYTES": 2**26}
    return engine_settings.replace(**{**values, **changes})


def _another_worker() -> None:
    """What a freshly started worker process has: nothing in its own window cache."""
    shared_windows(2**24).clear()


def test_a_repeat_on_another_worker_reads_the_shared_windows(own_store, curated, engine_settings):
    settings = _settings(engine_settings)
    counting = CountingStore(own_store)
    _another_worker()
    first = stream_dataset(counting, curated, demo.CTD, settings=settings)["sea_water_density"].read()
    assert counting.records[demo.CTD] == CTD_RECORDS
    folder = own_store.path.parent / FOLDER
    assert len(list(folder.glob("*.npy"))) >= CTD_RECORDS // 4096
    _another_worker()
    counting.reset()
    again = stream_dataset(counting, curated, demo.CTD, settings=settings)["sea_water_density"].read()
    assert counting.reads == {}  # nothing read from the store: every window from the folder
    assert again.tobytes() == first.tobytes()


def test_an_ingest_into_another_stream_keeps_them_and_one_into_this_stream_does_not(
        own_store, curated, engine_settings):
    settings = _settings(engine_settings)
    counting = CountingStore(own_store)
    _another_worker()
    before = stream_dataset(counting, curated, demo.CTD, settings=settings)["sea_water_temperature"].read()
    # another stream of another instrument gets new records
    other = next(c.key for c in own_store.streams() if c.key.refdes != demo.CTD.refdes)
    raw = own_store.read(other, None, index_range=IndexRange(0, 10))
    raw["time"] = raw["time"] + 365 * 86400.0
    own_store.write(other, raw, bin_seconds=curated.stream(other.stream).bin_seconds)
    _another_worker()
    counting.reset()
    still = stream_dataset(counting, curated, demo.CTD, settings=settings)["sea_water_temperature"].read()
    assert counting.reads == {}
    assert still.tobytes() == before.tobytes()
    # this stream's first records change: its windows are computed again, with the new values
    raw = own_store.read(demo.CTD, None, index_range=IndexRange(0, 100))
    raw["temperature"] = raw["temperature"] + 5000
    own_store.write(demo.CTD, raw, bin_seconds=curated.stream(demo.CTD.stream).bin_seconds)
    _another_worker()
    counting.reset()
    after = stream_dataset(counting, curated, demo.CTD, settings=settings)["sea_water_temperature"].read()
    assert counting.records[demo.CTD] == CTD_RECORDS
    assert not np.array_equal(after[:100], before[:100])
    assert np.array_equal(after[100:], before[100:])


def test_off_when_the_setting_is_zero(own_store, curated, engine_settings, tmp_path):
    with EmbeddedStore(tmp_path) as store:
        demo.fill_demo(store, curated)
        settings = _settings(engine_settings, DAP_SHARED_CACHE_BYTES=0)
        stream_dataset(store, curated, demo.CTD, settings=settings)["sea_water_pressure"].read()
        assert not (tmp_path / FOLDER).exists()


def test_files_are_whole_or_absent_and_damaged_ones_are_recomputed(tmp_path):
    shared = SharedWindows(tmp_path, 10_000_000)
    values = np.linspace(0, 1, 1000, dtype=np.float32)
    shared.put(("k", 1), values)
    assert [p.name.startswith(".tmp-") for p in tmp_path.iterdir()] == [False]
    got = shared.get(("k", 1), 1000)
    assert got is not None and got.tobytes() == values.tobytes() and not got.flags.writeable
    assert shared.get(("k", 1), 999) is None  # not the window asked for: dropped
    assert shared.get(("k", 1), 1000) is None
    shared.put(("k", 2), values)
    path = next(tmp_path.glob("*.npy"))
    path.write_bytes(path.read_bytes()[:200])  # a damaged file (e.g. a disk that filled up)
    assert shared.get(("k", 2), 1000) is None
    assert not path.exists()
    shared.put(("s", 1), np.array(["a", "b"]))  # strings are not shared
    assert shared.get(("s", 1), 2) is None


def test_bounded_least_recently_used_first_and_dead_writers_cleaned(tmp_path):
    window = np.zeros(25_000, dtype=np.float64)  # 200 kB
    shared = SharedWindows(tmp_path, 1_500_000)
    for i in range(4):
        shared.put(("w", i), window)
        past = time.time() - 100 + i
        os.utime(next(p for p in tmp_path.glob("*.npy") if p.stat().st_mtime > past + 50), (past, past))
    assert shared.get(("w", 0), len(window)) is not None  # used again: now the most recent
    dead = tmp_path / ".tmp-dead.npy"
    dead.write_bytes(b"partial")
    os.utime(dead, (time.time() - 3600, time.time() - 3600))
    for i in range(4, 8):
        shared.put(("w", i), window)
    shared.clean_up()
    assert shared.nbytes() <= 1_500_000
    assert not dead.exists()
    assert shared.get(("w", 0), len(window)) is not None
    assert shared.get(("w", 1), len(window)) is None  # the least recently used went first
