"""What every view shares: the :class:`View` base class and the response helpers."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

import orjson
from webob import Response

if TYPE_CHECKING:
    from webob import Request

    from stream_engine.store.base import Store
    from stream_engine.web.context import AppContext

HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
_JSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


class View:
    """A kind of page: one method per HTTP verb it answers (``get``, ``post``, ...).

    A view is built per request with the application context (settings, store, preload), and
    its method is called with the webob request and the route's placeholder values. It returns
    a :class:`webob.Response` or raises; raising is how a view reports an error (the app's
    error handler in ``web/errors.py`` turns it into a response). ``HEAD`` is answered by
    ``get`` with the body left out.
    """

    def __init__(self, context: AppContext):
        self.context = context

    @classmethod
    def allowed_methods(cls) -> tuple[str, ...]:
        """The HTTP methods this view answers."""
        allowed = [m for m in HTTP_METHODS if callable(getattr(cls, m.lower(), None))]
        if "GET" in allowed and "HEAD" not in allowed:
            allowed.append("HEAD")
        return tuple(allowed)

    def handler(self, method: str) -> Any:
        """The bound method answering ``method``, or ``None``."""
        name = "get" if method == "HEAD" and not hasattr(self, "head") else method.lower()
        return getattr(self, name, None) if method in self.allowed_methods() else None

    def dispatch(self, request: Request, handler: Any, params: dict[str, str]) -> Response:
        """Call ``handler`` (hook for views that wrap every method)."""
        return handler(request, **params)


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """``data`` as a JSON response (orjson; numpy arrays and scalars allowed, NaN becomes null)."""
    response = Response(
        body=orjson.dumps(data, option=_JSON_OPTIONS),
        status=status,
        content_type="application/json",
        charset=None,
    )
    if headers:
        response.headers.update(headers)
    return response


#: One piece of a streamed body: ``bytes``, or a byte view of a block that our worker writes as it
#: is (:mod:`stream_engine.web.body_writes`); :class:`~stream_engine.web.connections.TrackedBody`
#: turns views into ``bytes`` for any other WSGI server.
BodyChunk = bytes | memoryview


class ClosingBody:
    """A WSGI body that runs ``on_close`` once when the server closes it (or it is exhausted).

    Responses that stream from a store snapshot keep the snapshot open until the last byte is
    sent or the client goes away; the WSGI server calls :meth:`close` in both cases.
    """

    def __init__(self, chunks: Iterable[BodyChunk], on_close: Callable[[], None]) -> None:
        self._chunks = chunks
        self._on_close: Callable[[], None] | None = on_close

    def __iter__(self) -> Iterator[BodyChunk]:
        # A generator, so this object (and the snapshot its on_close ends) lives as long as
        # the iteration: were it collected mid-body, the snapshot would end under the reader.
        yield from self._chunks

    def close(self) -> None:
        inner = getattr(self._chunks, "close", None)
        try:
            if inner is not None:
                inner()
        finally:
            on_close, self._on_close = self._on_close, None
            if on_close is not None:
                on_close()


def snapshot_scope(store: Store) -> tuple[ExitStack, Store]:
    """Enter ``store.snapshot()`` in an :class:`ExitStack` the caller closes when the response
    is sent (see :class:`ClosingBody`); returns the stack and the snapshot view."""
    stack = ExitStack()
    view = stack.enter_context(store.snapshot())
    return stack, view
