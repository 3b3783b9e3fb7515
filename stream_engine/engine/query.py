"""A data query: the original Stream Engine request body as typed, frozen values.

:func:`parse_query` checks a request body (``POST /particles``, ``/estimate``, ``/needs``, the
exports) against the preload dictionary and the settings and returns a :class:`Query`; every
problem raises :class:`~stream_engine.errors.InvalidQuery` (400) naming the body field
(``streams[1].parameters[0]``, ``start``, ``limit``...), or
:class:`~stream_engine.errors.QueryTooLarge` (413) for a ``limit`` above ``UI_HARD_LIMIT``.
Nothing here reads the store or knows HTTP; :mod:`stream_engine.engine.query_run` runs a query.

The body (as the original engine documented it)::

    {"streams": [{"subsite", "node", "sensor", "method",
                  "stream": "<name>" or <stream id>,
                  "parameters": [<PD id>, ...]}, ...],   # first stream primary; empty = all
     "start": <NTP s>, "stop": <NTP s>,                  # default UNBOUND_QUERY_START and now
     "limit": <records>,                                 # absent, null, 0 or -1: no limit
     "include_provenance", "include_annotations", "execute_dpa", "require_deployment",
     "raw_data_only", "run_qartod", "strict_range", "classic": true/false,
     "qcParameters" (or "qc_parameters"): [...], "requestUUID": "...",
     "directory", "async_job", "format": "..."}

Further streams are interpolated onto the primary stream's times and, as in the original, must
name their parameters. ``stop`` is inclusive (the original queried ``time <= stop``).
Unknown keys (``userName``, ``requestTime``, ``coefficients``, ``locations``...) are ignored.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import orjson

from stream_engine.assets import NTP_UNIX_OFFSET
from stream_engine.errors import InvalidQuery, QueryTooLarge
from stream_engine.store.base import StreamKey, TimeRange

if TYPE_CHECKING:
    from stream_engine.preload.model import Preload, StreamDefinition

KEY_FIELDS = ("subsite", "node", "sensor", "method")
#: Longest ``requestUUID`` accepted (it is echoed in headers, logs and file attributes).
MAX_REQUEST_UUID = 200


@dataclass(frozen=True, slots=True)
class StreamQuery:
    """One entry of ``streams``: the stream and the preload ids asked of it (empty: all)."""

    key: StreamKey
    stream_id: int
    parameters: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Query:
    """A checked request body. ``streams[0]`` is the primary stream.

    Attributes
    ----------
    streams
        The primary stream, then the streams interpolated onto its times.
    start, stop
        NTP seconds, ``start <= stop``; ``stop`` is inclusive.
    limit
        Most records to return (decimated over the range), ``None`` for all.
    execute_dpa
        ``False``: stored parameters only, no products (``raw_data_only`` implies it).
    require_deployment
        Drop records outside any deployment (``raw_data_only`` turns it off).
    qc_parameters, run_qartod
        Accepted and recorded; the quality layer gives them effect.
    request_uuid
        The client's ``requestUUID``, ``None`` when it sent none.
    directory, async_job, classic, format
        Carried for the export routes.
    """

    streams: tuple[StreamQuery, ...]
    start: float
    stop: float
    limit: int | None = None
    include_provenance: bool = False
    include_annotations: bool = False
    execute_dpa: bool = True
    require_deployment: bool = True
    raw_data_only: bool = False
    run_qartod: bool = False
    strict_range: bool = False
    qc_parameters: tuple[Any, ...] = ()
    request_uuid: str | None = None
    directory: str | None = None
    async_job: str | None = None
    classic: bool = False
    format: str | None = None

    @property
    def primary(self) -> StreamQuery:
        return self.streams[0]

    @property
    def secondary(self) -> tuple[StreamQuery, ...]:
        return self.streams[1:]

    @property
    def time_range(self) -> TimeRange:
        """``[start, stop]`` as the half-open range the store speaks."""
        return TimeRange(self.start, float(math.nextafter(self.stop, math.inf)))

    def describe(self) -> dict[str, Any]:
        """The query as JSON-serialisable data (the original's ``query_parameter_provenance``)."""
        from stream_engine.engine.resolve import ntp_iso

        return {
            "requested_streams": [
                {"subsite": s.key.subsite, "node": s.key.node, "sensor": s.key.sensor,
                 "method": s.key.method, "stream": s.key.stream, "parameters": list(s.parameters)}
                for s in self.streams
            ],
            "begin": self.start, "beginDT": ntp_iso(self.start),
            "end": self.stop, "endDT": ntp_iso(self.stop),
            "limit": self.limit,
            "include_provenance": self.include_provenance,
            "include_annotations": self.include_annotations,
            "execute_dpa": self.execute_dpa,
            "require_deployment": self.require_deployment,
            "raw_data_only": self.raw_data_only,
            "run_qartod": self.run_qartod,
            "strict_range": self.strict_range,
            "qc_parameters": _thawed(self.qc_parameters),
            "query_uuid": self.request_uuid,
        }


def _frozen(value: Any) -> Any:
    if isinstance(value, Mapping):
        return MappingProxyType({k: _frozen(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(_frozen(v) for v in value)
    return value


def _thawed(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _thawed(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [_thawed(v) for v in value]
    return value


def now_ntp() -> float:
    """The current time in NTP seconds."""
    return time.time() + NTP_UNIX_OFFSET


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _flag(body: Mapping[str, Any], name: str, default: bool) -> bool:
    value = body.get(name)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise InvalidQuery(f"{name} must be true or false, got {value!r}", field=name)
    return value


def _text(body: Mapping[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidQuery(f"{name} must be a string, got {value!r}", field=name)
    return value


def _time(body: Mapping[str, Any], name: str, default: float) -> float:
    value = body.get(name)
    if value is None:
        return default
    if not _is_number(value) or not math.isfinite(value):
        raise InvalidQuery(f"{name} must be a number of NTP seconds (since 1900-01-01), got {value!r}",
                           field=name)
    return float(value)


def _limit(body: Mapping[str, Any], hard_limit: int) -> int | None:
    value = body.get("limit")
    if value is None:
        return None
    if not _is_number(value) or not math.isfinite(value) or int(value) != value:
        raise InvalidQuery(f"limit must be a whole number of records, got {value!r}", field="limit")
    limit = int(value)
    if limit in (0, -1):
        return None
    if limit < 0:
        raise InvalidQuery(f"limit must be positive (or 0 / -1 for no limit), got {limit}", field="limit")
    if limit > hard_limit:
        raise QueryTooLarge(
            f"limit {limit} is over this server's hard limit of {hard_limit} records (UI_HARD_LIMIT); "
            f"ask for at most {hard_limit}, or leave limit out to get every record",
            field="limit",
        )
    return limit


def _request_uuid(body: Mapping[str, Any]) -> str | None:
    value = _text(body, "requestUUID")
    if value is not None and (not value or len(value) > MAX_REQUEST_UUID
                              or not value.isprintable() or not value.isascii()):
        raise InvalidQuery(
            f"requestUUID must be 1 to {MAX_REQUEST_UUID} printable ASCII characters, got {value[:60]!r}",
            field="requestUUID",
        )
    return value


class _StreamParser:
    def __init__(self, preload: Preload):
        self.preload = preload
        self._by_id: dict[int, StreamDefinition] | None = None

    def definition(self, value: Any, where: str) -> StreamDefinition:
        if isinstance(value, str) and value in self.preload.streams:
            return self.preload.streams[value]
        text = str(value).strip() if _is_number(value) or isinstance(value, str) else ""
        if text.upper().startswith("DICT"):
            text = text[4:]
        if text.isdigit():
            if self._by_id is None:
                self._by_id = {d.id: d for d in self.preload.streams.values()}
            found = self._by_id.get(int(text))
            if found is not None:
                return found
        raise InvalidQuery(f"unknown stream {value!r}: not a stream name or id of the preload dictionary",
                           field=where)

    def parameter_id(self, value: Any, where: str) -> int:
        text = str(value).strip() if (_is_number(value) and int(value) == value) or isinstance(value, str) else ""
        if text.upper().startswith("PD"):
            text = text[2:]
        if text.endswith(".0"):
            text = text[:-2]
        if not text.isdigit():
            raise InvalidQuery(f"a parameter is a preload id (2327 or \"PD2327\"), got {value!r}", field=where)
        pid = int(text)
        if pid not in self.preload.parameters:
            raise InvalidQuery(f"unknown parameter PD{pid}: not in the preload dictionary", field=where)
        return pid

    def stream(self, entry: Any, index: int) -> StreamQuery:
        where = f"streams[{index}]"
        if not isinstance(entry, Mapping):
            raise InvalidQuery(f"{where} must be an object with subsite, node, sensor, method, stream and "
                               f"parameters, got {entry!r}", field=where)
        parts = []
        for name in KEY_FIELDS:
            value = entry.get(name)
            if not isinstance(value, str) or not value.strip() or "/" in value:
                raise InvalidQuery(f"{where}.{name} must be a non-empty string without '/', got {value!r}",
                                   field=f"{where}.{name}")
            parts.append(value.strip())
        if entry.get("stream") is None:
            raise InvalidQuery(f"{where}.stream is missing (a stream name or id)", field=f"{where}.stream")
        definition = self.definition(entry["stream"], f"{where}.stream")
        raw = entry.get("parameters")
        if raw is None:
            raw = []
        if not isinstance(raw, list | tuple):
            raise InvalidQuery(f"{where}.parameters must be a list of preload ids, got {raw!r}",
                               field=f"{where}.parameters")
        ids: list[int] = []
        for i, value in enumerate(raw):
            pid = self.parameter_id(value, f"{where}.parameters[{i}]")
            if pid not in definition.parameter_ids:
                raise InvalidQuery(
                    f"parameter PD{pid} ({self.preload.parameters[pid].name}) is not in stream "
                    f"{definition.name!r}", field=f"{where}.parameters[{i}]")
            if pid not in ids:
                ids.append(pid)
        if index > 0 and not ids:
            raise InvalidQuery(f"{where}.parameters must name the parameters to interpolate from stream "
                               f"{definition.name!r} (only the first stream may leave them out)",
                               field=f"{where}.parameters")
        subsite, node, sensor, method = parts
        return StreamQuery(StreamKey(subsite, node, sensor, method, definition.name), definition.id, tuple(ids))


def parse_query(
    body: bytes | str | Mapping[str, Any],
    preload: Preload,
    settings: Mapping[str, Any],
    *,
    now: float | None = None,
) -> Query:
    """Check a request body and return it as a :class:`Query`.

    Parameters
    ----------
    body
        The JSON text, or the already decoded object.
    preload
        The dictionary streams and parameters are checked against.
    settings
        ``UNBOUND_QUERY_START``, ``REQUIRE_DEPLOYMENT`` and ``UI_HARD_LIMIT``.
    now
        NTP seconds used for a missing ``stop`` (default: the clock).

    Returns
    -------
    Query

    Raises
    ------
    InvalidQuery
        Malformed JSON, a missing or bad field, an unknown stream or parameter, a parameter not
        in its stream, ``start`` after ``stop``, a bad ``limit``; ``field`` names the field.
    QueryTooLarge
        ``limit`` above ``UI_HARD_LIMIT``.
    """
    if isinstance(body, bytes | str):
        try:
            body = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise InvalidQuery(f"the request body is not valid JSON: {exc}", field="body") from None
    if not isinstance(body, Mapping):
        raise InvalidQuery("the request body must be a JSON object with a 'streams' list", field="body")
    streams = body.get("streams")
    if not isinstance(streams, list) or not streams:
        raise InvalidQuery("streams must be a non-empty list (the first stream is the primary one)",
                           field="streams")
    parser = _StreamParser(preload)
    parsed = tuple(parser.stream(entry, i) for i, entry in enumerate(streams))
    start = _time(body, "start", float(settings["UNBOUND_QUERY_START"]))
    stop = _time(body, "stop", now_ntp() if now is None else now)
    if start > stop:
        raise InvalidQuery(f"bad time range: start {start!r} is after stop {stop!r} (NTP seconds)",
                           field="start")
    raw_only = _flag(body, "raw_data_only", False)
    qc = body.get("qcParameters", body.get("qc_parameters"))
    if qc is not None and not isinstance(qc, list | Mapping):
        raise InvalidQuery(f"qcParameters must be a list of QC parameter records, got {qc!r}",
                           field="qcParameters")
    return Query(
        streams=parsed,
        start=start,
        stop=stop,
        limit=_limit(body, int(settings["UI_HARD_LIMIT"])),
        include_provenance=_flag(body, "include_provenance", False),
        include_annotations=_flag(body, "include_annotations", False),
        execute_dpa=_flag(body, "execute_dpa", True) and not raw_only,
        require_deployment=_flag(body, "require_deployment", bool(settings["REQUIRE_DEPLOYMENT"]))
        and not raw_only,
        raw_data_only=raw_only,
        run_qartod=_flag(body, "run_qartod", False),
        strict_range=_flag(body, "strict_range", False),
        qc_parameters=_frozen(qc if isinstance(qc, list) else [qc] if qc else []),
        request_uuid=_request_uuid(body),
        directory=_text(body, "directory"),
        async_job=_text(body, "async_job"),
        classic=_flag(body, "classic", False),
        format=_text(body, "format"),
    )
