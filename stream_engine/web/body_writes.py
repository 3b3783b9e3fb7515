"""Response bodies written from byte buffers, without a copy to ``bytes``.

gunicorn's ``Response.write`` takes only ``bytes``, so a block of values (a numpy array in wire
order) had to become ``bytes`` first: a copy of the whole body into fresh memory, then the
kernel's copy into the socket. With chunked framing (a body without ``Content-Length``, such as
DAP4's ``.dap``) gunicorn joined the chunk's size line, the data and ``\\r\\n`` into one more
``bytes``: a third copy.

:class:`BufferResponse` is gunicorn's HTTP/1 response whose :meth:`~BufferResponse.write` also
takes any C-contiguous buffer (a ``memoryview``, a numpy array) and hands it to the socket as it
is; chunked framing is gathered around the data (``sendmsg``), never joined with it. Everything
else is gunicorn's: the headers, ``HEAD`` and 304 bodies dropped, a body cut at its declared
``Content-Length``, the last chunk, keep-alive. :class:`BufferWrites` wraps the application in
the worker: it makes each plain HTTP/1 response a :class:`BufferResponse` and tells the
application so (:data:`~stream_engine.web.connections.WRITES_BUFFERS` in the environ); bodies
served by any other server are turned into ``bytes`` by the application
(:class:`~stream_engine.web.connections.TrackedBody`).
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Iterable
from typing import Any

from gunicorn.http.wsgi import Response

from stream_engine.web.connections import WRITES_BUFFERS
from stream_engine.web.views.base import BodyChunk

logger = logging.getLogger("gunicorn.http.wsgi")  # where gunicorn logs the same warning

#: What ends every chunk of HTTP/1.1 chunked framing.
CHUNK_END = b"\r\n"


def send_all(sock: socket.socket, buffers: list[Any]) -> None:
    """Send ``buffers`` one after the other on ``sock`` with gathering writes (``sendmsg``),
    going on after partial sends, as ``sendall`` does for one buffer."""
    views = [memoryview(b).cast("B") for b in buffers if len(b)]
    while views:
        sent = sock.sendmsg(views)
        while views and sent >= views[0].nbytes:
            sent -= views[0].nbytes
            views.pop(0)
        if sent:
            views[0] = views[0][sent:]


class BufferResponse(Response):
    """gunicorn's HTTP/1 response whose ``write`` takes ``bytes`` or any C-contiguous buffer,
    sent without a copy (chunked framing gathered around it)."""

    def write(self, arg: Any) -> None:
        """Send ``arg`` (bytes-like) as the next part of the body, as gunicorn's ``write`` does
        for ``bytes``: nothing for a body the response omits (``HEAD``, 304), nothing past the
        declared ``Content-Length``, no empty chunk (it would end a chunked body)."""
        self.send_headers()
        if isinstance(arg, str):
            raise TypeError(f"{arg!r} is not a byte buffer")
        data = arg if isinstance(arg, bytes) else memoryview(arg).cast("B")
        if self._omits_body:
            if len(data) and not self._omits_body_warned:
                logger.warning("WSGI app sent body bytes on a no-body response (method=%s status=%s); "
                               "dropping per RFC 9110.", self.req.method, self.status_code)
                self._omits_body_warned = True
            return
        if self.response_length is not None:
            room = self.response_length - self.sent
            if room <= 0:
                return
            if len(data) > room:
                data = data[:room]
        if self.chunked and not len(data):
            return
        self.sent += len(data)
        self._emit_body(data)

    def _emit_body(self, data: Any) -> None:
        if self.chunked:
            send_all(self.sock, [b"%X\r\n" % len(data), data, CHUNK_END])
        else:
            self.sock.sendall(data)


class BufferWrites:
    """The WSGI application, answering plain HTTP/1 requests through :class:`BufferResponse`
    (its other attributes are the application's).

    gunicorn's ``gthread`` worker builds a ``Response`` per request and passes its bound
    ``start_response``; that response (not TLS: no ``sendmsg`` there; not HTTP/2, which frames
    its own body) becomes a :class:`BufferResponse` before the application runs.
    """

    def __init__(self, app: Callable[..., Iterable[BodyChunk]], tls: bool = False) -> None:
        self.app = app
        self.tls = tls

    def __getattr__(self, name: str) -> Any:
        return getattr(self.app, name)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[BodyChunk]:
        response = getattr(start_response, "__self__", None)
        if not self.tls and type(response) is Response:
            response.__class__ = BufferResponse
            environ[WRITES_BUFFERS] = True
        return self.app(environ, start_response)
