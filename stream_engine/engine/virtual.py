"""Virtual streams: streams whose records are computed from another stream (``metbk_hourly``).

A preload stream with source streams (``streamdependency``) and its own temporal parameter is
virtual: it is never stored. :class:`VirtualStreams` wraps a store so that such a stream exists
wherever one of its source streams holds data (same subsite, node, sensor and method) and reads
like a stored one, so DAP, the JSON API and exports serve it with no special case:

* its records are the values of the temporal parameter's function on the source records
  (``met_timeflx``: one record per non-empty hour), computed per deployment from the deployment's
  first source record, as the original engine computed them for a request covering the
  deployment; so a record's index and values do not depend on the window asked for;
* its columns are ``time``, ``deployment`` and every other parameter of the stream. A parameter
  is computed by its function on *all* the source records of the deployment (inputs named by its
  function map: source parameters, products of the source stream computed by the engine, the
  deployment's calibrations), returning one value per virtual record;
* resolution reads a virtual stream's parameters as columns (:mod:`stream_engine.engine.resolve`).

The partition index (counts per bin) needs only the source times; product columns are computed
for whole deployments and kept per process (bounded) under the store's change token. A parameter
that cannot be computed for a deployment (missing calibration, input or implementation) is
missing there; the reasons are in :meth:`VirtualStreams.reasons`.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from stream_engine import assets
from stream_engine.engine.calibrate import deployment_groups, record_deployments, tile_calibration
from stream_engine.engine.compute_inputs import fill_for
from stream_engine.preload.model import Calibration, Constant, ParameterRef
from stream_engine.store.base import (
    DEPLOYMENT,
    TIME,
    ColumnInfo,
    IndexRange,
    Partition,
    Store,
    StreamCoverage,
    StreamKey,
    TimeRange,
)
from stream_engine.store.wrapper import WrapperStore

if TYPE_CHECKING:
    from stream_engine.preload.model import Parameter, Preload, StreamDefinition

_KEPT = 8  # deployments of virtual streams whose computed columns a process keeps


@dataclass
class _Deployment:
    """The virtual records of one deployment: their times, and columns computed so far."""

    number: int
    times: np.ndarray
    source_range: TimeRange
    columns: dict[str, np.ndarray] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)


class _Memory:
    """Virtual records computed so far, shared by a store and its snapshots' views."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.kept: OrderedDict[tuple[Any, ...], list[_Deployment]] = OrderedDict()


