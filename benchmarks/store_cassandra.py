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
def cassandra_node(given: str | None) -> Iterator[tuple[str, int]]:
    """``(host, port)`` of the node to use: the one given, or one started (and stopped) here."""
    if given:
        host, _, port = given.rpartition(":")
        yield host, int(port)
        return
    folder = Path(tempfile.mkdtemp(prefix="se-bench-cassandra-"))
    env = {**os.environ, "CASS_DIR": str(folder / "node1"), "CASS_PORT": "0", "CASS_JMX_PORT": "",
           "CASS_STORAGE_PORT": str(_free_port())}
    done = subprocess.run([str(ROOT / "tools/cassandra/start.sh")], env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"could not start Cassandra: {done.stderr[-800:]}")
    try:
        yield "127.0.0.1", int(done.stdout.split()[-1])
    finally:
        subprocess.run([str(ROOT / "tools/cassandra/stop.sh"), "--clean"], env=env, capture_output=True, check=False)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def store_on(host: str, port: int, keyspace: str) -> CassandraStore:
    conn = CassandraConnection([f"{host}:{port}"], port, keyspace=keyspace, consistency="ONE", protocol_version=5)
    return CassandraStore(conn)


def rates(n: int, data: dict[str, np.ndarray], key: StreamKey, host: str, port: int,
          embedded: dict[str, float], rate: Callable[[int, float], str],
          best_of: Callable[..., tuple[float, object]], batch: int) -> list[Row]:
    """Ingest, full read and 1% time-range read of ``data`` on Cassandra, with ratios to embedded."""
    rows: list[Row] = []
    keyspace = f"bench_{os.getpid()}"
    with store_on(host, port, keyspace) as store:
        store.ensure_schema()
        t = time.perf_counter()
        for lo in range(0, n, batch):
            store.write(key, {k: v[lo : lo + batch] for k, v in data.items()}, bin_seconds=86400)
        w = time.perf_counter() - t
        rows.append((f"(e) cassandra ingest {n:,} x {len(data)} cols  [target >= 30,000 rec/s]", rate(n, w)))
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
        store.conn.session().execute(f"DROP KEYSPACE {keyspace}", timeout=300)
    return rows


def cold_dods(host: str, port: int, work: Path) -> list[Row]:
    """One cold ``.dods`` of the demo CTD (every variable) from a fresh server on each backend."""
    from stream_engine.config import load_settings
    from stream_engine.demo import CTD, fill_demo
    from stream_engine.preload import default_preload
    from stream_engine.store.cassandra_admin import apply_schema
    from stream_engine.store.embedded import EmbeddedStore

    preload = default_preload(load_settings(environ={}))
    keyspace = f"bench_dap_{os.getpid()}"
    with EmbeddedStore(work / "dap-embedded") as store:
        fill_demo(store, preload)
    with store_on(host, port, keyspace) as store:
        apply_schema(store, preload)
        fill_demo(store, preload)
        count = store.coverage(CTD).count  # type: ignore[union-attr]
    cassandra_env = {"STREAM_ENGINE_STORE": "cassandra", "STREAM_ENGINE_CASSANDRA_HOSTS": f"{host}:{port}",
                     "STREAM_ENGINE_CASSANDRA_PORT": str(port), "STREAM_ENGINE_CASSANDRA_KEYSPACE": keyspace,
                     "STREAM_ENGINE_CASSANDRA_CONSISTENCY": "ONE"}
    timings = {}
    for name, env in (("embedded", {}), ("cassandra", cassandra_env)):
        timings[name], size = _one_cold_dods(work / f"dap-{name}", env, f"/dap/{CTD.path}.dods")
    with store_on(host, port, keyspace) as store:
        store.conn.session().execute(f"DROP KEYSPACE {keyspace}", timeout=300)
    return [
        (f"(f) cold .dods of the demo CTD ({count:,} records, {size / 1e6:.1f} MB), embedded", f"{timings['embedded'] * 1000:8.1f} ms"),
        ("(f) the same from cassandra", f"{timings['cassandra'] * 1000:8.1f} ms"),
        ("    cold .dods time cassandra/embedded", f"{timings['cassandra'] / timings['embedded']:8.2f} x"),
    ]


def _one_cold_dods(folder: Path, env: dict[str, str], path: str) -> tuple[float, int]:
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
        t = time.perf_counter()
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=600).read()
        return time.perf_counter() - t, len(body)
    finally:
        server.terminate()
        server.wait(timeout=60)
