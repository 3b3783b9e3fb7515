"""Stream Engine's gunicorn worker: ``gthread``, plus what a busy server owes every client.

gunicorn's ``gthread`` worker accepts connections in its main thread and hands each request to a
pool of ``THREADS`` threads. This subclass (``worker_class`` in ``gunicorn_config.py``) keeps that
model and adds, in the accepting thread:

* **/health without waiting.** A connection is looked at (``MSG_PEEK``) when its request has
  arrived; a plain ``GET``/``HEAD /health`` is answered right there from the application's
  :class:`~stream_engine.web.health.HealthMonitor` (a cached store check, no data read) with this
  worker's state, instead of queueing behind data requests for a pool thread. Anything else goes
  to the pool untouched. Such answers carry ``X-Request-ID`` but are not written to the access
  log (probes every few seconds would drown it). The answer makes as few system calls as it
  can (each one gives the GIL away, and getting it back from busy request threads is what
  makes this thread slow under load): no file is read, the store check runs elsewhere.
* **A bound on idle connections per client address.** Connections that have no request in
  progress (kept alive, or opened and not yet used) count against their client's
  ``MAX_CLIENT_IDLE_CONNECTIONS``; a new connection beyond it closes that client's oldest idle
  one, so one client cannot fill ``worker_connections`` with idle sockets. A connection that
  has not sent its request waits in the poller, not in a pool thread (gunicorn would hold a
  thread for up to 5 s per such connection).
* **Closing without blocking.** gunicorn closes a connection gracefully (FIN, then read until
  the client hangs up, up to 2 s) in the accepting thread itself; under load, clients slow to
  hang up held that thread for seconds, so nothing was accepted nor /health answered (p99
  3.9 s, max 14 s in ``benchmarks/load.py`` with the first version of this worker). Here the
  closing socket waits in the poller.
* **Connections spread evenly over the workers.** All workers accept from the one listening
  socket the master holds (so a reload never drops a connection: the socket outlives every
  worker generation, and a booting worker takes nothing before it can serve). Left alone, kept-
  alive clients pile onto whichever worker wins the accept race (32 kept-alive clients once
  gave one worker 8x the other's CPU time); so each worker publishes its open connections in a
  table shared through the master (:func:`new_balance`), and takes new connections only while
  it holds at most :data:`SPREAD_SLACK` more than the least loaded serving worker. The same
  table tells a worker stopping for a reload whether a new one serves yet: until one does, it
  goes on accepting (gunicorn's would stop at once, and nobody accepted while the new workers
  loaded the application).
* **Bodies written from buffers.** Responses take any byte buffer, not only ``bytes``, and send
  it without a copy (:mod:`stream_engine.web.body_writes`).
"""

from __future__ import annotations

import errno
import mmap
import random
import re
import selectors
import socket
import struct
import time
import uuid
from collections import deque
from functools import partial
from itertools import chain
from typing import Any

from gunicorn.workers.gthread import (
    DEFAULT_WORKER_DATA_TIMEOUT,
    STOP_KEEPALIVE_LINGER,
    TConn,
    ThreadWorker,
)

from stream_engine.web.body_writes import BufferWrites

_HEALTH_REQUEST = re.compile(rb"(GET|HEAD) /health(?:\?[^ \r\n]*)? HTTP/1\.([01])\r\n")
_PEEK_BYTES = 8192
_HEADERS_END = b"\r\n\r\n"
#: Seconds a closed connection waits for the client to hang up (gunicorn's close_graceful: 2 s).
LINGER_SECONDS = 2.0
#: Bytes read from a closing connection before it is closed regardless (as gunicorn: 64 KiB).
LINGER_MAX_BYTES = 65536
#: Slots of the shared table of open connections per worker (workers alive at once: far fewer).
SLOTS = 256
#: How many more open connections than the least loaded serving worker a worker may hold and
#: still accept (32 kept-alive clients over 2 workers: 17/15 at worst).
SPREAD_SLACK = 1
#: A slot's value while its worker loads the application (``-1``: no worker serving there).
BOOTING = -2


class _Outcome:
    NO_DATA = "no data"
    CLOSED = "closed"
    NOT_HEALTH = "not health"
    ANSWERED_KEEP = "answered, keep alive"
    ANSWERED_CLOSE = "answered, close"


def _wants_close(version: bytes, headers: bytes) -> bool:
    fields = headers.lower()
    if version == b"0":
        return b"connection: keep-alive" not in fields
    return b"connection: close" in fields


