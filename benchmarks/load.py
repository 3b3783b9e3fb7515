"""Load on a real server: many clients, keep-alive and not, stalled readers, /health under load.

Usage (from the repository root)::

    .venv/bin/python benchmarks/load.py                # 5 minutes of load (+ a 60 s baseline)
    .venv/bin/python benchmarks/load.py --seconds 40   # quick look

One run: the demo store in a work folder, ``stream-engine serve`` with the default settings
(2 workers) on a free loopback port. Two phases with the same 64 clients (half keep-alive, half a
new connection per request), each from its own loopback address, mixing ``.dds``, ``.das``, small
and large ``.dods``:

1. baseline: the clients alone;
2. load: the clients plus 12 stalled readers (each asks for a large ``.dods`` and never reads;
   when the server drops it, it asks again), for ``--seconds``.

Reported: errors (must be 0), requests/s and p50/p99 latency per kind and phase with the ratio
load/baseline; ``/health`` latency (p50/p99/max, probed twice a second from a process of its own
so the clients' threads do not delay it) and its ratio load/baseline; each worker's share of the
server's CPU time; and per worker and minute its resident memory (``VmRSS``, ``RssAnon``), the
bytes its caches hold and, with ``--tracemalloc``, the bytes Python allocations hold (the last
two from its ``/health`` answers).

To see memory reach its plateau quickly, bound the caches small, e.g.
``--compute-cache-mib 16 --dap-cache-mib 8``: a worker's ceiling is its resident memory with
the caches off plus ``COMPUTE_CACHE_BYTES + DAP_CACHE_BYTES``. ``--stock-worker`` serves with
gunicorn's own ``gthread`` worker, for comparison.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dap_support.servers import HOST, ServerProcess, free_port, process_tree  # noqa: E402

from stream_engine import demo  # noqa: E402
from stream_engine.config import REPO_ROOT  # noqa: E402
from stream_engine.preload import load_preload  # noqa: E402
from stream_engine.store.embedded import EmbeddedStore  # noqa: E402

CLIENTS = 64
STALLED = 12
CTD = f"/dap/{demo.CTD.path}"
OPTODE = f"/dap/{demo.OPTODE.path}"
KINDS = {
    "dds": [f"{CTD}.dds", f"{OPTODE}.dds"],
    "das": [f"{CTD}.das", f"{OPTODE}.das"],
    "small dods": [f"{CTD}.dods?time[0:1:99],temperature[0:1:99]", f"{OPTODE}.dods?time[0:1:99]"],
    "large dods": [f"{CTD}.dods?time,temperature,conductivity,pressure",
                   f"{OPTODE}.dods?time,dissolved_oxygen"],
}
STALLED_PATH = f"{CTD}.dods"
STALL_SECONDS = 90.0


def _cpu_ticks(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return int(fields[11]) + int(fields[12])


def _rss_mib(pid: int, field: str = "VmRSS") -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class Results:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.errors: list[str] = []

    def add(self, kind: str, seconds: float) -> None:
        with self.lock:
            self.latency[kind].append(seconds)

    def error(self, text: str) -> None:
        with self.lock:
            self.errors.append(text)


def _client(number: int, port: int, keep_alive: bool, stop: threading.Event, results: Results) -> None:
    source = (f"127.0.{1 + number // 200}.{10 + number % 200}", 0)
    rng = np.random.default_rng(number)
    kinds = list(KINDS)
    conn = None
    while not stop.is_set():
        kind = kinds[int(rng.integers(len(kinds)))]
        paths = KINDS[kind]
        path = paths[int(rng.integers(len(paths)))]
        try:
            if conn is None:
                conn = http.client.HTTPConnection(HOST, port, timeout=120, source_address=source)
            t0 = time.perf_counter()
            conn.request("GET", path)
            response = conn.getresponse()
            body = response.read()
            seconds = time.perf_counter() - t0
            if response.status != 200 or not body:
                results.error(f"{path}: {response.status} {body[:120]!r}")
            else:
                results.add(kind, seconds)
            if not keep_alive or response.will_close:
                conn.close()
                conn = None
        except OSError as exc:
            results.error(f"{path}: {type(exc).__name__}: {exc}")
            if conn is not None:
                conn.close()
            conn = None
    if conn is not None:
        conn.close()


def _stalled(number: int, port: int, stop: threading.Event) -> None:
    """Ask for a large .dods and never read it; after ``STALL_SECONDS`` (longer than the server's
    send timeout) hang up and ask again. The access log tells which ones the server dropped."""
    source = (f"127.0.9.{10 + number}", 0)
    while not stop.is_set():
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        try:
            sock.bind(source)
            sock.connect((HOST, port))
            sock.sendall(f"GET {STALLED_PATH} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            stop.wait(STALL_SECONDS)
        except OSError:
            stop.wait(0.5)
        finally:
            sock.close()


def _health(port: int, stop, out) -> None:
    """Probe ``/health`` twice a second, a new connection each time (so every worker answers),
    from a process of its own (the clients' threads do not delay it); send back each probe's
    time, latency, error and the answering worker's state (memory, cache bytes)."""
    start = time.monotonic()
    probes: list[tuple[float, float, str | None, dict]] = []
    while not stop.is_set():
        t0 = time.perf_counter()
        try:
            conn = http.client.HTTPConnection(HOST, port, timeout=30, source_address=("127.0.8.1", 0))
            conn.request("GET", "/health")
            response = conn.getresponse()
            body = response.read()
            conn.close()
            seconds = time.perf_counter() - t0
            worker = json.loads(body).get("worker", {})
            error = None if response.status == 200 else f"/health: {response.status}"
            probes.append((time.monotonic() - start, seconds, error, worker))
        except (OSError, ValueError) as exc:
            probes.append((time.monotonic() - start, time.perf_counter() - t0, f"/health: {exc}", {}))
        time.sleep(0.5)
    out.send(probes)
    out.close()


def _phase(port: int, seconds: float, stalled: bool, workers: list[int]) -> dict:
    stop = threading.Event()
    results = Results()
    threads = [threading.Thread(target=_client, args=(i, port, i % 2 == 0, stop, results), daemon=True)
               for i in range(CLIENTS)]
    if stalled:
        threads += [threading.Thread(target=_stalled, args=(i, port, stop), daemon=True)
                    for i in range(STALLED)]
    spawn = multiprocessing.get_context("spawn")
    probe_stop = spawn.Event()
    receive, send = spawn.Pipe(duplex=False)
    prober = spawn.Process(target=_health, args=(port, probe_stop, send), daemon=True)
    cpu0 = {w: _cpu_ticks(w) for w in workers}
    memory: list[tuple[float, dict[int, float], dict[int, float]]] = []
    start = time.monotonic()
    prober.start()
    for t in threads:
        t.start()
    while time.monotonic() - start < seconds:
        time.sleep(min(5.0, seconds))
        memory.append((time.monotonic() - start, {w: _rss_mib(w) for w in workers},
                       {w: _rss_mib(w, "RssAnon") for w in workers}))
    stop.set()
    probe_stop.set()
    probes = receive.recv()
    prober.join(timeout=30)
    for t in threads:
        t.join(timeout=150)
    cpu = {w: _cpu_ticks(w) - cpu0[w] for w in workers}
    return {"seconds": time.monotonic() - start, "results": results,
            "health": [p[1] for p in probes if p[2] is None],
            "health_errors": [p[2] for p in probes if p[2] is not None], "cpu": cpu, "memory": memory,
            "states": [(p[0], p[3]) for p in probes]}


def _report(name: str, phase: dict, base: dict | None) -> None:
    res: Results = phase["results"]
    print(f"\n== {name}: {phase['seconds']:.0f} s, errors {len(res.errors)}")
    for message in res.errors[:5]:
        print("   error:", message)
    print(f"   {'kind':<12}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}" + ("   ratio p99 / baseline" if base else ""))
    for kind in KINDS:
        lat = np.array(res.latency.get(kind, [np.nan]))
        rate = len(res.latency.get(kind, [])) / phase["seconds"]
        p50, p99 = np.nanpercentile(lat, 50) * 1e3, np.nanpercentile(lat, 99) * 1e3
        line = f"   {kind:<12}{rate:9.1f}{p50:9.1f}{p99:9.1f}"
        if base:
            blat = np.array(base["results"].latency.get(kind, [np.nan]))
            line += f"   {p99 / (np.nanpercentile(blat, 99) * 1e3):.2f}"
        print(line)
    h = np.array(phase["health"] or [np.nan]) * 1e3
    line = (f"   /health (own process): {len(phase['health'])} probes, p50 {np.nanpercentile(h, 50):.1f} ms, "
            f"p99 {np.nanpercentile(h, 99):.1f} ms, max {np.nanmax(h):.1f} ms, "
            f"errors {len(phase['health_errors'])}")
    if base:
        b = np.array(base["health"] or [np.nan]) * 1e3
        line += (f"; ratio load/baseline p50 {np.nanpercentile(h, 50) / np.nanpercentile(b, 50):.2f}, "
                 f"p99 {np.nanpercentile(h, 99) / np.nanpercentile(b, 99):.2f}")
    print(line)
    for message in phase["health_errors"][:3]:
        print("   error:", message)
    total = sum(phase["cpu"].values()) or 1
    shares = ", ".join(f"{w}: {100 * c / total:.0f}%" for w, c in sorted(phase["cpu"].items()))
    print(f"   worker CPU share: {shares}")
    _report_memory(phase["memory"], phase["states"])


def _report_memory(mem: list[tuple[float, dict[int, float], dict[int, float]]],
                   states: list[tuple[float, dict]]) -> None:
    """Each worker's memory per minute: ``VmRSS``, ``RssAnon`` (its private part), the bytes its
    bounded caches hold and (under ``--tracemalloc``) the bytes Python allocations hold, the
    last two as its ``/health`` answers said."""
    if not mem:
        return
    workers = sorted(mem[0][1])
    print("   per worker and minute, MiB: RSS / RssAnon / caches held / traced (means over the minute)")
    minutes = int(mem[-1][0] // 60) + 1
    for minute in range(minutes):
        inside = [(r, a) for t, r, a in mem if minute * 60 < t <= (minute + 1) * 60]
        if not inside:
            continue
        cells = []
        for w in workers:
            told = [s for t, s in states if minute * 60 < t <= (minute + 1) * 60 and s.get("pid") == w]
            caches = [(s["cache_bytes"]["compute"] + s["cache_bytes"]["dap"]) / 2**20 for s in told
                      if "cache_bytes" in s]
            traced = [s["traced_mib"] for s in told if "traced_mib" in s]
            cells.append(f"{np.mean([r[w] for r, _ in inside]):5.0f} / {np.mean([a[w] for _, a in inside]):4.0f}"
                         f" / {np.mean(caches) if caches else float('nan'):4.0f}"
                         f" / {np.mean(traced) if traced else float('nan'):4.0f}")
        print(f"     minute {minute + 1:2d}:  " + "   |   ".join(cells))
    peak = {w: max(r[w] for _, r, _ in mem) for w in workers}
    print("     peak RSS: " + "  ".join(f"{peak[w]:.0f}" for w in workers))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=300.0, help="length of the loaded phase")
    parser.add_argument("--baseline-seconds", type=float, default=None,
                        help="length of the baseline phase (default: a fifth of --seconds, 60 s at most)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--compute-cache-mib", type=float, default=None,
                        help="COMPUTE_CACHE_BYTES per worker in MiB (default: the setting's default)")
    parser.add_argument("--dap-cache-mib", type=float, default=None,
                        help="DAP_CACHE_BYTES per worker in MiB (default: the setting's default)")
    parser.add_argument("--malloc-mmap-threshold-mib", type=float, default=None,
                        help="MALLOC_MMAP_THRESHOLD per worker in MiB (0: glibc's policy, with the next)")
    parser.add_argument("--malloc-trim-threshold-mib", type=float, default=None,
                        help="MALLOC_TRIM_THRESHOLD per worker in MiB (default: the setting's default)")
    parser.add_argument("--tracemalloc", action="store_true",
                        help="run the server under PYTHONTRACEMALLOC (slower; /health then reports "
                             "the bytes Python allocations hold)")
    parser.add_argument("--stock-worker", action="store_true",
                        help="serve with gunicorn's own gthread worker instead of Stream Engine's "
                             "(/health then waits for a request thread: the comparison)")
    parser.add_argument("--malloc-arena-max", type=int, default=None,
                        help="MALLOC_ARENA_MAX for the server (glibc; default: the server's own)")
    args = parser.parse_args()
    base_seconds = args.baseline_seconds or min(60.0, args.seconds / 5)
    work = Path(tempfile.mkdtemp(prefix="load-", dir=REPO_ROOT / "benchmarks"))
    server = None
    try:
        with EmbeddedStore(work / "data") as store:
            demo.fill_demo(store, load_preload(REPO_ROOT / "preload_database"))
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("STREAM_ENGINE_")}
        env.update(STREAM_ENGINE_DATA_DIR=str(work / "data"), STREAM_ENGINE_LOG_DIR=str(work / "logs"))
        for option, setting in ((args.compute_cache_mib, "COMPUTE_CACHE_BYTES"),
                                (args.dap_cache_mib, "DAP_CACHE_BYTES"),
                                (args.malloc_mmap_threshold_mib, "MALLOC_MMAP_THRESHOLD"),
                                (args.malloc_trim_threshold_mib, "MALLOC_TRIM_THRESHOLD")):
            if option is not None:
                env[f"STREAM_ENGINE_{setting}"] = str(int(option * 1024 * 1024))
        if args.tracemalloc:
            env["PYTHONTRACEMALLOC"] = "1"
        if args.stock_worker:
            env["GUNICORN_CMD_ARGS"] = "--worker-class gthread"
        if args.malloc_arena_max is not None:
            env["MALLOC_ARENA_MAX"] = str(args.malloc_arena_max)
        command = [str(Path(sys.executable).parent / "stream-engine"), "serve", "--bind", f"{HOST}:{port}"]
        server = ServerProcess("stream-engine", command, port, "/health", work / "server.log", env=env,
                               cwd=REPO_ROOT).start()
        workers = [p for p in process_tree(server.pid) if p != server.pid]
        print(f"server pid {server.pid}, workers {workers}; {CLIENTS} clients "
              f"({CLIENTS // 2} keep-alive), {STALLED} stalled readers in the load phase")
        print("settings: " + ", ".join(f"{k}={v}" for k, v in sorted(env.items())
                                        if k.startswith(("STREAM_ENGINE_", "MALLOC_", "PYTHONTRACE", "GUNICORN_"))
                                        and not k.endswith("_DIR")))
        base = _phase(port, base_seconds, False, workers)
        _report("baseline (clients only)", base, None)
        loaded = _phase(port, args.seconds, True, workers)
        _report("load (clients + stalled readers)", loaded, base)
        access = (work / "logs" / "stream_engine.access.log").read_text(errors="replace").splitlines()
        cut = sum(1 for line in access if STALLED_PATH + " " in line and line.endswith("body=incomplete"))
        print(f"   stalled readers' responses cut short by the server (send timeout): {cut}")
        return 1 if loaded["results"].errors or base["results"].errors else 0
    finally:
        if server is not None:
            server.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
