"""The Cassandra part of benchmarks/store.py: the same records on a real Cassandra node, and a cold
DAP ``.dods`` served from Cassandra beside the one served from the embedded store.

The node is one given with ``--cassandra HOST:PORT``, or one started for the run with
``tools/cassandra/start.sh`` in a temporary folder (stopped afterwards by its pid file).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from stream_engine.store.base import StreamKey, TimeRange  # noqa: E402
from stream_engine.store.cassandra import CassandraStore  # noqa: E402
from stream_engine.store.cassandra_session import CassandraConnection  # noqa: E402

Row = tuple[str, str]


@contextmanager
def cassandra_node(given: str | None) -> Iterator[tuple[str, int, str]]:
    """``(host, port, what)`` of the node to use: the one given, or one started (and stopped)
    here - with a 2 GB heap and the normal JIT when the machine has the memory (the test nodes use
    384-512 MB and C1 only, to start fast)."""
    if given:
        host, _, port = given.rpartition(":")
        yield host, int(port), f"given node {given}"
        return
    folder = Path(tempfile.mkdtemp(prefix="se-bench-cassandra-"))
    big = _available_bytes() > 8 * 2**30
    heap, c1 = ("2G", "0") if big else ("512M", "1")
    env = {**os.environ, "CASS_DIR": str(folder / "node1"), "CASS_PORT": "0", "CASS_JMX_PORT": "",
           "CASS_STORAGE_PORT": str(_free_port()), "CASS_HEAP": heap, "CASS_C1_ONLY": c1}
    done = subprocess.run([str(ROOT / "tools/cassandra/start.sh")], env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"could not start Cassandra: {done.stderr[-800:]}")
    try:
        yield "127.0.0.1", int(done.stdout.split()[-1]), f"one node started here, heap {heap}, {'C1 only' if c1 == '1' else 'full JIT'}"
    finally:
        subprocess.run([str(ROOT / "tools/cassandra/stop.sh"), "--clean"], env=env, capture_output=True, check=False)


def _available_bytes() -> int:
    with open("/proc/meminfo") as info:
        for line in info:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 0


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def store_on(host: str, port: int, keyspace: str, *, rows: str = "background") -> CassandraStore:
    conn = CassandraConnection([f"{host}:{port}"], port, keyspace=keyspace, consistency="ONE", protocol_version=5)
    return CassandraStore(conn, rows=rows)


def _ingest(store: CassandraStore, key: StreamKey, data: dict[str, np.ndarray], batch: int) -> float:
    t = time.perf_counter()
    for lo in range(0, len(data["time"]), batch):
        store.write(key, {k: v[lo : lo + batch] for k, v in data.items()}, bin_seconds=86400)
    return time.perf_counter() - t


def _drop(store: CassandraStore) -> None:
    store.conn.session().execute(f"DROP KEYSPACE {store.keyspace}", timeout=300)


def _forget_time_index(store: CassandraStore, key: StreamKey) -> None:
    """Blank the time index of every bin's marker cell (chunk versions written before it)."""
    from stream_engine.store.cassandra_chunks import CHUNK_TABLE, MARKER

    session = store.conn.session()
    for state in store.bin_states(key):
        session.execute(f"UPDATE {store.keyspace}.{CHUNK_TABLE} SET data=0x WHERE subsite=%s AND node=%s AND "
                        "sensor=%s AND method=%s AND stream=%s AND bin=%s AND version=%s AND name=%s AND chunk=0",
                        (key.subsite, key.node, key.sensor, key.method, key.stream, state.bin, state.version, MARKER))