class VirtualStreams(WrapperStore):
    """``inner`` plus the virtual streams of ``preload`` computed from its streams."""

    def __init__(self, inner: Store, preload: Preload, settings: Mapping[str, Any],
                 memory: _Memory | None = None) -> None:
        self.inner = inner
        self.backend = getattr(inner, "backend", Store.backend)
        self.preload = preload
        self.settings = settings
        self.virtual: dict[str, StreamDefinition] = {d.name: d for d in preload.streams.values() if d.is_virtual}
        self._by_source: dict[str, list[str]] = {}
        for d in self.virtual.values():
            for source in d.source_streams:
                self._by_source.setdefault(source, []).append(d.name)
        self._memory = memory or _Memory()
        self._lock = self._memory.lock
        self._kept = self._memory.kept

    # -- which streams exist ---------------------------------------------------------------

    def _source_key(self, key: StreamKey) -> StreamKey | None:
        definition = self.virtual.get(key.stream)
        if definition is None:
            return None
        for source in definition.source_streams:
            candidate = StreamKey(key.subsite, key.node, key.sensor, key.method, source)
            if self.inner.coverage(candidate) is not None:
                return candidate
        return None

    def streams(self) -> list[StreamCoverage]:
        # docstring inherited
        found = self.inner.streams()
        extra = []
        for cov in found:
            for name in self._by_source.get(cov.key.stream, ()):
                vkey = StreamKey(cov.key.subsite, cov.key.node, cov.key.sensor, cov.key.method, name)
                virtual = self.coverage(vkey)
                if virtual is not None:
                    extra.append(virtual)
        return sorted([*found, *extra], key=lambda c: c.key.path)

    def _deployments(self, key: StreamKey) -> list[_Deployment]:
        """The virtual records of every deployment of ``key`` (empty if it is not virtual)."""
        source = self._source_key(key)
        if source is None:
            return []
        cache_key = (id(self._memory), self.inner.change_token(), key)
        if cache_key[1] is not None:
            with self._lock:
                if cache_key in self._kept:
                    self._kept.move_to_end(cache_key)
                    return self._kept[cache_key]
        raw = self.inner.read(source, [])
        deps = assets.deployments(self.inner, source.refdes)
        numbers, _ = record_deployments(deps, raw[TIME], raw[DEPLOYMENT])
        out = []
        time_fn = self._temporal_algorithm(key)
        for number in np.unique(numbers):
            t = raw[TIME][numbers == number]
            times = np.asarray(time_fn.compute({"timestamp": t}), dtype=np.float64)
            out.append(_Deployment(int(number), times, TimeRange(float(t[0]), float(np.nextafter(t[-1], np.inf)))))
        out.sort(key=lambda d: float(d.times[0]) if len(d.times) else np.inf)
        if cache_key[1] is not None:
            with self._lock:
                self._kept[cache_key] = out
                while len(self._kept) > _KEPT:
                    self._kept.popitem(last=False)
        return out

    def _temporal_algorithm(self, key: StreamKey) -> Any:
        from stream_engine.functions import lookup

        definition = self.virtual[key.stream]
        p = self.preload.parameters[definition.temporal_parameter or 7]
        fn = self.preload.function(p.function_id) if p.function_id is not None else None
        if fn is None:
            raise ValueError(f"virtual stream {key.stream} has no temporal function")
        return lookup(fn.owner, fn.function)

    def partitions(self, key: StreamKey) -> list[Partition]:
        # docstring inherited
        if key.stream not in self.virtual:
            return self.inner.partitions(key)
        times = self._times(key)
        if len(times) == 0:
            return []
        bin_seconds = self.preload.stream(key.stream).bin_seconds
        bins = (times // bin_seconds).astype(np.int64) * bin_seconds
        edges = np.flatnonzero(np.diff(bins)) + 1
        starts, stops = np.r_[0, edges], np.r_[edges, len(times)]
        return [Partition(int(bins[a]), int(b - a), float(times[a]), float(times[b - 1]))
                for a, b in zip(starts, stops, strict=True)]

    def _times(self, key: StreamKey) -> np.ndarray:
        deps = self._deployments(key)
        return np.concatenate([d.times for d in deps]) if deps else np.empty(0)

    def columns(self, key: StreamKey) -> dict[str, ColumnInfo]:
        # docstring inherited
        if key.stream not in self.virtual:
            return self.inner.columns(key)
        if self._source_key(key) is None:
            return {}
        out = {TIME: ColumnInfo(TIME, "<f8"), DEPLOYMENT: ColumnInfo(DEPLOYMENT, "<i4")}
        for p in self._parameters(key):
            out[p.name] = ColumnInfo(p.name, p.dtype.str)
        return out

    def _parameters(self, key: StreamKey) -> list[Parameter]:
        definition = self.virtual[key.stream]
        skip = {definition.temporal_parameter, 7}
        return [self.preload.parameters[i] for i in definition.parameter_ids
                if i not in skip and i in self.preload.parameters and self.preload.parameters[i].is_function]

    def coverage(self, key: StreamKey) -> StreamCoverage | None:
        # docstring inherited
        if key.stream not in self.virtual:
            return self.inner.coverage(key)
        times = self._times(key)
        if len(times) == 0:
            return None
        return StreamCoverage(key, len(times), float(times[0]), float(times[-1]))

    def reasons(self, key: StreamKey) -> dict[str, str]:
        """Why parameters of a virtual stream are missing, by name (for the deployments computed)."""
        out: dict[str, str] = {}
        for dep in self._deployments(key):
            for name, reason in dep.reasons.items():
                out[name] = f"{out[name]}; {reason}" if name in out else reason
        return out

    # -- reading ----------------------------------------------------------------------------

    def read(
        self,
        key: StreamKey,
        columns: Sequence[str] | None = None,
        *,
        time_range: TimeRange | None = None,
        index_range: IndexRange | None = None,
    ) -> dict[str, np.ndarray]:
        # docstring inherited
        if key.stream not in self.virtual:
            return self.inner.read(key, columns, time_range=time_range, index_range=index_range)
        deps = self._deployments(key)
        times = self._times(key)
        numbers = np.concatenate([np.full(len(d.times), d.number, np.int32) for d in deps]) if deps \
            else np.empty(0, np.int32)
        if index_range is not None:
            sel = np.arange(index_range.start, min(index_range.stop, len(times)))
        elif time_range is not None:
            sel = np.flatnonzero((times >= time_range.start) & (times < time_range.stop))
        else:
            sel = np.arange(len(times))
        names = [c for c in (columns if columns is not None else self.columns(key)) if c not in (TIME, DEPLOYMENT)]
        out: dict[str, np.ndarray] = {TIME: times[sel], DEPLOYMENT: numbers[sel]}
        by_name = {p.name: p for p in self._parameters(key)}
        offsets = np.cumsum([0, *(len(d.times) for d in deps)])
        for name in names:
            p = by_name.get(name)
            if p is None:
                raise KeyError(f"{key} has no column {name!r}")
            column = np.full(len(times), fill_for(p), dtype=p.dtype)
            for i, dep in enumerate(deps):
                a, b = offsets[i], offsets[i + 1]
                if not np.any((sel >= a) & (sel < b)):
                    continue
                column[a:b] = self._column(key, dep, p)
            out[name] = column[sel]
        return out

    def _column(self, key: StreamKey, dep: _Deployment, p: Parameter) -> np.ndarray:
        with self._lock:
            found = dep.columns.get(p.name)
        if found is not None:
            return found
        values, reason = self._compute(key, dep, p)
        with self._lock:
            dep.columns[p.name] = values
            if reason:
                dep.reasons[p.name] = f"deployment {dep.number}: {reason}"
        return values

    def _compute(self, key: StreamKey, dep: _Deployment, p: Parameter) -> tuple[np.ndarray, str | None]:
        """Parameter ``p`` on the virtual records of one deployment, or fill and the reason."""
        from stream_engine.engine.compute import compute
        from stream_engine.engine.resolve import resolve
        from stream_engine.functions import lookup

        n = len(dep.times)
        missing = np.full(n, fill_for(p), dtype=p.dtype)
        source = self._source_key(key)
        if source is None or p.function_id is None:
            return missing, "no source stream"
        fn = self.preload.function(p.function_id)
        try:
            algorithm = lookup(fn.owner, fn.function)
        except KeyError:
            return missing, f"no implementation registered for {fn.qualified_name}"
        fmap = p.function_map or {}
        wanted = sorted({s.id for s in fmap.values() if isinstance(s, ParameterRef) and s.id != 7})
        plan = resolve(self.inner, self.preload, source, wanted, dep.source_range, settings=self.settings)
        unavailable = [u for u in plan.unavailable if u.parameter_id in wanted]
        if unavailable:
            return missing, "; ".join(f"input {u.name}: {u.reason}" for u in unavailable)
        got = compute(self.inner, self.preload, plan, time_range=dep.source_range, settings=self.settings,
                      require_deployment=False)
        mine = got.deployment == dep.number
        t = got.time[mine]
        kwargs: dict[str, Any] = {}
        deps = assets.deployments(self.inner, source.refdes)
        groups = deployment_groups(np.full(len(t), dep.number, np.int32), np.ones(len(t), dtype=bool))
        for name, src in fmap.items():
            if name not in algorithm.parameters:
                continue
            if isinstance(src, Constant):
                kwargs[name] = src.value
            elif isinstance(src, Calibration):
                tiled = tile_calibration(src.name, deps, t, groups)
                if not tiled.available.all():
                    return missing, tiled.reason or f"missing calibration {src.name}"
                kwargs[name] = tiled.values
            elif isinstance(src, ParameterRef) and src.id == 7:
                kwargs[name] = t
            elif isinstance(src, ParameterRef):
                values = got[self.preload.parameters[src.id].name][mine]
                kwargs[name] = values.astype(np.float64) if values.dtype.kind in "iu" else values
            else:
                return missing, f"argument {name}: source {src!r} is not supported for virtual streams"
        try:
            result = np.asarray(algorithm.compute(kwargs))
        except Exception as exc:  # one failing algorithm leaves the others computed
            return missing, f"{type(exc).__name__}: {exc}"
        if result.shape[:1] != (n,):
            return missing, f"{fn.qualified_name} gave {result.shape[0]} values for {n} records"
        if p.dtype.kind == "f":
            return result.astype(p.dtype), None
        out = missing.copy()
        ok = np.isfinite(result)
        out[ok] = result[ok].astype(p.dtype)
        return out, None

    # -- views -------------------------------------------------------------------------------

    def change_token(self) -> Any:
        # docstring inherited
        return self.inner.change_token()

    def stream_token(self, key: StreamKey) -> Any:
        """A virtual stream changes with its source stream (docstring of the base otherwise)."""
        source = self._source_key(key) if key.stream in self.virtual else None
        return self.inner.stream_token(source if source is not None else key)

    def read_columns(self, key: StreamKey, columns: Sequence[str], *, index_range: IndexRange) -> dict[str, np.ndarray]:
        # docstring inherited
        if key.stream not in self.virtual:
            return self.inner.read_columns(key, columns, index_range=index_range)
        got = self.read(key, columns, index_range=index_range)
        return {name: got[name] for name in columns}

    def read_column_pieces(
        self, key: StreamKey, columns: Sequence[str], *, index_range: IndexRange
    ) -> list[dict[str, np.ndarray]]:
        # docstring inherited
        if key.stream not in self.virtual:
            return self.inner.read_column_pieces(key, columns, index_range=index_range)
        return [self.read_columns(key, columns, index_range=index_range)]

    @contextmanager
    def snapshot(self) -> Iterator[Store]:
        # docstring inherited
        with self.inner.snapshot() as view:
            yield VirtualStreams(view, self.preload, self.settings, self._memory)


__all__ = ["VirtualStreams"]
