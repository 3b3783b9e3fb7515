"""What the server owes every connection: a send timeout, a bound per client, honest logs.

* **Send timeout**: a client that stops reading a response for ``SEND_TIMEOUT`` seconds is
  dropped (the socket's timeout, set per request on gunicorn's socket), so it cannot hold a
  worker thread, and the store snapshot of its response, for ever.
* **Bound per client**: at most ``MAX_CLIENT_REQUESTS`` responses in progress per client address
  in each worker; more are refused with 429 and ``Retry-After``, so one client cannot take every
  thread. ``/health`` is exempt and never touches the store.
* **Outcome**: the WSGI environ's ``stream_engine.body`` is ``complete`` once the whole body was
  handed to the server, else ``incomplete``; the access log prints it, and a body cut short (the
  client went away, a send timed out, an error while streaming) is also logged at WARNING with
  its request id and the bytes handed over.
* **Buffers**: a body may hand over byte buffers other than ``bytes`` (a ``memoryview`` of a
  block of values), which a server that says so (``stream_engine.writes_buffers`` in the environ,
  set by :mod:`stream_engine.web.worker`) sends as they are; for any other server
  (WSGI asks for ``bytes``) they become ``bytes`` here.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from stream_engine.errors import StreamEngineError
from stream_engine.web.views.base import BodyChunk, ClosingBody

logger = logging.getLogger("stream_engine.web")

BODY_STATE = "stream_engine.body"
#: Set (true) in the environ by a server whose ``write`` takes any C-contiguous byte buffer.
WRITES_BUFFERS = "stream_engine.writes_buffers"
EXEMPT_PATHS = frozenset({"/health"})


class TooManyRequests(StreamEngineError):
    """A client already has as many responses in progress as it may have."""

    status = 429


class ClientSlots:
    """Responses in progress per client address in this worker, bounded by ``limit`` (0: none)."""

    def __init__(self, limit: int) -> None:
        self.limit = int(limit)
        self._lock = threading.Lock()
        self._busy: Counter[str] = Counter()

    def acquire(self, address: str) -> None:
        """Take a slot for ``address``, or raise :class:`TooManyRequests`."""
        if self.limit <= 0:
            return
        with self._lock:
            if self._busy[address] >= self.limit:
                raise TooManyRequests(
                    f"this client already has {self.limit} requests in progress on this server "
                    "process; wait for them to finish (or read their responses) and retry"
                )
            self._busy[address] += 1

    def release(self, address: str) -> None:
        if self.limit <= 0:
            return
        with self._lock:
            self._busy[address] -= 1
            if self._busy[address] <= 0:
                del self._busy[address]

    def busy(self, address: str) -> int:
        with self._lock:
            return self._busy[address]


def set_send_timeout(environ: dict[str, Any], seconds: float) -> None:
    """Give the request's socket a timeout (gunicorn passes it as ``gunicorn.socket``)."""
    sock = environ.get("gunicorn.socket")
    if sock is not None and seconds > 0:
        try:
            sock.settimeout(float(seconds))
        except OSError:
            pass


class TrackedBody(ClosingBody):
    """A :class:`ClosingBody` that also records whether the body was sent whole, and logs a
    response cut short."""

    def __init__(self, body: Iterable[BodyChunk], environ: dict[str, Any], on_close: Callable[[], None]) -> None:
        super().__init__(body, on_close)
        self._environ = environ
        self.handed = 0
        environ[BODY_STATE] = "incomplete"

    def __iter__(self) -> Iterator[BodyChunk]:
        as_bytes = not self._environ.get(WRITES_BUFFERS)
        for chunk in super().__iter__():
            if not isinstance(chunk, bytes) and as_bytes:
                chunk = bytes(chunk)
            self.handed += len(chunk) if isinstance(chunk, bytes) else memoryview(chunk).nbytes
            yield chunk
        self._environ[BODY_STATE] = "complete"

    def close(self) -> None:
        try:
            super().close()
        finally:
            if self._environ.get(BODY_STATE) != "complete" and self._environ.get("REQUEST_METHOD") != "HEAD":
                logger.warning(
                    "response to %s %s cut short after %d bytes (client went away, send timed out "
                    "or an error while streaming) [request %s]",
                    self._environ.get("REQUEST_METHOD"), self._environ.get("PATH_INFO"),
                    self.handed, self._environ.get("stream_engine.request_id"),
                )
