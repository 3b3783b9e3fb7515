"""Several workers on a real server: a ``HUP`` reload while clients keep sending requests fails
none of them, and kept-alive clients spread evenly over the workers.

With gunicorn's ``reuse_port`` every worker listened on a socket of its own, and a reload reset
the connections queued on a stopping worker's socket (48 failures here); now every worker
accepts from the master's one socket, and stream_engine/web/worker.py spreads connections.
Clients behave as HTTP clients do: a fresh connection that fails is a failure; a request on a
kept-alive connection that the server closed before answering is retried once on a new
connection (RFC 9112 section 9.3.1; urllib3, requests and curl do the same).
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest
from live_server import start_server

CLIENTS = 16
RELOADS = 3


def _client(number: int, port: int, keep_alive: bool, stop: threading.Event,
            served: list[int], failures: list[str], pids: set[int]) -> None:
    source = (f"127.0.3.{10 + number}", 0)
    conn: http.client.HTTPConnection | None = None
    paths = ["/version", "/dap.json", "/health", "/index.json"]
    sent = 0
    while not stop.is_set():
        path = paths[sent % len(paths)]
        sent += 1
        for attempt in (1, 2):
            reused = conn is not None
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30, source_address=source)
                conn.request("GET", path)
                response = conn.getresponse()
                body = response.read()
            except (ConnectionError, http.client.RemoteDisconnected, http.client.BadStatusLine) as exc:
                if conn is not None:
                    conn.close()
                conn = None
                if reused and attempt == 1:
                    continue  # the server closed a kept-alive connection: retry once, afresh
                failures.append(f"{path}: {type(exc).__name__}: {exc}")
                break
            except OSError as exc:
                failures.append(f"{path}: {type(exc).__name__}: {exc}")
                conn = None
                break
            if response.status != 200:
                failures.append(f"{path}: {response.status} {body[:200]!r}")
            else:
                served.append(1)
                if path == "/health":
                    pids.add(json.loads(body)["worker"]["pid"])
            if not keep_alive or response.will_close:
                conn.close()
                conn = None
            break
    if conn is not None:
        conn.close()


def _wait_for_workers(port: int, workers: int) -> None:
    """Until ``workers`` different workers answer /health (a new connection each time)."""
    seen: set[int] = set()
    deadline = time.monotonic() + 90
    while len(seen) < workers and time.monotonic() < deadline:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("GET", "/health", headers={"Connection": "close"})
        seen.add(json.loads(conn.getresponse().read())["worker"]["pid"])
        conn.close()
        time.sleep(0.1)
    assert len(seen) == workers, f"only {len(seen)} workers answered in 90 s"


@pytest.mark.parametrize("workers", [2])
def test_hup_reload_under_load_fails_no_request(tmp_path: Path, workers: int) -> None:
    server = start_server(tmp_path / "data", tmp_path / "logs", threads=4,
                          extra_env={"STREAM_ENGINE_WORKERS": str(workers)})
    port = int(server.url.rsplit(":", 1)[1])
    stop = threading.Event()
    served: list[int] = []
    failures: list[str] = []
    pids: set[int] = set()
    threads = [threading.Thread(target=_client, args=(i, port, i % 2 == 0, stop, served, failures, pids))
               for i in range(CLIENTS)]
    try:
        for t in threads:
            t.start()
        deadline = time.monotonic() + 60
        while len(pids) < workers and time.monotonic() < deadline:
            time.sleep(0.2)  # until every worker has answered
        before = set(pids)
        known = set(pids)
        for _ in range(RELOADS):
            os.kill(server.process.pid, signal.SIGHUP)
            deadline = time.monotonic() + 90  # until the new workers answer (loading takes a while)
            while len(pids - known) < workers and time.monotonic() < deadline:
                time.sleep(0.2)
            known |= pids
        time.sleep(2)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
        server.stop()
    assert failures == [], f"{len(failures)} of {len(served) + len(failures)} requests failed: {failures[:5]}"
    assert len(served) > 50, "the clients kept the server busy"
    assert len(before) == workers and len(pids - before) >= workers * RELOADS, (before, pids)
    log = (server.log_dir / "stream_engine.error.log").read_text()
    assert log.count("Handling signal: hup") == RELOADS


def test_kept_alive_clients_spread_over_the_workers(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", tmp_path / "logs", threads=4,
                          extra_env={"STREAM_ENGINE_WORKERS": "2"})
    port = int(server.url.rsplit(":", 1)[1])
    conns = [http.client.HTTPConnection("127.0.0.1", port, timeout=30, source_address=(f"127.0.4.{10 + i}", 0))
             for i in range(32)]
    answered: list[int] = []
    lock = threading.Lock()
    _wait_for_workers(port, 2)  # the first worker up would take everyone while the other boots

    def ask(conn: http.client.HTTPConnection) -> None:
        conn.request("GET", "/health")
        response = conn.getresponse()
        assert response.status == 200 and not response.will_close
        with lock:
            answered.append(json.loads(response.read())["worker"]["pid"])

    try:
        threads = [threading.Thread(target=ask, args=(c,)) for c in conns]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        per_worker = sorted(answered.count(pid) for pid in set(answered))
        assert len(answered) == 32 and len(per_worker) == 2, per_worker
        assert per_worker[0] >= 13, f"kept-alive connections per worker {per_worker}: worse than 60/40"
        # the connections stay where they are: a second round on each lands on the same worker
        again = list(answered)
        answered.clear()
        for conn in conns:
            ask(conn)
        assert sorted(answered) == sorted(again)
    finally:
        for conn in conns:
            conn.close()
        server.stop()
