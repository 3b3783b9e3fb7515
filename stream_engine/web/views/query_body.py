"""Reading the original request body of a data route into a :class:`~stream_engine.engine.query.Query`.

Every data route (``/particles``, ``/estimate``, ``/needs``, the exports and jobs) calls
:func:`read_query`: it bounds the body's size, decodes it, adopts the client's ``requestUUID``
as the request's id (so an error body, the logs and the ``X-Request-ID`` header carry the id
the client knows) and checks the body with :func:`~stream_engine.engine.query.parse_query`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import orjson

from stream_engine.engine.query import MAX_REQUEST_UUID, parse_query
from stream_engine.errors import InvalidQuery, QueryTooLarge

if TYPE_CHECKING:
    from webob import Request

    from stream_engine.engine.query import Query
    from stream_engine.web.context import AppContext

#: Largest request body accepted (bytes); real bodies are a few hundred bytes.
MAX_BODY_BYTES = 1024 * 1024
REQUEST_ID_KEY = "stream_engine.request_id"


def _adopt_request_uuid(request: Request, body: object) -> None:
    """Use the body's ``requestUUID`` as the request's id when it is a usable one."""
    if not isinstance(body, dict):
        return
    value = body.get("requestUUID")
    if isinstance(value, str) and 0 < len(value) <= MAX_REQUEST_UUID and value.isprintable() and value.isascii():
        request.environ[REQUEST_ID_KEY] = value


def read_query(request: Request, context: AppContext) -> Query:
    """The request body as a checked :class:`Query`.

    Raises
    ------
    InvalidQuery
        An empty or malformed body, or a bad field (400, the field named).
    QueryTooLarge
        A body over ``MAX_BODY_BYTES``, or a ``limit`` over ``UI_HARD_LIMIT`` (413).
    """
    length = request.content_length
    if length is not None and length > MAX_BODY_BYTES:
        raise QueryTooLarge(f"the request body has {length} bytes; at most {MAX_BODY_BYTES} are accepted",
                            field="body")
    raw = request.body_file.read(MAX_BODY_BYTES + 1)
    if len(raw) > MAX_BODY_BYTES:
        raise QueryTooLarge(f"the request body is over {MAX_BODY_BYTES} bytes", field="body")
    if not raw.strip():
        raise InvalidQuery("the request body is empty; send the query as a JSON object", field="body")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidQuery(f"the request body is not valid JSON: {exc}", field="body") from None
    _adopt_request_uuid(request, body)
    return parse_query(body, context.preload, context.settings)