def _has_body(headers: bytes) -> bool:
    fields = headers.lower()
    if b"transfer-encoding:" in fields:
        return True
    found = re.search(rb"content-length:\s*(\d+)", fields)
    return found is not None and int(found.group(1)) > 0


class _Conn(TConn):
    """A gunicorn connection whose graceful close lingers in the worker's poller instead of
    blocking the thread that closes it."""

    def __init__(self, worker: StreamEngineWorker, *args: Any) -> None:
        super().__init__(*args)
        self.worker = worker

    def close(self, graceful: bool = False) -> None:
        if graceful:
            self.worker.linger(self)
        else:
            super().close()


class StreamEngineWorker(ThreadWorker):
    """gunicorn's ``gthread`` worker with a fast ``/health``, a per-client idle bound,
    non-blocking closes and connections spread evenly over the workers (module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.in_pool = 0
        self.health_answers = 0
        self.idle_closed = 0
        #: The master's table of open connections per serving worker, and this worker's slot
        #: (:func:`join_balance`); ``None``: no balancing (take every connection offered).
        self.balance: mmap.mmap | None = None
        self.slot = 0
        self.closing: deque[_Conn] = deque()

    # -- what the application decides ------------------------------------------------------

    @property
    def idle_per_client(self) -> int:
        """``MAX_CLIENT_IDLE_CONNECTIONS`` of the application (0: no bound)."""
        return int(getattr(self.wsgi, "idle_connections_per_client", 0) or 0)

    def state(self) -> dict[str, Any]:
        """This worker's connections and requests, for ``/health``."""
        queue = getattr(self.tpool, "_work_queue", None)
        return {
            "state": "serving" if self.alive else "stopping",
            "threads": self.cfg.threads,
            "requests_in_progress": self.in_pool,
            "requests_queued": queue.qsize() if queue is not None else None,
            "connections": self.nr_conns,
            "idle_connections": len(self.keepalived_conns) + len(self.pending_conns),
            "closing_connections": len(self.closing),
            "worker_connections": self.worker_connections,
            "idle_connections_per_client": self.idle_per_client,
            "requests_served": self.nr,
            "health_answers": self.health_answers,
            "idle_connections_closed": self.idle_closed,
        }

    def load_wsgi(self) -> None:
        super().load_wsgi()
        self.wsgi = BufferWrites(self.wsgi, tls=bool(self.cfg.is_ssl))

    def run(self) -> None:
        for name in ("start_health_checks", "start_row_deriver"):
            start = getattr(self.wsgi, name, None)
            if start is not None:
                start()
        super().run()

    # -- the pool --------------------------------------------------------------------------

    def enqueue_req(self, conn: TConn) -> None:
        self.in_pool += 1
        super().enqueue_req(conn)

    def finish_request(self, conn: TConn, fs: Any) -> None:
        self.in_pool -= 1
        super().finish_request(conn, fs)

    # -- new connections and connections becoming readable ---------------------------------

    def accept(self, listener: socket.socket) -> None:
        try:
            client_sock, client_addr = listener.accept()
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self._adopt(client_sock, client_addr, listener)
        if self.balance is not None and not self._fair():
            ThreadWorker.set_accept_enabled(self, False)  # ahead of the others: let them take the next

    def _adopt(self, client_sock: socket.socket, client_addr: Any, listener: socket.socket) -> None:
        self.nr_conns += 1
        conn = _Conn(self, self.cfg, client_sock, client_addr, listener.getsockname())
        self._bound_idle(conn)
        self._dispatch(conn)

    def on_client_socket_readable(self, conn: TConn, client: socket.socket) -> None:
        self.poller.unregister(client)
        self.keepalived_conns.remove(conn)
        self._dispatch(conn)

    def on_pending_socket_readable(self, conn: TConn, client: socket.socket) -> None:
        self.poller.unregister(client)
        self.pending_conns.remove(conn)
        self._dispatch(conn)

    def _dispatch(self, conn: TConn) -> None:
        """Answer ``/health`` here, hand any other request to the pool, park a silent socket."""
        outcome = self._answer_health(conn)
        if outcome is _Outcome.NOT_HEALTH:
            conn.data_ready = True
            self.enqueue_req(conn)
        elif outcome is _Outcome.NO_DATA:
            self._park(conn, self.pending_conns, self.on_pending_socket_readable)
        elif outcome is _Outcome.ANSWERED_KEEP and len(self.keepalived_conns) < self.max_keepalived:
            self._park(conn, self.keepalived_conns, self.on_client_socket_readable)
        else:
            self.nr_conns -= 1
            conn.close()

    def _park(self, conn: TConn, waiting: Any, callback: Any) -> None:
        """Wait in the poller (kept alive, or not yet used) until the socket is readable."""
        conn.sock.setblocking(False)
        conn.set_timeout()
        if waiting is self.pending_conns:  # a request may take a moment to arrive, even with keepalive 0
            conn.timeout = max(conn.timeout, time.monotonic() + DEFAULT_WORKER_DATA_TIMEOUT)
        if not self.alive:
            conn.timeout = min(conn.timeout, time.monotonic() + STOP_KEEPALIVE_LINGER)
        waiting.append(conn)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(callback, conn))

    # -- /health in the accepting thread ---------------------------------------------------

    def _answer_health(self, conn: TConn) -> str:
        answer = getattr(self.wsgi, "health_answer", None)
        if self.cfg.is_ssl or conn.is_http2 or answer is None:
            return _Outcome.NOT_HEALTH
        if conn.parser is not None and conn.parser.unreader.buf.getvalue():
            return _Outcome.NOT_HEALTH  # bytes already read by the parser: let it go on
        try:
            head = conn.sock.recv(_PEEK_BYTES, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            return _Outcome.NO_DATA
        except OSError:
            return _Outcome.CLOSED
        if not head:
            return _Outcome.CLOSED
        request = _HEALTH_REQUEST.match(head)
        end = head.find(_HEADERS_END)
        if request is None or end < 0 or _has_body(head[request.end():end]):
            return _Outcome.NOT_HEALTH
        keep = self.alive and bool(self.cfg.keepalive) and not _wants_close(
            request.group(2), head[request.end():end])
        try:
            conn.sock.recv(end + len(_HEADERS_END), socket.MSG_DONTWAIT)
            self.health_answers += 1
            status, body = answer(self.state())
            wire = self._health_response(status, body, request.group(1) == b"HEAD", keep)
            sent = conn.sock.send(wire, socket.MSG_DONTWAIT)
        except OSError:
            return _Outcome.CLOSED
        if sent < len(wire):
            return _Outcome.CLOSED  # a few hundred bytes not taken by an idle socket: give up
        return _Outcome.ANSWERED_KEEP if keep else _Outcome.ANSWERED_CLOSE

    @staticmethod
    def _health_response(status: int, body: bytes, head: bool, keep: bool) -> bytes:
        reason = "OK" if status == 200 else "Service Unavailable"
        lines = [
            f"HTTP/1.1 {status} {reason}",
            f"Date: {time.strftime('%a, %d %b %Y %H:%M:%S GMT', time.gmtime())}",
            "Server: stream-engine",
            "Content-Type: application/json",
            f"Content-Length: {len(body)}",
            "Cache-Control: no-store",
            f"X-Request-ID: {uuid.UUID(int=random.getrandbits(128), version=4)}",  # no syscall
            f"Connection: {'keep-alive' if keep else 'close'}",
        ]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (b"" if head else body)

    # -- closing without blocking ---------------------------------------------------------

    def linger(self, conn: TConn) -> None:
        """Close ``conn`` as RFC 9112 section 9.6 asks (send FIN, read what the client still
        sends until it closes, at most :data:`LINGER_SECONDS`), without waiting for it here.

        gunicorn does this in the accepting thread, blocking it up to 2 s per connection: under
        load, while clients were slow to hang up, nothing was accepted (nor /health answered)
        for seconds at a time. Here the socket waits in the poller like any other.
        """
        try:
            conn.sock.shutdown(socket.SHUT_WR)
            conn.sock.setblocking(False)
            self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._drain_closing, conn))
        except (OSError, ValueError, KeyError):
            TConn.close(conn)
            return
        conn.timeout = time.monotonic() + LINGER_SECONDS
        conn.drained = 0
        self.closing.append(conn)

    def _drain_closing(self, conn: TConn, client: socket.socket) -> None:
        try:
            data = conn.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        conn.drained += len(data)
        if not data or conn.drained >= LINGER_MAX_BYTES:
            self._closed(conn)

    def _closed(self, conn: TConn) -> None:
        try:
            self.poller.unregister(conn.sock)
        except (OSError, KeyError, ValueError):
            pass
        try:
            self.closing.remove(conn)
        except ValueError:
            pass
        TConn.close(conn)

    def murder_pending(self) -> None:
        super().murder_pending()
        now = time.monotonic()
        while self.closing and (self.closing[0].timeout <= now or not self.alive and self.nr_conns == 0):
            self._closed(self.closing[0])

    # -- idle connections per client -------------------------------------------------------

    def _bound_idle(self, conn: TConn) -> None:
        """Close the oldest idle connections of ``conn``'s client beyond the bound (``conn``,
        not used yet, counts as idle)."""
        limit = self.idle_per_client
        if limit <= 0 or len(self.keepalived_conns) + len(self.pending_conns) < limit:
            return
        address = _address(conn)
        idle = [c for c in chain(self.pending_conns, self.keepalived_conns) if _address(c) == address]
        idle.sort(key=lambda c: c.timeout)
        surplus = idle[: max(len(idle) + 1 - limit, 0)]
        for oldest in surplus:
            (self.pending_conns if oldest in self.pending_conns else self.keepalived_conns).remove(oldest)
            try:
                self.poller.unregister(oldest.sock)
            except (OSError, KeyError, ValueError):
                pass
            self.nr_conns -= 1
            self.idle_closed += 1
            oldest.close()
        if surplus:
            self.log.info("client %s: closed %d idle connection(s) beyond its bound of %d",
                          address, len(surplus), limit)

    # -- spreading connections over the workers -------------------------------------------

    def _publish(self, count: int) -> None:
        if self.balance is not None:
            struct.pack_into("q", self.balance, self.slot * 8, count)

    def _table(self) -> tuple[int, ...]:
        return struct.unpack_from(f"{SLOTS}q", self.balance) if self.balance is not None else ()

    def _fair(self) -> bool:
        """Whether this worker may take a connection: it holds at most :data:`SPREAD_SLACK` more
        open connections than the least loaded serving worker (as they published them); a
        stopping worker bridging to its replacements takes any."""
        if self.balance is None or not self.alive:
            return True
        self._publish(self.nr_conns)
        serving = [c for c in self._table() if c >= 0]
        return self.nr_conns <= min(serving, default=self.nr_conns) + SPREAD_SLACK

    def _awaiting_replacement(self) -> bool:
        """A worker is booting (a reload) and none serves yet besides this stopping one."""
        table = self._table()
        return BOOTING in table and not any(c >= 0 for c in table)

    def set_accept_enabled(self, enabled: bool) -> None:
        if not self.alive:
            self._publish(-1)  # stopping: no longer one of the serving workers
            if not enabled and self._accepting:
                self._bridge()
        elif enabled and not self._fair():
            enabled = False  # the loop asks again at its next turn (at least once a second)
        super().set_accept_enabled(enabled)

    def _bridge(self) -> None:
        """On a reload, go on accepting (answering with ``Connection: close``) until a new
        worker serves, at most ``graceful_timeout``: gunicorn's old workers stop accepting at
        once, and nobody accepted while the new ones loaded the application."""
        deadline = time.monotonic() + self.cfg.graceful_timeout
        while self._awaiting_replacement() and time.monotonic() < deadline:
            self.notify()
            self.wait_for_and_dispatch_events(timeout=0.2)
            self.murder_keepalived()
            self.murder_pending()

    def wait_for_and_dispatch_events(self, timeout: float) -> None:
        if self.alive:
            self._publish(self.nr_conns)
        super().wait_for_and_dispatch_events(timeout)


