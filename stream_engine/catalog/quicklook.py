"""The values of one variable over a time range, decimated for a quick-look plot.

Stored parameters are read partition group by partition group (bounded memory whatever the
range): each group is reduced with ``tsdownsample``'s min-max (which keeps every extreme of
its buckets), and the union goes through LTTB down to the requested number of points: the
MinMaxLTTB scheme, applied per group. Products are computed with the engine
(:func:`~stream_engine.engine.compute.compute`, ``require_deployment=False``) on at most
``compute_records`` records of the range, evenly strided by index when the range holds more;
the result says so (``stride``). Missing values (NaN, integer fills) are left out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from tsdownsample import LTTBDownsampler, MinMaxDownsampler

from stream_engine import assets
from stream_engine.engine.compute import compute
from stream_engine.engine.resolve import resolve
from stream_engine.errors import BadRequest, NotFound
from stream_engine.preload.fill_values import fill_value_for, missing_mask
from stream_engine.store.base import DEPLOYMENT, TIME, IndexRange, TimeRange

if TYPE_CHECKING:
    from stream_engine.preload.model import Parameter, Preload
    from stream_engine.store.base import Partition, Store, StreamKey

#: Records read at once from the store for a stored parameter.
READ_RECORDS = 2_000_000


@dataclass(frozen=True, slots=True)
class Series:
    """A decimated series and what it stands for.

    Attributes
    ----------
    time, values
        NTP seconds and float64 values of the points kept, in time order.
    records
        Records of the stream in the range (partition index).
    used
        Records whose values the points were chosen from (``records``, or fewer for a
        product computed on every ``stride``-th record).
    deployments
        ``(number, start, stop)`` of the deployments overlapping the range (``stop`` may be None).
    """

    name: str
    label: str
    units: str
    time: np.ndarray
    values: np.ndarray
    records: int
    used: int
    stride: int
    start: float
    stop: float
    deployments: Sequence[tuple[int, float, float | None]] = field(default=())


def _find(preload: Preload, key: StreamKey, columns: Mapping[str, Any], name: str
          ) -> tuple[Parameter | None, str]:
    """The dictionary parameter (or ``None`` for an undescribed stored column) named ``name``."""
    for p in preload.stream_parameters(key.stream):
        if name in (p.netcdf_name or p.name, p.name):
            return p, p.name
    if name in columns and name not in (TIME, DEPLOYMENT):
        return None, name
    raise NotFound(f"stream {key.stream!r} has no variable {name!r}; the stream page lists them")


def _even(n: float) -> int:
    return max(4, 2 * math.ceil(n / 2))


def _reduce(x: np.ndarray, y: np.ndarray, n_out: int) -> tuple[np.ndarray, np.ndarray]:
    """Drop missing values, then min-max down to about ``n_out`` points (first and last kept)."""
    keep = np.isfinite(y)
    if not keep.all():
        x, y = x[keep], y[keep]
    if len(x) <= n_out:
        return x, y
    index = MinMaxDownsampler().downsample(x, y, n_out=_even(n_out))
    index = np.unique(np.concatenate(([0], index, [len(x) - 1])).astype(np.int64))
    return x[index], y[index]


def _lttb(x: np.ndarray, y: np.ndarray, points: int) -> tuple[np.ndarray, np.ndarray]:
    if len(x) <= points:
        return x, y
    index = LTTBDownsampler().downsample(x, y, n_out=max(3, points))
    return x[index], y[index]


def _overlapping(parts: Sequence[Partition], start: float, stop: float) -> list[Partition]:
    return [p for p in parts if p.last >= start and p.first < stop]


def _as_float(values: np.ndarray, p: Parameter | None) -> np.ndarray:
    """Floating-point values (float32 stays float32) with integer fills as NaN."""
    values = np.asarray(values)
    if values.dtype.kind == "f":
        return values
    out = values.astype(np.float64)
    if values.dtype.kind in "iu" and p is not None:
        fill = fill_value_for(p.value_encoding, "" if p.fill_value is None else str(p.fill_value))
        out[missing_mask(values, fill)] = np.nan
    return out


def _stored(view: Store, key: StreamKey, column: str, p: Parameter | None, parts: list[Partition],
            start: float, stop: float, points: int, records: int) -> tuple[np.ndarray, np.ndarray]:
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    group: list[Partition] = []

    def flush() -> None:
        if not group:
            return
        window = TimeRange(max(start, group[0].first), min(stop, float(np.nextafter(group[-1].last, np.inf))))
        got = view.read(key, [column], time_range=window)
        n = len(got[TIME])
        x, y = _reduce(got[TIME], _as_float(got[column], p), 8 * points * n / max(records, 1))
        xs.append(x)
        ys.append(y)
        group.clear()

    for part in parts:
        if group and sum(g.count for g in group) + part.count > READ_RECORDS:
            flush()
        group.append(part)
    flush()
    if not xs:
        return np.empty(0), np.empty(0)
    return np.concatenate(xs), np.concatenate(ys)


def _product(view: Store, preload: Preload, key: StreamKey, p: Parameter, all_parts: Sequence[Partition],
             start: float, stop: float, settings: Mapping[str, Any], limit: int
             ) -> tuple[np.ndarray, np.ndarray, int, int]:
    plan = resolve(view, preload, key, [p.id], TimeRange(start, stop), settings=settings)
    reason = plan.reason(p.id)
    if reason is not None:
        raise BadRequest(f"{p.name} cannot be computed for this range: {reason}")
    first = last = None
    offset = 0
    for part in all_parts:
        if part.last >= start and part.first < stop:
            first = offset if first is None else first
            last = offset + part.count
        offset += part.count
    if first is None or last is None:
        return np.empty(0), np.empty(0), 0, 1
    stride = max(1, math.ceil((last - first) / max(limit, 1)))
    out = compute(view, preload, plan, index_range=IndexRange(first, last, stride), settings=settings,
                  require_deployment=False, use_cache=False)
    t = np.asarray(out[TIME])
    inside = (t >= start) & (t < stop)
    return t[inside], _as_float(np.asarray(out[p.name])[inside], p), int(inside.sum()), stride


def quicklook_series(
    view: Store,
    preload: Preload,
    key: StreamKey,
    name: str,
    time_range: TimeRange,
    *,
    settings: Mapping[str, Any],
    points: int = 2000,
    compute_records: int = 200_000,
) -> Series:
    """The decimated series of variable ``name`` (DAP/NetCDF name) of a stream over a range.

    Parameters
    ----------
    view
        A store snapshot.
    preload, key
        The dictionary and the stream.
    name
        The variable: a stored parameter or a product, by its NetCDF name (or preload name).
    time_range
        The range (NTP seconds, stop excluded).
    settings
        Engine settings (resolution and computation of products).
    points
        Points to keep (LTTB's output size).
    compute_records
        Most records of a product computed for one plot.

    Raises
    ------
    NotFound
        No such variable, or the stream holds no data.
    BadRequest
        The variable is not a numeric scalar, or a product cannot be computed in the range.
    """
    if view.coverage(key) is None:
        raise NotFound(f"no stream {key.path!r} holds data in this store")
    columns = view.columns(key)
    p, column = _find(preload, key, columns, name)
    start, stop = time_range.start, time_range.stop
    all_parts = view.partitions(key)
    parts = _overlapping(all_parts, start, stop)
    records = sum(part.count for part in parts)
    if p is not None and (p.is_array or p.dimensions or p.dtype.kind not in "iuf"):
        raise BadRequest(f"{name!r} is not a numeric scalar variable, so it has no quick-look plot")
    if p is not None and p.is_function:
        x, y, used, stride = _product(view, preload, key, p, all_parts, start, stop, settings,
                                      compute_records)
        x, y = _reduce(x, y, 4 * points)
    else:
        info = columns.get(column)
        if info is None:
            raise NotFound(f"the store holds no values of {name!r} for stream {key.path}")
        if info.shape or np.dtype(info.dtype).kind not in "iuf":
            raise BadRequest(f"{name!r} is not a numeric scalar variable, so it has no quick-look plot")
        x, y = _stored(view, key, column, p, parts, start, stop, points, records)
        used, stride = records, 1
    x, y = _lttb(x, y, points)
    deployments = [
        (d.number, d.start, d.stop) for d in assets.deployments(view, key.refdes)
        if d.start < stop and (d.stop is None or d.stop > start)
    ]
    label = (p.display_name or p.long_name or p.name) if p is not None else name
    return Series(name=name, label=label, units=p.units if p is not None else "", time=x,
                  values=np.asarray(y, dtype=np.float64),
                  records=records, used=used, stride=stride, start=start, stop=stop,
                  deployments=deployments)
