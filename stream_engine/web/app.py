"""The WSGI application: route, call the view, turn any exception into a response.

``gunicorn 'stream_engine.web.app:create_app()'`` serves it; tests call it in-process with
``webob.Request.blank(...).get_response(app)``.
"""

from __future__ import annotations

import atexit
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from webob import Request

from stream_engine.engine.kernels import prepare_kernels
from stream_engine.logs import configure_logging
from stream_engine.web.connections import (
    EXEMPT_PATHS,
    ClientSlots,
    TooManyRequests,
    TrackedBody,
    set_send_timeout,
)
from stream_engine.web.context import AppContext
from stream_engine.web.errors import (
    MethodNotAllowed,
    RouteNotFound,
    check_request_line,
    error_response,
    request_path,
)
from stream_engine.web.routes import ROUTES, Route
from stream_engine.web.views.base import BodyChunk

if TYPE_CHECKING:
    from webob import Response

    from stream_engine.config import Settings

REQUEST_ID_HEADER = "X-Request-ID"


def unrouted_error_format(request: Request) -> str:
    """The error form for a path no route matched: DAP under ``/dap/``, JSON for ``.json`` paths
    and clients that prefer JSON to HTML, else the HTML page that links to the catalog. Looks at
    the raw path, which need not be valid UTF-8."""
    path = request.environ.get("PATH_INFO", "")
    if path.startswith("/dap/"):
        return "dap"
    if path.endswith(".json"):
        return "json"
    offers = request.accept.acceptable_offers(["text/html", "application/json"])
    if offers and offers[0][0] == "application/json":
        return "json"
    return "html"


class StreamEngineApp:
    """A WSGI callable over a route table.

    Every response carries ``X-Request-ID``, the UUID also written in error bodies, the error
    log and the access log.
    """

    def __init__(self, settings: Settings, routes: Iterable[Route] = ROUTES):
        self.settings = settings
        self.routes = tuple(routes)
        self.context = AppContext(settings)
        self.clients = ClientSlots(settings.MAX_CLIENT_REQUESTS)
        #: Idle connections one client address may hold per worker (read by the gunicorn worker).
        self.idle_connections_per_client = int(settings.MAX_CLIENT_IDLE_CONNECTIONS)

    def start_health_checks(self) -> None:
        """Start this process's first store check in the background (the worker calls it before
        it accepts connections)."""
        self.context.health.store_check(wait=0)

    def start_row_deriver(self) -> None:
        """Start this process's background row deriver (Cassandra only; the worker calls it
        after the fork). It derives only while it holds the cluster-wide lease and
        ``CASSANDRA_ROWS`` is ``"background"``; otherwise it only reports what is pending."""
        deriver = self.context.row_deriver
        if deriver is not None:
            deriver.start()
            atexit.register(deriver.stop, 5.0)  # a worker stopping gives its lease up at once

    def health_answer(self, worker: dict[str, Any] | None = None) -> tuple[int, bytes]:
        """Status and JSON body of ``/health`` (the gunicorn worker's accepting thread calls it)."""
        return self.context.health.answer(worker)

    def resolve(self, path: str) -> tuple[Route, dict[str, str]]:
        """The first route matching ``path`` and its placeholder values."""
        for route in self.routes:
            params = route.match(path)
            if params is not None:
                return route, params
        raise RouteNotFound(
            f"no such resource: {path!r}; the catalog is at / and the datasets are listed at /dap/"
        )

    def respond(self, request: Request) -> Response:
        """The response to ``request``; never raises."""
        request_id = str(uuid.uuid4())
        request.environ["stream_engine.request_id"] = request_id
        raw_path = request.environ.get("PATH_INFO", "")
        error_format = unrouted_error_format(request)
        try:
            refused = request.environ.pop("stream_engine.refused", None)
            if refused is not None:
                raise refused
            route, params = self.resolve(request_path(request))
            error_format = route.error_format
            check_request_line(request.environ)
            view = route.view(self.context)
            handler = view.handler(request.method)
            if handler is None:
                raise MethodNotAllowed(request.method, request.path_info, route.view.allowed_methods())
            response = view.dispatch(request, handler, params)
        except Exception as exc:  # the one catch-all; errors.py decides what the client sees
            response = error_response(
                exc,
                method=request.method,
                path=raw_path,
                request_id=request.environ.get("stream_engine.request_id", request_id),
                error_format=error_format,
            )
        # a view may have adopted the client's own request id (the body's requestUUID)
        response.headers[REQUEST_ID_HEADER] = request.environ.get("stream_engine.request_id", request_id)
        return response

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[BodyChunk]:
        request = Request(environ)
        set_send_timeout(environ, self.settings.SEND_TIMEOUT)
        address = environ.get("REMOTE_ADDR")  # absent only in-process (tests): no bound then
        held = bool(address) and environ.get("PATH_INFO") not in EXEMPT_PATHS
        if held:
            try:
                self.clients.acquire(address)
            except TooManyRequests as refused:
                environ["stream_engine.refused"] = refused
                held = False
        body = self.respond(request)(environ, start_response)
        return TrackedBody(body, environ, (lambda: self.clients.release(address)) if held else _nothing)


def _nothing() -> None:
    """Nothing to release."""


def create_app(settings: Settings | None = None, routes: Iterable[Route] | None = None) -> StreamEngineApp:
    """Build the WSGI application.

    Parameters
    ----------
    settings
        Settings to use; ``None`` loads them (``config/default.py``, ``config/local.py``,
        ``STREAM_ENGINE_*`` variables).
    routes
        Route table; ``None`` means :data:`stream_engine.web.routes.ROUTES`.

    Returns
    -------
    StreamEngineApp
        A WSGI callable. The store and preload are opened on first use, in the serving process.
    """
    if settings is None:
        from stream_engine.config import load_settings

        settings = load_settings()
    configure_logging(settings)
    prepare_kernels()  # compiled kernels loaded before the first request, not in it
    return StreamEngineApp(settings, ROUTES if routes is None else routes)
