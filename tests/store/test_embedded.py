"""The embedded (SQLite) store: the conformance suite plus multi-process and crash behaviour."""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import store_workers as workers
from store_suite import DAY, KEY, T0, StoreSuite, frame

from stream_engine.config import load_settings
from stream_engine.errors import ConfigError
from stream_engine.store import open_store
from stream_engine.store.base import IndexRange, TimeRange
from stream_engine.store.embedded import FILENAME, EmbeddedStore
from stream_engine.store.wrapper import LoggingStore

WORKERS = str(Path(workers.__file__))


class TestEmbeddedStore(StoreSuite):
    def make_store(self, tmp_path: Path) -> EmbeddedStore:
        return EmbeddedStore(tmp_path / "data")


class TestEmbeddedStoreTinyChunks(StoreSuite):
    """The same suite with 3-record chunks, so every path crosses chunk boundaries."""

    def make_store(self, tmp_path: Path) -> EmbeddedStore:
        return EmbeddedStore(tmp_path / "data", chunk_rows=3)


def test_registry_opens_the_configured_backend(tmp_path: Path) -> None:
    settings = load_settings(environ={"STREAM_ENGINE_DATA_DIR": str(tmp_path / "d")})
    with open_store(settings) as store:
        assert isinstance(store, EmbeddedStore)
        assert store.path == tmp_path / "d" / FILENAME
    cassandra = open_store(settings.replace(STORE="cassandra", CASSANDRA_KEYSPACE="elsewhere"))
    assert cassandra.backend == "cassandra" and cassandra.keyspace == "elsewhere"  # connects on first use
    with pytest.raises(ConfigError, match="STORE"):
        open_store(settings.replace(STORE="cassandra").__class__({**settings, "STORE": "other"}))


def test_columns_and_partitions_read_no_values(tmp_path: Path) -> None:
    with EmbeddedStore(tmp_path) as store:
        store.write(KEY, frame(T0 + np.arange(10.0), a=np.arange(10.0)), bin_seconds=DAY)
        parts, cols = store.partitions(KEY), store.columns(KEY)
    with sqlite3.connect(tmp_path / FILENAME) as raw:
        raw.execute("DELETE FROM chunk_data")
    with EmbeddedStore(tmp_path) as store:
        assert store.partitions(KEY) == parts and store.columns(KEY) == cols
        assert store.coverage(KEY).count == 10


def test_appends_fill_chunks_without_rewriting_full_ones(tmp_path: Path) -> None:
    with EmbeddedStore(tmp_path, chunk_rows=4) as store:
        for i in range(5):
            store.write(KEY, frame(T0 + np.arange(i * 3, i * 3 + 3.0)), bin_seconds=DAY)
        counts = [r[0] for r in store._conn().execute("SELECT count FROM chunks ORDER BY first_time")]
        assert counts == [4, 4, 4, 3]
        assert store.read(KEY, index_range=IndexRange(0, 15))["time"].tolist() == (T0 + np.arange(15.0)).tolist()


def test_threads_share_a_store(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path, chunk_rows=50)
    errors: list[BaseException] = []

    def reader() -> None:
        try:
            for _ in range(30):
                got = store.read(KEY, ["v"], time_range=TimeRange(T0, T0 + 1e9)) if store.streams() else None
                if got is not None:
                    assert len(got["time"]) % 100 == 0
                    np.testing.assert_array_equal(got["v"], got["time"] - T0)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    for i in range(20):
        times = T0 + np.arange(i * 100, (i + 1) * 100.0)
        store.write(KEY, frame(times, v=times - T0), bin_seconds=DAY)
    for t in threads:
        t.join()
    assert errors == []
    assert store.coverage(KEY).count == 2000
    store.close()


def _child_count(store: EmbeddedStore, queue: multiprocessing.Queue) -> None:
    store.write(KEY, frame([T0 + 100.0]), bin_seconds=DAY)
    queue.put(store.coverage(KEY).count)


def test_store_survives_fork(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path)
    store.write(KEY, frame([T0]), bin_seconds=DAY)
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_child_count, args=(store, queue))
    child.start()
    assert queue.get(timeout=20) == 2
    child.join(20)
    assert child.exitcode == 0
    assert store.coverage(KEY).count == 2
    store.close()


