"""The part of a request an export needs, as a typed value.

This is an adapter: the JSON API's request parser (issue 9, ``stream_engine.engine.query``)
reads the original body in full; :func:`export_query` keeps only what exports use (the first
stream, its parameters, the time range and the export options) and is switched over to that
parser once it is on main, so the body is parsed in one place only.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from stream_engine.assets import NTP_UNIX_OFFSET
from stream_engine.errors import BadRequest
from stream_engine.store.base import StreamKey, TimeRange

if TYPE_CHECKING:
    from stream_engine.preload.model import Preload

_KEY_FIELDS = ("subsite", "node", "sensor", "method", "stream")


@dataclass(frozen=True, slots=True)
class ExportQuery:
    """Stream, preload parameter ids (empty: every parameter), range and options of an export."""

    key: StreamKey
    parameters: tuple[int, ...]
    time_range: TimeRange
    require_deployment: bool
    include_provenance: bool = False
    include_annotations: bool = False
    request_uuid: str = ""

    def to_body(self) -> dict[str, Any]:
        """The original request body that reads back as this query (for jobs and sub-jobs)."""
        return {
            "streams": [{**{f: getattr(self.key, f) for f in _KEY_FIELDS},
                         "parameters": list(self.parameters)}],
            "start": self.time_range.start, "stop": self.time_range.stop,
            "require_deployment": self.require_deployment,
            "include_provenance": self.include_provenance,
            "include_annotations": self.include_annotations,
            "requestUUID": self.request_uuid,
        }


def _flag(body: Mapping[str, Any], name: str, default: bool) -> bool:
    value = body.get(name, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise BadRequest(f"{name!r} must be true or false, got {value!r}")
    return value


def _time(body: Mapping[str, Any], name: str, default: float) -> float:
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise BadRequest(f"{name!r} must be a number of NTP seconds, got {value!r}")
    return float(value)


def export_query(body: Any, preload: Preload, settings: Mapping[str, Any]) -> ExportQuery:
    """Read an original request body into an :class:`ExportQuery`.

    Raises
    ------
    BadRequest
        A field is missing or malformed, or names a stream or parameter the dictionary lacks;
        the message names it.
    """
    if not isinstance(body, Mapping):
        raise BadRequest("the request body must be a JSON object")
    streams = body.get("streams")
    if not isinstance(streams, list) or not streams or not isinstance(streams[0], Mapping):
        raise BadRequest("'streams' must be a non-empty list of stream objects")
    first = streams[0]
    values = []
    for field in _KEY_FIELDS:
        value = first.get(field)
        if not isinstance(value, str) or not value or "/" in value:
            raise BadRequest(f"'streams[0].{field}' must be a non-empty string without '/', got {value!r}")
        values.append(value)
    key = StreamKey(*values)
    if key.stream not in preload.streams:
        raise BadRequest(f"stream {key.stream!r} is not in the preload dictionary")
    raw_parameters = first.get("parameters") or []
    if not isinstance(raw_parameters, list):
        raise BadRequest("'streams[0].parameters' must be a list of preload parameter ids")
    in_stream = {p.id for p in preload.stream_parameters(key.stream)}
    parameters = []
    for item in raw_parameters:
        try:
            pid = int(str(item).removeprefix("PD"))
        except ValueError:
            raise BadRequest(f"'streams[0].parameters' holds {item!r}, not a parameter id") from None
        if pid not in preload.parameters:
            raise BadRequest(f"parameter {item!r} is not in the preload dictionary")
        if pid not in in_stream:
            raise BadRequest(f"parameter {item!r} is not a parameter of stream {key.stream!r}")
        parameters.append(pid)
    start = _time(body, "start", float(settings["UNBOUND_QUERY_START"]))
    stop = _time(body, "stop", time.time() + NTP_UNIX_OFFSET)
    if stop <= start:
        raise BadRequest(f"'stop' ({stop}) must be after 'start' ({start})")
    uuid = body.get("requestUUID") or ""
    return ExportQuery(
        key, tuple(parameters), TimeRange(start, stop),
        require_deployment=_flag(body, "require_deployment", bool(settings["REQUIRE_DEPLOYMENT"])),
        include_provenance=_flag(body, "include_provenance", False),
        include_annotations=_flag(body, "include_annotations", False),
        request_uuid=str(uuid),
    )