def rates(n: int, data: dict[str, np.ndarray], key: StreamKey, host: str, port: int,
          embedded: dict[str, float], rate: Callable[[int, float], str],
          best_of: Callable[..., tuple[float, object]], batch: int) -> list[Row]:
    """Ingest in each ``CASSANDRA_ROWS`` mode, the background row deriver catching up, full read
    and 1% time-range read of ``data`` on Cassandra, with ratios to embedded."""
    rows: list[Row] = []
    keyspace = f"bench_{os.getpid()}"
    with store_on(host, port, keyspace, rows="off") as store:
        store.ensure_schema()
        w = _ingest(store, key, data, batch)
        rows.append((f"(e) cassandra ingest {n:,} x {len(data)} cols, chunks only (rows 'off', nothing deriving)",
                     rate(n, w)))
        rows.append(("    ingest ratio cassandra/embedded", f"{embedded['ingest'] / w:8.3f} x"))
        r, got = best_of(lambda: store.read(key))
        assert all(np.array_equal(got[k], data[k]) for k in data), "cassandra read differs"  # type: ignore[index]
        rows.append((f"(e) cassandra full read, {len(store.partitions(key))} bins  [target >= 200,000 rec/s]", rate(n, r)))
        rows.append(("    read ratio cassandra/embedded", f"{embedded['read'] / r:8.3f} x"))
        mid = n // 2
        window = TimeRange(float(data["time"][mid]), float(data["time"][mid + n // 100]))
        r_tr, got = best_of(lambda: store.read(key, ["p0", "p1"], time_range=window), repeat=5)
        assert len(got["time"]) == n // 100  # type: ignore[index]
        rows.append(("(e) cassandra 1% time-range read (2 columns)", rate(n // 100, r_tr)))
        rows.append(("    time-range ratio cassandra/embedded", f"{embedded['range'] / r_tr:8.3f} x"))
        _forget_time_index(store, key)  # as versions written before the index: whole bins fetched
        r_whole, got = best_of(lambda: store.read(key, ["p0", "p1"], time_range=window), repeat=5)
        assert len(got["time"]) == n // 100  # type: ignore[index]
        rows.append(("(e) the same 1% read fetching whole bins (no time index in the bins)", rate(n // 100, r_whole)))
        rows.append(("    cells needed only / whole bins", f"{r_tr / r_whole:8.3f} x the time"))
        _drop(store)
    rows += _background(n, data, key, host, port, keyspace, embedded, rate, batch)
    with store_on(host, port, keyspace, rows="with-ingest") as store:
        store.ensure_schema()
        w = _ingest(store, key, data, batch)
        rows.append((f"(e) cassandra ingest {n:,}, chunks and OOI rows in the same write (rows 'with-ingest')",
                     rate(n, w)))
        rows.append(("    ingest ratio cassandra/embedded", f"{embedded['ingest'] / w:8.3f} x"))
        _drop(store)
    return rows


def _background(n: int, data: dict[str, np.ndarray], key: StreamKey, host: str, port: int, keyspace: str,
                embedded: dict[str, float], rate: Callable[[int, float], str], batch: int) -> list[Row]:
    """The default: ingest with a server's row deriver running (its default settings, its own
    connection), until the data is visible and durable; then until the OOI rows caught up."""
    from stream_engine.config import load_settings
    from stream_engine.store.cassandra_deriver import RowDeriver
    from stream_engine.store.cassandra_rows import pending_bins

    settings = load_settings(environ={})
    with store_on(host, port, keyspace) as store, store_on(host, port, keyspace) as own:
        store.ensure_schema()
        deriver = RowDeriver(own, batch=settings.CASSANDRA_ROWS_BATCH, pause=settings.CASSANDRA_ROWS_PAUSE,
                             lease_seconds=settings.CASSANDRA_ROWS_LEASE_SECONDS,
                             poll_seconds=settings.CASSANDRA_ROWS_POLL_SECONDS)
        deriver.start()
        t0 = time.perf_counter()
        w = _ingest(store, key, data, batch)
        while pending_bins(store):
            time.sleep(0.2)
        caught_up = time.perf_counter() - t0
        deriver.stop()
        written = deriver.rows_written
        _drop(store)
    return [
        (f"(e) cassandra ingest {n:,}, DEFAULT (rows 'background', a server's deriver running): until visible "
         "and durable  [target >= 30,000 rec/s]", rate(n, w)),
        ("    ingest ratio cassandra/embedded", f"{embedded['ingest'] / w:8.3f} x"),
        (f"(e) then the OOI rows caught up {caught_up - w:.1f} s after the ingest returned ({caught_up:.1f} s from "
         f"its start; deriver pause {settings.CASSANDRA_ROWS_PAUSE} x its turn time)", rate(written, caught_up)),
    ]


def cold_dods(host: str, port: int, work: Path) -> list[Row]:
    """One cold ``.dods`` of the demo CTD (every variable) from a fresh server on each backend."""
    from stream_engine.config import load_settings
    from stream_engine.demo import CTD, OPTODE, fill_demo
    from stream_engine.preload import default_preload
    from stream_engine.store.cassandra_admin import apply_schema
    from stream_engine.store.embedded import EmbeddedStore

    preload = default_preload(load_settings(environ={}))
    keyspace = f"bench_dap_{os.getpid()}"
    with EmbeddedStore(work / "dap-embedded") as store:
        fill_demo(store, preload)
    with store_on(host, port, keyspace, rows="off") as store:
        apply_schema(store, preload)
        fill_demo(store, preload)
        count = store.coverage(CTD).count  # type: ignore[union-attr]
    cassandra_env = {"STREAM_ENGINE_STORE": "cassandra", "STREAM_ENGINE_CASSANDRA_HOSTS": f"{host}:{port}",
                     "STREAM_ENGINE_CASSANDRA_PORT": str(port), "STREAM_ENGINE_CASSANDRA_KEYSPACE": keyspace,
                     "STREAM_ENGINE_CASSANDRA_CONSISTENCY": "ONE",
                     "STREAM_ENGINE_CASSANDRA_ROWS": "off"}  # no row deriver working during the measurement
    timings: dict[str, tuple[float, float]] = {}
    for name, env in (("embedded", {}), ("cassandra", cassandra_env)):
        timings[name], size = _cold_dods_pair(work / f"dap-{name}", env, f"/dap/{CTD.path}.dods",
                                              f"/dap/{OPTODE.path}.dods")
    with store_on(host, port, keyspace) as store:
        _drop(store)
    (emb_first, emb_cold), (cas_first, cas_cold) = timings["embedded"], timings["cassandra"]
    return [
        (f"(f) cold .dods of the demo CTD ({count:,} records, {size / 1e6:.1f} MB), fresh server, embedded",
         f"{emb_first * 1000:8.1f} ms"),
        ("(f) the same from cassandra (includes connecting to the cluster)", f"{cas_first * 1000:8.1f} ms"),
        ("    cold .dods time cassandra/embedded, fresh server", f"{cas_first / emb_first:8.2f} x"),
        ("(f) cold .dods of the demo CTD after another stream's (server warm, nothing cached), embedded",
         f"{emb_cold * 1000:8.1f} ms"),
        ("(f) the same from cassandra", f"{cas_cold * 1000:8.1f} ms"),
        ("    cold .dods time cassandra/embedded, warm server", f"{cas_cold / emb_cold:8.2f} x"),
    ]


def _cold_dods_pair(folder: Path, env: dict[str, str], path: str, other: str) -> tuple[tuple[float, float], int]:
    """``path`` as the first request of a fresh server, then (another fresh server) after
    ``other``: the cold figure without the server's own start-up (connections, schema)."""
    first, size = _one_cold_dods(folder, env, path)
    warm, _ = _one_cold_dods(folder, env, path, before=other)
    return (first, warm), size


def _one_cold_dods(folder: Path, env: dict[str, str], path: str, before: str | None = None) -> tuple[float, int]:
    port = _free_port()
    folder.mkdir(parents=True, exist_ok=True)
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("STREAM_ENGINE_")}
    full_env.update(STREAM_ENGINE_DATA_DIR=str(folder), STREAM_ENGINE_LOG_DIR=str(folder / "logs"),
                    STREAM_ENGINE_WORKERS="1", **env)
    command = [str(Path(sys.executable).parent / "stream-engine"), "serve", "--bind", f"127.0.0.1:{port}"]
    server = subprocess.Popen(command, env=full_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/version", timeout=2).read()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit(f"server on {env or 'embedded'} did not start") from None
                time.sleep(0.2)
        if before is not None:
            urllib.request.urlopen(f"http://127.0.0.1:{port}{before}", timeout=600).read()
        t = time.perf_counter()
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=600).read()
        return time.perf_counter() - t, len(body)
    finally:
        server.terminate()
        server.wait(timeout=60)
