"""Computed DAP windows shared by worker processes through the store's folder: a repeat served
by another worker (here: a process whose own window cache is empty) is read, not computed; an
ingest into another stream leaves them valid; the files are bounded and crash-safe."""

from __future__ import annotations

import mmap
import os
import time
from pathlib import Path

import numpy as np
import pytest
from stream_servers import CountingStore

from dap_handlers.product_windows import KeptWindows, WindowCache, shared_windows
from dap_handlers.shared_windows import FOLDER, SharedWindows, group_windows
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


def _files(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if not p.name.startswith(".tmp-")]


def _mapped(values: np.ndarray) -> bool:
    """Whether ``values`` is a view of a file mapped in memory (no heap copy)."""
    base = values
    while isinstance(base, np.ndarray):
        base = base.base
    if isinstance(base, memoryview):
        base = base.obj
    return isinstance(base, mmap.mmap) and not values.flags.writeable


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
    # one file per group of 4 MiB of float32 windows (4096 records each), not one per window
    assert group_windows(4096, 4) == 256 and group_windows(65536, 4) == 16 and group_windows(65536, 8) == 8
    assert group_windows(65536, 2**20) == 1
    assert len(_files(folder)) == 1
    _another_worker()
    counting.reset()
    again = stream_dataset(counting, curated, demo.CTD, settings=settings)["sea_water_density"].read()
    assert counting.reads == {}  # nothing read from the store: every window from the folder
    assert again.tobytes() == first.tobytes()
    # the worker keeps views of the mapped file, not copies in its heap
    kept = [shared_windows(2**24).get(k) for k in list(shared_windows(2**24)._lru._entries)]
    assert kept and all(_mapped(values) for values in kept)


def test_a_sub_range_cut_into_other_windows_is_a_hit_on_another_worker(own_store, curated, engine_settings):
    settings = _settings(engine_settings)
    counting = CountingStore(own_store)
    _another_worker()
    whole = stream_dataset(counting, curated, demo.CTD, settings=settings)["sea_water_practical_salinity"].read()
    for part in (slice(1000, 30001), slice(4095, 4097), slice(7, 40000, 13)):
        _another_worker()
        counting.reset()
        got = stream_dataset(counting, curated, demo.CTD, settings=settings)["sea_water_practical_salinity"].read(part)
        assert counting.reads == {}, part
        assert got.tobytes() == whole[part].tobytes()


def test_a_wider_read_on_another_worker_reuses_and_extends_a_groups_file(own_store, curated, engine_settings):
    """A sub-range computed first leaves its run of the group; a whole read on another worker
    reads that run, computes the rest and leaves the whole group for the next."""
    settings = _settings(engine_settings)
    counting = CountingStore(own_store)
    _another_worker()
    first = stream_dataset(counting, curated, demo.CTD, settings=settings)["sea_water_pressure"].read(slice(8192, 20000))
    assert 0 < counting.records[demo.CTD] < CTD_RECORDS
    _another_worker()
    counting.reset()
    whole = stream_dataset(counting, curated, demo.CTD, settings=settings)["sea_water_pressure"].read()
    assert whole[8192:20000].tobytes() == first.tobytes()
    assert 0 < counting.records[demo.CTD] < CTD_RECORDS  # the first run was not computed again
    _another_worker()
    counting = CountingStore(own_store)
    again = stream_dataset(counting, curated, demo.CTD, settings=settings)["sea_water_pressure"].read()
    assert counting.reads == {}
    assert again.tobytes() == whole.tobytes()


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
    first, mapped = shared.put(("k", 1), 5000, [values[:400], values[400:]])
    assert first == 5000 and mapped.tobytes() == values.tobytes() and _mapped(mapped)
    assert [p.name.startswith(".tmp-") for p in tmp_path.iterdir()] == [False]
    got = shared.get(("k", 1), 5100, 5300)
    assert got is not None and got.tobytes() == values[100:300].tobytes() and _mapped(got)
    assert SharedWindows(tmp_path, 10_000_000).get(("k", 1), 5000, 6000).tobytes() == values.tobytes()
    assert shared.get(("k", 1), 4999, 5300) is None  # not all there: computed
    assert shared.get(("k", 1), 5900, 6001) is None
    assert shared.get(("k", 2), 5000, 5001) is None
    shared.put(("k", 2), 0, [values])
    (path,) = set(_files(tmp_path)) - {shared._path(("k", 1))}
    for damage in (lambda b: b[:200], lambda b: b[:-4], lambda b: b"NOTMAGIC" + b[8:], lambda b: b[:12],
                   lambda b: b[:16] + b"[1, 2]".ljust(48) + b[64:], lambda b: b[:16] + b'{"a": 1}'.ljust(48) + b[64:]):
        data = path.read_bytes()
        path.write_bytes(damage(data))  # a damaged file (a disk that filled up, another program)
        assert SharedWindows(tmp_path, 10_000_000).get(("k", 2), 0, 10) is None
        assert not path.exists()
        path.write_bytes(data)
    assert shared.put(("s", 1), 0, [np.array(["a", "b"])]) is None  # strings are not shared
    assert SharedWindows(tmp_path, 10_000_000).get(("s", 1), 0, 2) is None