def test_reader_process_sees_only_committed_batches(tmp_path: Path) -> None:
    batches, size = 30, 500
    reader = subprocess.Popen(
        [sys.executable, WORKERS, "read", str(tmp_path), str(size), str(batches * size)],
        stdout=subprocess.PIPE, text=True,
    )
    assert reader.stdout.readline().strip() == "ready"
    writer = subprocess.run(
        [sys.executable, WORKERS, "write", str(tmp_path), str(batches), str(size), "0.01"],
        capture_output=True, text=True, timeout=60,
    )
    assert writer.returncode == 0, writer.stderr
    out, _ = reader.communicate(timeout=60)
    assert reader.returncode == 0, out
    _, reads, distinct = out.split()
    assert int(distinct) >= 2  # it did read while the writer was committing


def test_killed_writer_leaves_exactly_the_committed_batches(tmp_path: Path) -> None:
    size = 3000
    writer = subprocess.Popen(
        [sys.executable, WORKERS, "write", str(tmp_path), "100000", str(size), "0"],
        stdout=subprocess.PIPE, text=True,
    )
    printed = [writer.stdout.readline() for _ in range(4)]
    os.kill(writer.pid, signal.SIGKILL)
    # Through the same buffered reader: readline() may have read lines ahead, which
    # communicate() (reading the pipe's descriptor itself) would never see.
    with writer.stdout:
        rest = writer.stdout.read()
    writer.wait(timeout=20)
    committed = len(printed) + len(rest.split())
    assert writer.returncode == -signal.SIGKILL
    with sqlite3.connect(tmp_path / FILENAME) as raw:
        assert raw.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    with EmbeddedStore(tmp_path) as store:
        got = store.read(workers.KEY)
        assert workers.check(got, size) is None
        assert len(got["time"]) // size in (committed, committed + 1)
        assert store.coverage(workers.KEY).count == len(got["time"])


class TestLoggingWrapper(StoreSuite):
    """A delegating wrapper must not change behaviour."""

    def make_store(self, tmp_path: Path) -> LoggingStore:
        return LoggingStore(EmbeddedStore(tmp_path / "data"))


def test_logging_wrapper_logs_reads_and_writes(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="stream_engine.store"), LoggingStore(EmbeddedStore(tmp_path)) as store:
        store.write(KEY, frame([T0, T0 + 1]), bin_seconds=DAY)
        store.read(KEY)
    assert "2 inserted, 0 replaced, 1 bins" in caplog.text
    assert f"read {KEY}" in caplog.text and "2 records" in caplog.text


def test_many_small_appends_end_in_few_chunks(tmp_path: Path) -> None:
    with EmbeddedStore(tmp_path, chunk_rows=64) as store:
        for i in range(100):
            store.write(KEY, frame(T0 + np.arange(i * 3, i * 3 + 3.0), v=np.arange(3.0) + i * 3), bin_seconds=DAY)
        counts = [r[0] for r in store._conn().execute("SELECT count FROM chunks ORDER BY first_time")]
        assert sum(counts) == 300 and counts[:4] == [64, 64, 64, 64]
        assert len(counts) <= 4 + 7
        np.testing.assert_array_equal(store.read(KEY)["v"], np.arange(300.0))


def test_range_reads_touch_only_their_bins(tmp_path: Path) -> None:
    with EmbeddedStore(tmp_path, chunk_rows=10) as store:
        times = T0 + np.arange(0, 3 * DAY, 3600.0)
        store.write(KEY, frame(times, v=np.arange(72.0)), bin_seconds=DAY)
        store._conn().execute(
            "UPDATE chunk_data SET data = x'00' WHERE chunk_id IN (SELECT id FROM chunks WHERE bin != ?)",
            (int(T0 + DAY),),
        )
        got = store.read(KEY, ["v"], time_range=TimeRange(T0 + DAY + 1, T0 + 2 * DAY - 1))
        assert got["v"].tolist() == list(range(25, 48))
        assert store.read(KEY, ["v"], index_range=IndexRange(24, 48, 5))["v"].tolist() == list(range(24, 48, 5))
        with pytest.raises(ValueError):
            store.read(KEY, ["v"], index_range=IndexRange(23, 25))


