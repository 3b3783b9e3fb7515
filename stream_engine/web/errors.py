"""The one place where exceptions become HTTP responses.

Errors raised on purpose (:class:`~stream_engine.errors.StreamEngineError`) carry their HTTP
status and a message written for the client. Anything else is a bug: it is logged with its
traceback to the error log and the client gets ``500 Unexpected internal error`` with the
request's UUID, never the traceback.

The body's form follows the route: ``json`` (``{"message", "requestUUID", "code"}``) for the API,
``dap`` (``Error { code = ...; message = "..."; };``) for DAP datasets and ``html`` for pages.
Other forms are added with :func:`register_error_renderer`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import orjson
from webob import Response

from dap_handlers.responses.error import error_text
from stream_engine.errors import BadRequest, NotFound, StreamEngineError

if TYPE_CHECKING:
    from webob import Request

logger = logging.getLogger("stream_engine.web")

UNEXPECTED_MESSAGE = "Unexpected internal error"
ERROR_TEMPLATE = "error.html"

ErrorRenderer = Callable[[int, str, str], Response]
"""``renderer(status, message, request_id) -> Response``."""


class MethodNotAllowed(StreamEngineError):
    """The route exists but does not answer this HTTP method."""

    status = 405

    def __init__(self, method: str, path: str, allowed: Iterable[str]):
        self.allowed = tuple(sorted(allowed))
        super().__init__(
            f"method {method} is not allowed on {path!r}; use {', '.join(self.allowed)}"
        )


class RouteNotFound(NotFound):
    """No route matches the requested path."""


class UriTooLong(StreamEngineError):
    """The request line is longer than the server accepts."""

    status = 414


#: Longest request target (path and query) answered; a DAP constraint naming many variables
#: is legitimately several kilobytes, so this is far above the 8 KB the server promises.
MAX_REQUEST_TARGET = 65536


def check_request_line(environ: dict[str, Any]) -> None:
    """Raise :class:`UriTooLong` if the request's path and query exceed :data:`MAX_REQUEST_TARGET`."""
    target = environ.get("RAW_URI") or (environ.get("PATH_INFO", "") + "?" + environ.get("QUERY_STRING", ""))
    if len(target) > MAX_REQUEST_TARGET:
        raise UriTooLong(
            f"the request URL is {len(target):,} characters long; this server answers URLs of up "
            f"to {MAX_REQUEST_TARGET:,} characters: ask for fewer variables per request"
        )


def request_path(request: Request) -> str:
    """The request's path, decoded; :class:`BadRequest` if it is not valid UTF-8."""
    try:
        path: str = request.path_info
    except UnicodeDecodeError as exc:
        raise BadRequest(
            "the URL path is not valid UTF-8 (percent-encoded bytes must spell UTF-8 text); "
            "check the link"
        ) from exc
    return path


def _json_error(status: int, message: str, request_id: str) -> Response:
    body = orjson.dumps({"message": message, "requestUUID": request_id, "code": status})
    return Response(body=body, status=status, content_type="application/json", charset=None)


def _dap_error(status: int, message: str, request_id: str) -> Response:
    body = error_text(status, f"{message} (request {request_id})")
    response = Response(body=body.encode("utf-8"), status=status, content_type="text/plain")
    response.charset = "utf-8"
    response.headers["XDODS-Server"] = "stream-engine"
    response.headers["Content-Description"] = "dods_error"
    return response


def _html_error(status: int, message: str, request_id: str) -> Response:
    """The ``error.html`` page: the message, and for 404 the ways into the catalog."""
    from stream_engine.web.pages import environment

    title = f"{status} {Response(status=status).status.split(' ', 1)[1]}"
    body = environment().get_template(ERROR_TEMPLATE).render(
        status=status, title=title, message=message, request_id=request_id
    )
    response = Response(body=body.encode("utf-8"), status=status, content_type="text/html")
    response.charset = "utf-8"
    return response


_RENDERERS: dict[str, ErrorRenderer] = {
    "json": _json_error,
    "dap": _dap_error,
    "html": _html_error,
}


def register_error_renderer(name: str, renderer: ErrorRenderer) -> None:
    """Add or replace the error body form ``name`` (routes name it in ``error_format``)."""
    _RENDERERS[name] = renderer


def describe(exc: BaseException) -> tuple[int, str]:
    """The HTTP status and the client-facing message for ``exc``."""
    if isinstance(exc, StreamEngineError):
        return int(exc.status), exc.client_message()
    return 500, UNEXPECTED_MESSAGE


def error_response(
    exc: BaseException, *, method: str, path: str, request_id: str, error_format: str = "json"
) -> Response:
    """Log ``exc`` as it deserves and turn it into a response of the route's error form.

    Parameters
    ----------
    exc
        The exception a view (or routing) raised.
    method, path
        The request's method and path, for the log.
    request_id
        The request's UUID: sent to the client and written to the log, to find one from the other.
    error_format
        ``json``, ``dap``, ``html`` or a registered form; unknown forms fall back to ``json``.

    Returns
    -------
    webob.Response
    """
    status, message = describe(exc)
    where = f"{method} {path} [request {request_id}]"
    if not isinstance(exc, StreamEngineError):
        logger.error("unexpected error on %s", where, exc_info=exc)
    elif status >= 500:
        logger.error("%s on %s: %s", type(exc).__name__, where, exc, exc_info=exc)
    else:
        logger.info("%d on %s: %s", status, where, message)
    renderer = _RENDERERS.get(error_format, _json_error)
    response = renderer(status, message, request_id)
    if status in (429, 503):
        response.headers["Retry-After"] = "5"
    if isinstance(exc, MethodNotAllowed):
        response.headers["Allow"] = ", ".join(exc.allowed)
    return response
