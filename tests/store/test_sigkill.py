"""SIGKILL at 100 random points across writes, overwrites and asset loads: nothing committed is
lost, nothing is duplicated, the file stays sound.

Each round forks a writer (fast: the test process has everything imported) that appends batches,
rewrites the previous batch (an overlapping upsert with the same values) and replaces the asset
events of a reference designator, reporting each commit on a pipe; the test kills it at a random
moment and checks the store against what was reported.
"""

from __future__ import annotations

import os
import random
import select
import signal
import sqlite3
import time
from pathlib import Path

import numpy as np

from stream_engine.store.base import StreamKey
from stream_engine.store.embedded import FILENAME, EmbeddedStore

KEY = StreamKey("CE01ISSM", "MFD37", "03-CTDBPC000", "recovered_host", "ctdbp_cdef_dcl_instrument")
REFDES = KEY.refdes
T0 = 3_913_056_000.0
SIZE = 1500
BIN_SECONDS = 600
KILLS = 100


def _batch(i: int) -> dict[str, np.ndarray]:
    index = np.arange(i * SIZE, (i + 1) * SIZE)
    return {"time": T0 + index.astype(np.float64), "deployment": np.ones(SIZE, np.int32),
            "v": index * 0.5, "n": index.astype(np.int64)}


def _writer(folder: Path, start: int, assets_from: int, report: int) -> None:
    """The child: write until killed, one line per commit on ``report``."""
    store = EmbeddedStore(folder, chunk_rows=512)
    store.streams()  # the file exists before the first kill can come
    os.write(report, b"ready\n")
    i, a = start, assets_from
    while True:
        store.write(KEY, _batch(i), bin_seconds=BIN_SECONDS)
        os.write(report, f"batch {i}\n".encode())
        if i:
            store.write(KEY, _batch(i - 1), bin_seconds=BIN_SECONDS)
        a += 1
        store.put_asset_events(REFDES, [{"deploymentNumber": 1, "version": a}])
        os.write(report, f"assets {a}\n".encode())
        i += 1


def _fork_writer(folder: Path, start: int, assets_from: int) -> tuple[int, int]:
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(read_end)
        try:
            _writer(folder, start, assets_from, write_end)
        finally:
            os._exit(0)
    os.close(write_end)
    return pid, read_end


def _read_all(fd: int) -> list[str]:
    chunks = []
    while True:
        data = os.read(fd, 65536)
        if not data:
            break
        chunks.append(data)
    os.close(fd)
    return b"".join(chunks).decode().split()


def test_sigkill_at_random_points_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    rng = random.Random(20261129)
    folder = tmp_path / "data"
    batches = assets = 0
    for _ in range(KILLS):
        pid, fd = _fork_writer(folder, batches, assets)
        ready, _, _ = select.select([fd], [], [], 30)
        assert ready, "the writer did not start"
        assert os.read(fd, 6) == b"ready\n"
        time.sleep(rng.uniform(0.0, 0.04))
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
        words = _read_all(fd)
        reported_batches = [int(w) for k, w in zip(words[::2], words[1::2], strict=True) if k == "batch"]
        reported_assets = [int(w) for k, w in zip(words[::2], words[1::2], strict=True) if k == "assets"]
        committed = (reported_batches[-1] + 1) if reported_batches else batches
        with sqlite3.connect(folder / FILENAME) as raw:
            assert raw.execute("PRAGMA quick_check").fetchall() == [("ok",)]
        with EmbeddedStore(folder) as store:
            got = store.read(KEY) if store.coverage(KEY) else {"time": np.empty(0), "v": np.empty(0),
                                                                "n": np.empty(0, np.int64)}
            n = len(got["time"])
            assert n % SIZE == 0, f"a partial batch is visible: {n} records"
            assert n // SIZE in (committed, committed + 1), (n // SIZE, committed)
            index = np.arange(n)
            np.testing.assert_array_equal(got["time"], T0 + index)  # no gap, no duplicate
            np.testing.assert_array_equal(got["v"], index * 0.5)
            np.testing.assert_array_equal(got["n"], index)
            assert sum(p.count for p in store.partitions(KEY)) == n
            events = store.asset_events(REFDES)
            last = reported_assets[-1] if reported_assets else assets
            if events:
                assert events[0]["version"] in (last, last + 1)
            else:
                assert last == 0
            batches = n // SIZE
            assets = events[0]["version"] if events else 0
    assert batches > 10, "the writer committed too little for the kills to mean much"