def test_a_failed_write_gives_back_the_disk_its_wal_took(tmp_path: Path, monkeypatch) -> None:
    import stream_engine.store.embedded as embedded
    from stream_engine.errors import StoreUnavailable

    server = EmbeddedStore(tmp_path)  # another process's view: keeps the WAL file open
    server.write(KEY, frame([T0], v=[0.0]), bin_seconds=DAY)
    server.streams()
    writer = EmbeddedStore(tmp_path)
    original = embedded.write_bin
    calls = []

    def full_disk(*args, **kwargs):
        calls.append(1)
        if len(calls) > 3:  # a few bins written into the WAL, then the disk is full
            raise sqlite3.OperationalError("database or disk is full")
        return original(*args, **kwargs)

    monkeypatch.setattr(embedded, "write_bin", full_disk)
    n = 200_000
    big = frame(T0 + np.arange(n) * 2.0, v=np.random.default_rng(0).random(n))
    with pytest.raises(StoreUnavailable, match="full"):
        writer.write(KEY, big, bin_seconds=DAY)
    wal = tmp_path / (FILENAME + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0, f"the WAL still holds {wal.stat().st_size} bytes"
    assert server.coverage(KEY).count == 1  # and nothing of the failed write is visible
    writer.close()
    server.close()


def test_snapshot_reads_columns_through_its_layout_like_the_store(tmp_path: Path) -> None:
    """A snapshot finds chunks by its cached layout (bisection, BLOB rows kept): every index
    range, strided or not, across bins, chunk edges and the end, gives what the store reads."""
    with EmbeddedStore(tmp_path, chunk_rows=7) as store:
        times = T0 + np.arange(0, 2 * DAY, 3600.0)  # 48 records, 2 daily bins of 24: chunks 7,7,7,3
        store.write(KEY, frame(times, v=np.arange(48.0), w=np.arange(48, dtype=np.int32)), bin_seconds=DAY)
        store.write(KEY, frame(T0 + np.arange(2 * DAY, 2 * DAY + 5.0), v=np.arange(48.0, 53.0)), bin_seconds=DAY)
        n = 53
        ranges = [IndexRange(a, b, s) for a in (0, 3, 7, 20, 24, 47) for b in (a + 1, 24, 30, n) for s in (1, 2, 5)
                  if b > a]
        with store.snapshot() as view:
            for r in ranges:
                want = store.read_columns(KEY, ["v", "w", "time"], index_range=r)
                got = view.read_columns(KEY, ["v", "w", "time"], index_range=r)
                for name in ("v", "w", "time"):
                    np.testing.assert_array_equal(got[name], want[name], err_msg=f"{name} {r}")
                assert got["v"].tolist() == list(np.arange(53.0)[r.start : r.stop : r.step])
            # the chunk written last has no "w" BLOB: fill, as the store gives
            assert view.read_columns(KEY, ["w"], index_range=IndexRange(46, 53))["w"].tolist() == \
                store.read_columns(KEY, ["w"], index_range=IndexRange(46, 53))["w"].tolist()
            assert view.read_columns(KEY, ["v"], index_range=IndexRange(60, 70))["v"].size == 0
            with pytest.raises(Exception, match="no column 'nope'"):
                view.read_columns(KEY, ["nope"], index_range=IndexRange(0, 1))


def _mapped(store: EmbeddedStore) -> bool:
    """Whether this process maps the store's file now (its lines in ``/proc/self/maps``)."""
    with open("/proc/self/maps") as maps:
        return any(line.rstrip().endswith(str(store.path.resolve())) for line in maps)


@pytest.mark.skipif(not os.path.exists("/proc/self/maps"), reason="needs /proc/self/maps")
def test_snapshot_maps_the_file_only_while_it_reads_values(tmp_path: Path, monkeypatch) -> None:
    """A snapshot reads values through a memory mapping of the file: made at its first value
    read (metadata reads map nothing), dropped every ``MAPPED_VALUES_BYTES`` of values and when
    the snapshot ends, so the file does not stay in the process's resident set; values are the
    store's own. A store configured to map its file (``mmap_bytes``) keeps its mapping."""
    from stream_engine.store import embedded_reads

    with EmbeddedStore(tmp_path, chunk_rows=7) as store:
        times = T0 + np.arange(0, 2 * DAY, 3600.0)
        store.write(KEY, frame(times, v=np.arange(48.0), w=np.arange(48, dtype=np.int32)), bin_seconds=DAY)
    # reopened: the last connection closed moved the pages into the file (pages SQLite still
    # finds in the write-ahead log are read from there, mapped or not)
    with EmbeddedStore(tmp_path, chunk_rows=7) as store:
        want = store.read_columns(KEY, ["v", "w"], index_range=IndexRange(0, 48))
        with store.snapshot() as view:
            view.partitions(KEY)
            view.columns(KEY)
            assert not _mapped(store)
            got = view.read_columns(KEY, ["v", "w"], index_range=IndexRange(0, 48))
            assert _mapped(store)
        assert not _mapped(store)
        for name in ("v", "w"):
            np.testing.assert_array_equal(got[name], want[name])
        monkeypatch.setattr(embedded_reads, "MAPPED_VALUES_BYTES", 100)
        with store.snapshot() as view:
            small = view.read_columns(KEY, ["v"], index_range=IndexRange(0, 3))  # 24 bytes: kept
            assert _mapped(store)
            pieces = view.read_column_pieces(KEY, ["v", "w"], index_range=IndexRange(3, 48))  # 540: dropped
            assert not _mapped(store)
            again = view.read(KEY, ["v"], index_range=IndexRange(0, 48))  # mapped again, then dropped
            assert not _mapped(store)
            np.testing.assert_array_equal(small["v"], want["v"][:3])
            np.testing.assert_array_equal(np.concatenate([p["w"] for p in pieces]), want["w"][3:])
            np.testing.assert_array_equal(again["v"], want["v"])
    with EmbeddedStore(tmp_path, mmap_bytes=2**20) as mapping:
        with mapping.snapshot() as view:
            np.testing.assert_array_equal(view.read_columns(KEY, ["v"], index_range=IndexRange(0, 48))["v"], want["v"])
            assert _mapped(mapping)
        assert _mapped(mapping)  # its own connections keep the mapping they were made with


def test_snapshot_reads_column_pieces_that_join_to_its_columns(tmp_path: Path) -> None:
    """``read_column_pieces``: one piece per chunk (strided or not, across bins, chunk edges,
    a chunk without a column's BLOB, 2-D values narrower than the column, strings), every
    column of a piece of one length, joined they are ``read_columns``'s values; no piece is
    given twice or left out."""
    with EmbeddedStore(tmp_path, chunk_rows=7) as store:
        times = T0 + np.arange(0, 2 * DAY, 3600.0)  # 48 records, 2 daily bins of 24: chunks 7,7,7,3
        store.write(KEY, frame(times, v=np.arange(48.0), w=np.arange(48, dtype=np.int32),
                               s=np.array([f"r{i}" for i in range(48)]),
                               m=np.arange(96.0).reshape(48, 2)), bin_seconds=DAY)
        store.write(KEY, frame(T0 + np.arange(2 * DAY, 2 * DAY + 5.0), v=np.arange(48.0, 53.0),
                               m=np.ones((5, 1))), bin_seconds=DAY)
        names = ["v", "w", "time", "s", "m"]
        ranges = [IndexRange(a, b, s) for a in (0, 3, 7, 20, 24, 47) for b in (a + 1, 24, 30, 53) for s in (1, 2, 5)
                  if b > a]
        with store.snapshot() as view:
            for r in ranges:
                want = view.read_columns(KEY, names, index_range=r)
                pieces = view.read_column_pieces(KEY, names, index_range=r)
                assert 1 <= len(pieces) <= 9  # chunks of 7, 7, 7, 3 in each bin, then 5
                for piece in pieces:
                    assert list(piece) == names and len({len(a) for a in piece.values()}) == 1
                for name in names:
                    joined = np.concatenate([piece[name] for piece in pieces])
                    assert joined.dtype == want[name].dtype
                    np.testing.assert_array_equal(joined, want[name], err_msg=f"{name} {r}")
            assert view.read_column_pieces(KEY, ["v"], index_range=IndexRange(60, 70)) == []
            with pytest.raises(Exception, match="no column 'nope'"):
                view.read_column_pieces(KEY, ["nope"], index_range=IndexRange(0, 1))
        # a store without a snapshot's layout: one piece, its read_columns
        whole = store.read_column_pieces(KEY, names, index_range=IndexRange(2, 40))
        assert len(whole) == 1
        np.testing.assert_array_equal(whole[0]["m"], store.read_columns(KEY, ["m"], index_range=IndexRange(2, 40))["m"])


def _chunk_rows(store: EmbeddedStore) -> list[tuple[int, int, int, int, int | None]]:
    """``(count, first_dep, last_dep, one_dep)`` of every chunk, in stream order, read raw."""
    with sqlite3.connect(store.path) as conn:
        return conn.execute("SELECT count, first_dep, last_dep, one_dep FROM chunks "
                            "ORDER BY bin, first_time, first_dep").fetchall()


def _one_deployment_records() -> dict[str, np.ndarray]:
    """21 records in chunks of 7: all deployment 1; 1, 1, 2, 2, 1, 1, 1 (first and last numbers
    equal, another between); all deployment 0 (found by time)."""
    deployment = np.array([1] * 7 + [1, 1, 2, 2, 1, 1, 1] + [0] * 7, dtype=np.int32)
    return {"time": T0 + np.arange(21.0), "deployment": deployment, "v": np.arange(21.0)}


def test_chunks_of_one_deployment_give_its_number_without_reading_it(tmp_path: Path) -> None:
    """A chunk whose records all hold one deployment number says so (``one_dep``); a snapshot's
    pieces give that chunk's ``deployment`` as the number repeated (a stride-0 view: its BLOB is
    not read), every other chunk's as stored, and joined they are what the store reads: a chunk
    whose first and last numbers agree but not the ones between is read."""
    with EmbeddedStore(tmp_path, chunk_rows=7) as store:
        records = _one_deployment_records()
        store.write(KEY, records, bin_seconds=DAY)
        assert _chunk_rows(store) == [(7, 1, 1, 1), (7, 1, 1, 0), (7, 0, 0, 1)]
        with store.snapshot() as view:
            for r in (IndexRange(0, 21), IndexRange(3, 19, 2), IndexRange(9, 12)):
                pieces = view.read_column_pieces(KEY, ["deployment", "v"], index_range=r)
                joined = np.concatenate([piece["deployment"] for piece in pieces])
                assert joined.dtype == np.int32
                assert joined.tolist() == records["deployment"][r.start:r.stop:r.step].tolist()
                np.testing.assert_array_equal(joined, store.read_columns(KEY, ["deployment"], index_range=r)["deployment"])
                chunks = [(r.start + k) // 7 for k in range(0, r.stop - r.start, r.step)]
                assert [piece["deployment"].strides == (0,) for piece in pieces if len(piece["deployment"]) > 1] == \
                    [c != 1 for c in dict.fromkeys(chunks) if chunks.count(c) > 1]
                for piece in pieces:
                    assert not piece["deployment"].flags.writeable


def test_a_store_of_the_previous_format_is_read_as_stored(tmp_path: Path) -> None:
    """A file written before chunks kept ``one_dep`` is upgraded in place: its chunks' numbers
    are not known (``NULL``), so they are read from the BLOBs; chunks written afterwards know."""
    with EmbeddedStore(tmp_path, chunk_rows=7) as store:
        store.write(KEY, _one_deployment_records(), bin_seconds=DAY)
        path = store.path
    with sqlite3.connect(path) as conn:  # back to format 3, as an older Stream Engine left it
        conn.execute("ALTER TABLE chunks DROP COLUMN one_dep")
        conn.execute("PRAGMA user_version = 3")
    with EmbeddedStore(tmp_path, chunk_rows=7) as store:
        assert store.partitions(KEY)  # opened: upgraded
        assert [row[3] for row in _chunk_rows(store)] == [None, None, None]
        with store.snapshot() as view:
            pieces = view.read_column_pieces(KEY, ["deployment"], index_range=IndexRange(0, 21))
            assert all(piece["deployment"].strides == (4,) for piece in pieces)
            assert np.concatenate([p["deployment"] for p in pieces]).tolist() == \
                _one_deployment_records()["deployment"].tolist()
        store.write(KEY, frame(T0 + DAY + np.arange(3.0), deployment=2, v=np.zeros(3)), bin_seconds=DAY)
        assert _chunk_rows(store)[-1] == (3, 2, 2, 1)
