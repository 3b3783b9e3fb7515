"""Helper processes for the embedded store's multi-process tests (run as a script, not collected).

``write DIR BATCHES SIZE PAUSE``  writes ``BATCHES`` batches of ``SIZE`` records, printing the
batch number after each commit. ``read DIR SIZE TOTAL``  reads the whole stream in a loop until it
holds ``TOTAL`` records, checking every snapshot; prints ``ok <reads> <distinct counts>``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from stream_engine.store.base import StreamKey  # noqa: E402
from stream_engine.store.embedded import EmbeddedStore  # noqa: E402

KEY = StreamKey("RS01SBPS", "SF01A", "2A-CTDPFA102", "streamed", "ctdpf_sbe43_sample")
T0 = 3_913_056_000.0
BIN_SECONDS = 300
CHUNK_ROWS = 256


def batch(i: int, size: int) -> dict[str, np.ndarray]:
    """Batch ``i``: records ``i*size .. (i+1)*size-1``, one second apart, spanning several bins."""
    index = np.arange(i * size, (i + 1) * size)
    return {
        "time": T0 + index.astype(np.float64),
        "deployment": np.ones(size, dtype=np.int32),
        "v": index * 2.0,
        "label": np.array([f"#{k}" for k in index.tolist()], dtype=object),
    }


def check(got: dict[str, np.ndarray], size: int) -> str | None:
    """Why a snapshot is inconsistent, or None."""
    n = len(got["time"])
    index = np.arange(n)
    if n % size:
        return f"count {n} is not a multiple of the batch size {size}"
    if not np.array_equal(got["time"], T0 + index):
        return "times are not the committed batches in order"
    if not np.array_equal(got["v"], index * 2.0):
        return "values do not match their times"
    if n and (got["label"][0] != "#0" or got["label"][-1] != f"#{n - 1}"):
        return "labels do not match their times"
    return None


def write(folder: str, batches: int, size: int, pause: float) -> None:
    store = EmbeddedStore(folder, chunk_rows=CHUNK_ROWS)
    for i in range(batches):
        store.write(KEY, batch(i, size), bin_seconds=BIN_SECONDS)
        print(i, flush=True)
        if pause:
            time.sleep(pause)


def read(folder: str, size: int, total: int) -> None:
    store = EmbeddedStore(folder, chunk_rows=CHUNK_ROWS)
    store.streams()
    print("ready", flush=True)
    seen, reads, deadline = set(), 0, time.monotonic() + 60
    while time.monotonic() < deadline:
        got = store.read(KEY) if store.streams() else {"time": np.empty(0), "v": np.empty(0), "label": []}
        reads += 1
        problem = check(got, size)
        if problem:
            print(f"inconsistent: {problem}", flush=True)
            sys.exit(1)
        seen.add(len(got["time"]))
        if len(got["time"]) == total:
            print(f"ok {reads} {len(seen)}", flush=True)
            return
    print(f"timeout after {reads} reads; counts seen {sorted(seen)}", flush=True)
    sys.exit(1)


if __name__ == "__main__":
    mode, folder, *rest = sys.argv[1:]
    if mode == "write":
        write(folder, int(rest[0]), int(rest[1]), float(rest[2]))
    else:
        read(folder, int(rest[0]), int(rest[1]))
