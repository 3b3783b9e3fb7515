"""``GET``/``POST /annotations``: the stored annotations as OOI's annotation service gave them.

``GET /annotations`` lists every record; ``?stream=subsite/node/sensor/method/stream`` keeps
those applying to that stream (wildcards resolved), ``beginDT``/``endDT`` (ms since 1970, as the
original's ``anno/find``) those meeting that span. ``GET /annotations/<stream>`` is the same for
one stream. ``POST /annotations`` stores one record or a list (all checked first; a record with an
``id`` replaces that record) and answers 201 with their ids.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import orjson

from stream_engine.assets import NTP_UNIX_OFFSET
from stream_engine.errors import BadRequest, TooLarge
from stream_engine.quality.annotations import (
    KIND,
    annotations_for,
    load_annotations,
    parse_annotation,
)
from stream_engine.store.base import StreamKey
from stream_engine.web.validators import conditional_json
from stream_engine.web.views.base import View, json_response
from stream_engine.web.views.query_body import MAX_BODY_BYTES

if TYPE_CHECKING:
    from webob import Request, Response


def _ms(request: Request, name: str, default: float) -> float:
    value = request.GET.get(name)
    if value in (None, ""):
        return default
    try:
        number = float(value)
    except ValueError:
        raise BadRequest(f"{name} must be milliseconds since 1970-01-01, got {value!r}") from None
    if not math.isfinite(number):
        raise BadRequest(f"{name} must be a finite number of milliseconds, got {value!r}")
    return number / 1000.0 + NTP_UNIX_OFFSET


def _listed(request: Request, context: Any, stream: str | None) -> list[dict[str, Any]]:
    first, last = _ms(request, "beginDT", -math.inf), _ms(request, "endDT", math.inf)
    with context.store.snapshot() as view:
        if stream:
            try:
                key = StreamKey.from_path(stream)
            except (TypeError, ValueError) as exc:
                raise BadRequest(f"stream: {exc}") from None
            return [dict(a.record) for a in annotations_for(view, key, first, last)]
        found = [parse_annotation(r) for r in view.quality_records(KIND)]
    return [dict(a.record) for a in found if a.overlaps(first, last)]


class AnnotationsView(View):
    """Every stored annotation (filtered by ``stream``, ``beginDT``, ``endDT``); new ones by POST."""

    def get(self, request: Request) -> Response:
        return conditional_json(request, _listed(request, self.context, request.GET.get("stream")))

    def post(self, request: Request) -> Response:
        raw = request.body_file.read(MAX_BODY_BYTES + 1)
        if len(raw) > MAX_BODY_BYTES:
            raise TooLarge(f"the request body is over {MAX_BODY_BYTES} bytes")
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise BadRequest(f"the body is not JSON: {exc}") from None
        records = body if isinstance(body, list) else [body]
        try:
            ids = load_annotations(self.context.store, records)
        except ValueError as exc:
            raise BadRequest(f"annotation {exc}; nothing was stored") from None
        return json_response({"ids": ids}, status=201)


class StreamAnnotationsView(View):
    """The annotations applying to one stream."""

    def get(self, request: Request, subsite: str, node: str, sensor: str, method: str, stream: str) -> Response:
        return conditional_json(
            request, _listed(request, self.context, "/".join((subsite, node, sensor, method, stream))))