def new_balance() -> mmap.mmap:
    """The shared table of open connections per serving worker (made by the master before any
    fork, so every worker, of every generation, maps the same memory); ``-1``: not serving."""
    table = mmap.mmap(-1, SLOTS * 8)
    table.write(struct.pack(f"{SLOTS}q", *([-1] * SLOTS)))
    return table


def booting_in_balance(worker: Any, table: mmap.mmap | None) -> None:
    """Mark a worker about to be forked as booting in ``table`` (gunicorn ``pre_fork``, in the
    master: before it tells the old workers of a reload to stop)."""
    if table is not None and hasattr(worker, "age"):
        struct.pack_into("q", table, (worker.age % SLOTS) * 8, BOOTING)


def join_balance(worker: StreamEngineWorker, table: mmap.mmap | None) -> None:
    """Give a forked worker its slot of ``table`` (gunicorn ``post_fork``)."""
    worker.balance = table
    worker.slot = worker.age % SLOTS


def leave_balance(worker: Any, table: mmap.mmap | None) -> None:
    """Free an exited worker's slot (gunicorn ``child_exit``, in the master: also after a crash)."""
    if table is not None and hasattr(worker, "age"):
        struct.pack_into("q", table, (worker.age % SLOTS) * 8, -1)


def _address(conn: TConn) -> Any:
    client = conn.client
    return client[0] if isinstance(client, tuple | list) and client else client
