"""The gunicorn worker class (stream_engine/web/worker.py) on a real server: /health answered in
the accepting thread while every request thread is busy, and the bound on idle connections per
client address."""

from __future__ import annotations

import http.client
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from live_server import LiveServer, start_server

from stream_engine.config import REPO_ROOT


@pytest.fixture
def one_thread_server(tmp_path: Path) -> Iterator[LiveServer]:
    """One worker with one request thread; each client address may keep 3 idle connections."""
    server = start_server(tmp_path / "data", tmp_path / "logs", threads=1,
                          extra_env={"STREAM_ENGINE_MAX_CLIENT_IDLE_CONNECTIONS": "3"})
    try:
        yield server
    finally:
        server.stop()


def _port(server: LiveServer) -> int:
    return int(server.url.rsplit(":", 1)[1])


def _connect(server: LiveServer, source: str) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", _port(server)), timeout=10, source_address=(source, 0))
    return sock


def _health(server: LiveServer, source: str = "127.0.0.1") -> tuple[int, dict[str, str], dict]:
    conn = http.client.HTTPConnection("127.0.0.1", _port(server), timeout=10, source_address=(source, 0))
    try:
        conn.request("GET", "/health")
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), json.loads(response.read())
    finally:
        conn.close()


def _wait_for(predicate, what: str, seconds: float = 20.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"never saw {what}")


def test_health_is_answered_while_the_only_request_thread_is_held(one_thread_server) -> None:
    server = one_thread_server
    # a POST whose body never comes holds the worker's only request thread (reading the body)
    holder = _connect(server, "127.0.0.2")
    holder.sendall(b"POST /annotations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                   b"Content-Length: 20\r\n\r\n[")
    busy = _wait_for(lambda: (s := _health(server))[2]["worker"]["requests_in_progress"] == 1 and s,
                     "the request thread busy")
    status, headers, body = busy
    assert status == 200 and body["status"] == "ok"
    assert body["store"] == {**body["store"], "backend": "embedded", "ok": True, "message": None}
    worker = body["worker"]
    assert worker["threads"] == 1 and worker["state"] == "serving"
    assert worker["health_answers"] >= 1 and "answered_by" not in worker  # not a request thread
    assert headers["Cache-Control"] == "no-store" and headers["X-Request-ID"]
    # a data request now waits for the thread; /health does not, and says so
    waiting = http.client.HTTPConnection("127.0.0.1", _port(server), timeout=30)
    waiting.request("GET", "/version")
    queued = _wait_for(lambda: (s := _health(server))[2]["worker"]["requests_queued"] == 1 and s,
                       "the /version request queued behind the held thread")
    assert queued[2]["worker"]["requests_in_progress"] == 2
    holder.sendall(b"x" * 19)  # the body arrives (not JSON): 400, and the thread is free
    assert holder.recv(64).startswith(b"HTTP/1.1 400")
    response = waiting.getresponse()
    assert response.status == 200 and json.loads(response.read())["name"] == "stream-engine"
    holder.close()
    waiting.close()


def test_health_keeps_alive_answers_head_and_honours_close(one_thread_server) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", _port(one_thread_server), timeout=10)
    answered = []
    for method in ("GET", "HEAD", "GET"):
        conn.request(method, "/health")
        response = conn.getresponse()
        body = response.read()
        assert response.status == 200 and not response.will_close
        assert (body == b"") == (method == "HEAD")
        if body:
            answered.append(json.loads(body)["worker"]["health_answers"])
    conn.request("GET", "/version")  # the same connection goes on to a request thread
    response = conn.getresponse()
    assert response.status == 200 and json.loads(response.read())["name"] == "stream-engine"
    assert answered[1] == answered[0] + 2
    conn.request("GET", "/health", headers={"Connection": "close"})
    response = conn.getresponse()
    response.read()
    assert response.will_close and response.getheader("Connection") == "close"
    conn.close()


def test_idle_connections_beyond_the_bound_close_the_clients_oldest(one_thread_server) -> None:
    server = one_thread_server
    other = _connect(server, "127.0.0.9")  # another client's idle connection is left alone
    silent = [_connect(server, "127.0.0.7") for _ in range(5)]  # opened, never used
    status, _, body = _health(server, "127.0.0.7")  # a sixth connection of the same client
    assert status == 200
    closed = []
    for sock in silent:
        sock.settimeout(5)
        try:
            closed.append(sock.recv(1) == b"")
        except TimeoutError:
            closed.append(False)
    # the bound is 3: the new connection closed the oldest ones, two still wait
    assert closed == [True, True, True, False, False], closed
    other.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    assert other.recv(64).startswith(b"HTTP/1.1 200")
    status, _, body = _health(server)
    assert body["worker"]["idle_connections_closed"] == 3
    for sock in [other, *silent]:
        sock.close()
    errors = (server.log_dir / "stream_engine.error.log").read_text()
    assert "client 127.0.0.7: closed" in errors and "beyond its bound of 3" in errors


def test_gunicorn_uses_the_stream_engine_worker() -> None:
    config = (REPO_ROOT / "gunicorn_config.py").read_text()
    assert 'worker_class = "stream_engine.web.worker.StreamEngineWorker"' in config


def test_a_closed_connection_lingers_in_the_poller_not_in_the_accepting_thread(one_thread_server) -> None:
    server = one_thread_server
    sock = _connect(server, "127.0.0.4")
    sock.sendall(b"GET /version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    received = b""
    while chunk := sock.recv(65536):  # the response, then the server's FIN
        received += chunk
    assert received.startswith(b"HTTP/1.1 200") and received.endswith(b"}")
    # the client has not hung up: the server waits for it without holding its accepting thread
    status, _, body = _health(server)
    assert status == 200 and body["worker"]["closing_connections"] == 1
    sock.close()
    _wait_for(lambda: _health(server)[2]["worker"]["closing_connections"] == 0, "the socket closed")