def test_runs_of_a_group_are_merged_when_they_touch(tmp_path):
    shared = SharedWindows(tmp_path, 10_000_000)
    values = np.arange(4000, dtype=np.float64).reshape(2000, 2)
    shared.put("g", 1000, [values[1000:1500]])
    first, mapped = shared.put("g", 1500, [values[1500:1700], values[1700:1800]])  # touching: the union
    assert first == 1000 and mapped.tobytes() == values[1000:1800].tobytes()
    first, mapped = shared.put("g", 500, [values[500:1200]])  # overlapping: the union
    assert first == 500 and mapped.tobytes() == values[500:1800].tobytes()
    assert shared.put("g", 1900, [values[1900:2000]]) is None  # disjoint and shorter: kept as it is
    other = SharedWindows(tmp_path, 10_000_000)
    assert other.get("g", 500, 1800).tobytes() == values[500:1800].tobytes()
    assert other.get("g", 1900, 1950) is None
    shared.put("g", 0, [values[:200], values[200:400]])  # disjoint: kept, the file holds 1,300
    assert other.get("g", 0, 10) is None
    assert len(_files(tmp_path)) == 1
    # a mapping stays whole when another process replaces or removes the file
    held = other.get("g", 500, 1800)
    for path in _files(tmp_path):
        path.unlink()
    assert held.tobytes() == values[500:1800].tobytes()
    assert SharedWindows(tmp_path, 10_000_000).get("g", 500, 600) is None


def test_bounded_least_recently_used_first_and_dead_writers_cleaned(tmp_path):
    window = np.zeros(25_000, dtype=np.float64)  # 200 kB
    shared = SharedWindows(tmp_path, 1_500_000)
    old = tmp_path / "0123.npy"  # a file of an earlier version of the folder: ages out as well
    old.write_bytes(b"x" * 200_000)
    os.utime(old, (time.time() - 200, time.time() - 200))
    for i in range(4):
        shared.put(("w", i), 0, [window])
        past = time.time() - 100 + i
        os.utime(next(p for p in _files(tmp_path) if p.stat().st_mtime > past + 50), (past, past))
    assert SharedWindows(tmp_path, 1_500_000).get(("w", 0), 0, len(window)) is not None  # now the most recent
    dead = tmp_path / ".tmp-dead.win"
    dead.write_bytes(b"partial")
    os.utime(dead, (time.time() - 3600, time.time() - 3600))
    for i in range(4, 8):
        shared.put(("w", i), 0, [window])
    shared.clean_up()
    assert shared.nbytes() <= 1_500_000
    assert not dead.exists() and not old.exists()
    fresh = SharedWindows(tmp_path, 1_500_000)
    assert fresh.get(("w", 0), 0, len(window)) is not None
    assert fresh.get(("w", 1), 0, len(window)) is None  # the least recently used went first
    assert shared.put(("w", 9), 0, [np.zeros(200_000)]) is None  # over the bound: not written


def test_a_file_holds_about_a_dap_block_of_values_whatever_the_dtype(tmp_path):
    disk = SharedWindows(tmp_path, 2**26)
    kept = KeptWindows(WindowCache(2**26), disk, ("version",), 65536, {"f8": 8, "f4": 4})
    windows = {dtype: [((i * 65536, (i + 1) * 65536), np.full(65536, i, dtype=dtype)) for i in range(16)]
               for dtype in ("f8", "f4")}
    kept.keep("f8", windows["f8"])
    assert disk.files_written == 2  # 8 windows of float64 per 4 MiB file
    kept.keep("f4", windows["f4"])
    assert disk.files_written == 3  # 16 of float32
    other = KeptWindows(WindowCache(2**26), SharedWindows(tmp_path, 2**26), ("version",), 65536, {"f8": 8, "f4": 4})
    for dtype, pairs in windows.items():
        for span, values in pairs:
            got = other.get(dtype, span)
            assert got is not None and _mapped(got) and got.tobytes() == values.tobytes()
    # windows of another size are not shared, even over the same records
    assert KeptWindows(WindowCache(2**26), disk, ("version",), 32768, {"f4": 4}).get("f4", (0, 32768)) is None
