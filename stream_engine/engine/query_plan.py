"""What a query would use, without reading data: plans, ``/needs`` and ``/estimate``.

:func:`plan_query` resolves a plan for every stream of a query (only index calls: columns,
coverage, asset events), with the parameters that cannot be produced and why. It is the first
step of :class:`~stream_engine.engine.query_run.QueryRun`, and alone answers ``/needs``
(:func:`query_needs`). :func:`estimate_query` sizes a response from the partition index.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from stream_engine.engine.resolve import resolve

if TYPE_CHECKING:
    from stream_engine.engine.plan import Plan
    from stream_engine.engine.query import Query, StreamQuery
    from stream_engine.preload.model import Preload
    from stream_engine.store.base import Store, StreamKey, TimeRange

TIME_ID = 7
#: Bytes assumed per string value when sizing a response.
STRING_BYTES = 32


@dataclass(frozen=True, slots=True)
class StreamPlan:
    """One stream of a query: its plan (``None`` when the store holds none of its data) and the
    requested parameters it cannot produce, each ``{"stream", "parameter_id", "name", "reason"}``."""

    stream: StreamQuery
    plan: Plan | None
    unavailable: tuple[dict[str, Any], ...]


def _missing(key: StreamKey, pid: int | None, name: str, reason: str) -> dict[str, Any]:
    return {"stream": key.path, "parameter_id": pid, "name": name, "reason": reason}


def _plan_stream(view: Store, preload: Preload, query: Query, stream: StreamQuery,
                 settings: Mapping[str, Any]) -> StreamPlan:
    key = stream.key
    ids = list(stream.parameters) or list(preload.streams[key.stream].parameter_ids)
    missing: list[dict[str, Any]] = []
    if not query.execute_dpa:
        products = [pid for pid in ids if pid in preload.parameters and preload.parameters[pid].is_function]
        missing += [_missing(key, pid, preload.parameters[pid].name,
                             "execute_dpa is false: products are not computed") for pid in products]
        ids = [pid for pid in ids if pid not in products]
    if view.coverage(key) is None:
        missing += [_missing(key, pid, preload.parameters[pid].name, f"stream {key} holds no data")
                    for pid in ids if pid != TIME_ID]
        return StreamPlan(stream, None, tuple(missing))
    plan = resolve(view, preload, key, ids or [TIME_ID], query.time_range, settings=settings)
    missing += [_missing(key, item.parameter_id, item.name, item.reason)
                for item in plan.unavailable if item.parameter_id in plan.requested]
    return StreamPlan(stream, plan, tuple(missing))


def plan_query(view: Store, preload: Preload, query: Query, settings: Mapping[str, Any]) -> list[StreamPlan]:
    """A :class:`StreamPlan` for every stream of ``query``, the primary first. Reads no data."""
    return [_plan_stream(view, preload, query, stream, settings) for stream in query.streams]


def query_needs(store: Store, preload: Preload, query: Query, settings: Mapping[str, Any]) -> dict[str, Any]:
    """The body of ``/needs``: each stream's resolved plan, and what is unavailable and why."""
    with store.snapshot() as view:
        planned = plan_query(view, preload, query, settings)
    return {
        "streams": [
            {"stream": sp.stream.key.path, "primary": i == 0,
             "requested": list(sp.stream.parameters),
             "plan": None if sp.plan is None else sp.plan.to_dict(),
             "unavailable": list(sp.unavailable)}
            for i, sp in enumerate(planned)
        ],
        "unavailable": [u for sp in planned for u in sp.unavailable],
        "requestUUID": query.request_uuid,
    }


def records_in_range(store: Store, key: StreamKey, time_range: TimeRange) -> int:
    """Records of ``key`` in ``time_range`` estimated from the partition index alone: whole
    partitions counted, partitions cut by an edge prorated by the share of their span inside."""
    total = 0.0
    for part in store.partitions(key):
        if part.last < time_range.start or part.first >= time_range.stop:
            continue
        span = part.last - part.first
        if span <= 0 or (time_range.start <= part.first and part.last < time_range.stop):
            total += part.count
            continue
        inside = min(part.last, time_range.stop) - max(part.first, time_range.start)
        total += part.count * max(0.0, inside) / span
    return int(math.ceil(total))


def _value_bytes(dtype: np.dtype, shape: tuple[int, ...] = ()) -> int:
    size = STRING_BYTES if dtype.kind in "UO" else dtype.itemsize
    return size * int(np.prod(shape, dtype=np.int64))


def estimate_query(store: Store, preload: Preload, query: Query, settings: Mapping[str, Any]) -> dict[str, Any]:
    """The body of ``/estimate``, from the partition index and column metadata, reading no data.

    ``size`` is the bytes of the response's values (records x the width of the requested
    parameters, the binary size of a NetCDF export), ``time`` the seconds to produce it at
    ``ESTIMATE_RECORDS_PER_SECOND`` counting every stream read.
    """
    with store.snapshot() as view:
        planned = plan_query(view, preload, query, settings)
        primary = query.primary.key
        records = records_in_range(view, primary, query.time_range)
        if query.limit is not None:
            records = min(records, query.limit)
        width = _value_bytes(np.dtype("f8")) + _value_bytes(np.dtype("i4"))
        streams: list[dict[str, Any]] = []
        read = 0
        seen: set[StreamKey] = set()
        for sp in planned:
            if sp.plan is None:
                continue
            stored = view.columns(sp.stream.key)
            for pid in sp.plan.requested:
                p = preload.parameters[pid]
                if pid == TIME_ID or sp.plan.reason(pid) is not None:
                    continue
                shape = stored[p.name].shape if p.name in stored else ()
                width += _value_bytes(p.dtype, shape)
            keys = {sp.stream.key, *(e.key for e in sp.plan.externals)} - seen
            seen |= keys
            for key in sorted(keys):
                count = records_in_range(view, key, query.time_range)
                streams.append({"stream": key.path, "records": count})
                read += count
    seconds = read / float(settings["ESTIMATE_RECORDS_PER_SECOND"])
    return {"size": records * width, "time": round(seconds, 3), "records": records,
            "bytes_per_record": width, "streams": streams}
