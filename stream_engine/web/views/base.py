"""What every view shares: the :class:`View` base class and the response helpers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson
from webob import Response

if TYPE_CHECKING:
    from webob import Request

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
