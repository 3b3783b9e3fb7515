"""Running a :class:`~stream_engine.engine.query.Query`: results in bounded chunks of records.

:func:`open_query` takes one :meth:`Store.snapshot() <stream_engine.store.base.Store.snapshot>`
and keeps it for the whole run, so every chunk, every input from another stream and the asset
events come from one committed state. It then, before any result leaves:

1. maps the requested time range to a record index range of the primary stream through the
   partition index (reading the ``time`` column of at most the two edge partitions);
2. resolves a plan for the primary stream (:func:`~stream_engine.engine.resolve.resolve`) and
   one for each further stream, whose parameters are interpolated onto the primary's times
   as external inputs (:mod:`stream_engine.engine.compute_inputs`);
3. computes the first non-empty chunk, so "no data in range" (404) is known before a response
   starts.

:meth:`QueryRun.chunks` then yields :class:`QueryChunk` objects of at most
``QUERY_CHUNK_RECORDS`` records (computed window by window with
:func:`~stream_engine.engine.compute.compute`), named by output name (the preload
``netcdf_name``; ``<stream>-<netcdf_name>`` for further streams), so JSON and export writers can
stream. The primary stream's coordinates (``Plan.positions``: ``lat``/``lon``/``depth`` of a
fixed platform's deployment, a glider's interpolated GPS position, ``int_ctd_pressure``...) follow
its parameters under the names DAP serves them by (output variables without a ``parameter``).
With ``limit``, each window keeps its share of the limit, chosen by min-max/LTTB decimation
(``tsdownsample``) of the first requested numeric parameter, so the returned points keep the signal's shape over the whole range; ranges much longer than the limit are first
thinned to every k-th record (at most ``LIMIT_CANDIDATES`` per kept point).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from stream_engine.engine.compute import compute
from stream_engine.engine.compute_inputs import external_inputs, fill_for
from stream_engine.engine.plan import ExternalInput, Plan
from stream_engine.engine.query_plan import plan_query
from stream_engine.engine.query_provenance import ProvenanceLog
from stream_engine.engine.resolve import resolve
from stream_engine.errors import NoDataInRange
from stream_engine.quality.annotations import annotations_for
from stream_engine.quality.exclusion import ExclusionLog, MaskedColumn, apply_exclusions
from stream_engine.quality.legacy_qc_query import QueryLegacyQc
from stream_engine.quality.qartod_query import QueryQartod
from stream_engine.store.base import DEPLOYMENT, TIME, IndexRange

if TYPE_CHECKING:
    from stream_engine.engine.computed import ComputedSlice
    from stream_engine.engine.query import Query
    from stream_engine.preload.model import Parameter, Preload
    from stream_engine.store.base import Store, StreamKey, TimeRange

#: With ``limit``, at most this many records are decimated per kept record.
LIMIT_CANDIDATES = 50
_SMALLEST_LTTB = 3


@dataclass(frozen=True, slots=True)
class OutputVariable:
    """One value of every particle: its output name, where it comes from, its missing marker."""

    name: str
    stream: StreamKey
    parameter: Parameter | None
    column: str
    fill: Any

    @property
    def parameter_id(self) -> int | None:
        return None if self.parameter is None else self.parameter.id


@dataclass(slots=True)
class QueryChunk:
    """Consecutive result records: ``data`` by output name, plus ``time`` and ``deployment``."""

    data: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.data[TIME])

    @property
    def time(self) -> np.ndarray:
        return self.data[TIME]

    @property
    def deployment(self) -> np.ndarray:
        return self.data[DEPLOYMENT]


def index_span(store: Store, key: StreamKey, time_range: TimeRange) -> tuple[int, int]:
    """The record index range ``[first, stop)`` of ``key`` inside ``time_range``.

    Partitions wholly inside or outside the range are counted from the partition index; only
    the ``time`` column of partitions cut by a range edge is read.
    """
    first = stop = None
    offset = 0
    for part in store.partitions(key):
        end = offset + part.count
        if part.last < time_range.start:
            offset = end
            continue
        if part.first >= time_range.stop:
            stop = offset if stop is None else stop
            break
        inside_from = time_range.start <= part.first
        inside_to = part.last < time_range.stop
        times = np.empty(0)
        if not (inside_from and inside_to):
            times = store.read(key, [], index_range=IndexRange(offset, end))[TIME]
        if first is None:
            first = offset if inside_from else offset + int(np.searchsorted(times, time_range.start))
        if not inside_to:
            stop = offset + int(np.searchsorted(times, time_range.stop))
            break
        offset = end
    if first is None:
        return 0, 0
    return first, offset if stop is None else stop


def _output_name(p: Parameter) -> str:
    return p.netcdf_name or p.name


class QueryRun:
    """An open query (see the module docstring); use as a context manager or call :meth:`close`.

    Attributes
    ----------
    query
        The query.
    plan
        The primary stream's plan; ``secondary_plans`` those of the further streams.
    variables
        What every particle holds, in order (``time`` first).
    first_index, stop_index
        The primary stream's records in range, by index.
    provenance
        Accumulates per-product provenance as chunks are computed.
    """

    def __init__(self, store: Store, preload: Preload, query: Query, settings: Mapping[str, Any]):
        self.query, self.preload, self.settings = query, preload, settings
        self._stack = ExitStack()
        self.view: Store = self._stack.enter_context(store.snapshot())
        try:
            self._open()
        except BaseException:
            self.close()
            raise

    # -- opening -------------------------------------------------------------------------------

    def _open(self) -> None:
        query, view = self.query, self.view
        key = query.primary.key
        if view.coverage(key) is None:
            raise NoDataInRange(f"stream {key} holds no data in this store", field="streams[0]")
        time_range = query.time_range
        self.first_index, self.stop_index = index_span(view, key, time_range)
        if self.stop_index <= self.first_index:
            raise NoDataInRange(
                f"stream {key} has no records between {query.describe()['beginDT']} and "
                f"{query.describe()['endDT']}", field="start")
        self.provenance = ProvenanceLog(query)
        planned = plan_query(view, self.preload, query, self.settings)
        for sp in planned:
            self.provenance.unavailable_parameters.extend(sp.unavailable)
        if planned[0].plan is None:
            raise NoDataInRange(f"stream {key} holds no data in this store", field="streams[0]")
        self.plan: Plan = planned[0].plan
        self.externals: list[ExternalInput] = []
        self.secondary_plans = [sp.plan for sp in planned[1:] if sp.plan is not None]
        self.variables = self._primary_variables()
        for plan in self.secondary_plans:
            self._add_secondary(plan)
        first, last = time_range.start, time_range.stop
        self.annotations = {sq.key: annotations_for(view, sq.key, first, last) for sq in query.streams}
        self.exclusions = ExclusionLog()
        self.quality: list[QueryQartod | QueryLegacyQc] = []
        self._add_quality()
        self._masked = [MaskedColumn(v.name, v.stream, v.parameter) for v in self.variables[1:]]
        self._windows = self._window_iter()
        self._pending = self._next_nonempty()
        if self._pending is None and self.exclusions.dropped:
            raise NoDataInRange(
                f"every record of {key} in the range is excluded by annotations "
                f"{sorted(self.exclusions.dropped)}", field="start")
        if self._pending is None:
            raise NoDataInRange(
                f"all {self.stop_index - self.first_index} records of {key} in the range lie outside "
                "every deployment (require_deployment); send \"require_deployment\": false to get them",
                field="require_deployment")

    def _primary_variables(self) -> list[OutputVariable]:
        key = self.plan.key
        out = [OutputVariable(TIME, key, self.preload.parameters.get(7), TIME, np.nan)]
        for pid in self.plan.requested:
            p = self.preload.parameters[pid]
            if p.name == TIME or pid == 7:
                continue
            out.append(OutputVariable(_output_name(p), key, p, p.name, fill_for(p)))
        taken = {v.name for v in out} | {DEPLOYMENT}
        for position in self.plan.positions:  # lat/lon/depth..., named as DAP names them
            if position.name not in taken:
                out.append(OutputVariable(position.name, key, None, position.name, np.nan))
                taken.add(position.name)
        return out

    def _add_secondary(self, plan: Plan) -> None:
        key = plan.key
        for pid in plan.requested:
            p = self.preload.parameters[pid]
            if plan.reason(pid) is not None or p.name == TIME:
                continue
            column = f"{key.stream}-{p.name}"
            if any(e.column == column for e in self.externals):
                column = f"{key.refdes}-{column}"
            self.externals.append(ExternalInput(
                key=key, parameter_id=pid, parameter=p.name, column=column,
                same_instrument=key.refdes == self.plan.key.refdes,
                interpolation="linear" if p.dtype.kind == "f" else "last-seen",
                colocation="requested", plan=plan if p.is_function else None))
            prefix = column[: -len(p.name)]
            self.variables.append(OutputVariable(prefix + _output_name(p), key, p, column, fill_for(p)))

    def _add_quality(self) -> None:
        """QARTOD (``run_qartod``) and legacy QC (request and stored records) result columns."""
        key = self.plan.key
        tested = [(v.name, v.parameter) for v in self.variables[1:] if v.stream == key and v.parameter is not None]
        legacy = QueryLegacyQc(self.view, key, tested, self._compute_with, self.annotations[key],
                               self.query.qc_parameters, self.preload.stream_parameters(key.stream),
                               IndexRange(self.first_index, self.stop_index, self._step()))
        if self.query.run_qartod:
            self.quality.append(QueryQartod(self.view, key, tested, self._compute_with, self.annotations[key],
                                            self.preload, self.settings))
        self.quality.append(legacy)
        for name, fill in (out for q in self.quality for out in q.outputs()):
            self.variables.append(OutputVariable(name, key, None, name, fill))

    def _compute_with(self, parameter_ids: Sequence[int]) -> Callable[[IndexRange], ComputedSlice]:
        """Computes the primary stream over an index range with further parameters (those the
        quality tests read), planned once."""
        missing = [pid for pid in parameter_ids if pid not in self.plan.requested]
        if not missing:
            return self._range_compute
        plan = resolve(self.view, self.preload, self.plan.key, [*self.plan.requested, *missing],
                       self.query.time_range, settings=self.settings)
        return lambda index_range: compute(self.view, self.preload, plan, index_range=index_range,
                                           settings=self.settings,
                                           require_deployment=self.query.require_deployment)

    def _range_compute(self, index_range: IndexRange) -> ComputedSlice:
        return compute(self.view, self.preload, self.plan, index_range=index_range, settings=self.settings,
                       require_deployment=self.query.require_deployment)

    # -- chunks --------------------------------------------------------------------------------

    def _step(self) -> int:
        """Every how many records the query reads (``limit`` thins long ranges)."""
        total, limit = self.stop_index - self.first_index, self.query.limit
        if limit is not None and total > limit * LIMIT_CANDIDATES:
            return total // (limit * LIMIT_CANDIDATES)
        return 1

    def _window_iter(self) -> Iterator[QueryChunk]:
        chunk = max(1, int(self.settings["QUERY_CHUNK_RECORDS"]))
        total = self.stop_index - self.first_index
        limit = self.query.limit
        step = self._step()
        span = chunk * step
        taken = 0
        last: tuple[float, int] | None = None
        for start in range(self.first_index, self.stop_index, span):
            stop = min(start + span, self.stop_index)
            computed = compute(self.view, self.preload, self.plan, index_range=IndexRange(start, stop, step),
                               settings=self.settings, require_deployment=self.query.require_deployment)
            self.provenance.add_slice(computed)
            extra = {name: values for q in self.quality
                     for name, values in q.columns(IndexRange(start, stop, step), computed.source_index).items()}
            data = self._chunk_data(computed, last, extra)
            if len(data[TIME]):
                last = (float(data[TIME][-1]), int(data[DEPLOYMENT][-1]))
            data = apply_exclusions(data, data[TIME], self.plan.key, self._masked, self.annotations,
                                    self.exclusions)
            if limit is not None and total > limit:
                share = round(limit * (stop - self.first_index) / total) - taken
                data = self._decimated(data, share)
                taken += len(data[TIME])
            yield QueryChunk(data)

    def _extent(self, key: StreamKey) -> tuple[float, float] | None:
        """First and last stored time of a supplying stream (see ``external_inputs``)."""
        coverage = self.view.coverage(key)
        return None if coverage is None else (float(coverage.first), float(coverage.last))

    def _chunk_data(self, computed: ComputedSlice, last: tuple[float, int] | None,
                    extra: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        times, numbers = computed.time, computed.deployment
        keep = None
        if last is not None and len(times) and times[0] == last[0] and numbers[0] == last[1]:
            keep = slice(1, None)  # the same record as the previous window's last (duplicate time)
        data = {TIME: times, DEPLOYMENT: numbers, **extra}
        for var in self.variables[1:]:
            if var.stream == self.plan.key and var.name not in extra:
                data[var.name] = computed[var.column]
        if self.externals:
            inputs, info = external_inputs(self.externals, times, numbers, self.preload,
                                           float(self.settings["MAX_INTERPOLATION_GAP"]), self._sub_compute,
                                           self._extent)
            self.provenance.add_externals(info)
            for var in self.variables:
                if var.stream != self.plan.key:
                    data[var.name] = self._as_output(inputs[var.column], var)
        if keep is not None:
            data = {name: values[keep] for name, values in data.items()}
        return data

    @staticmethod
    def _as_output(values: np.ndarray, var: OutputVariable) -> np.ndarray:
        """Interpolated values back in the parameter's dtype where it is a float one."""
        if var.parameter is not None and var.parameter.dtype.kind == "f" and values.dtype.kind == "f":
            return values.astype(var.parameter.dtype, copy=False)
        return values

    def _sub_compute(self, plan: Plan, time_range: TimeRange) -> ComputedSlice:
        return compute(self.view, self.preload, plan, time_range=time_range, settings=self.settings,
                       require_deployment=self.query.require_deployment)

    def _decimated(self, data: dict[str, np.ndarray], share: int) -> dict[str, np.ndarray]:
        n = len(data[TIME])
        share = max(0, min(share, n))
        if share >= n:
            return data
        picks = self._decimation_picks(data, share)
        return {name: values[picks] for name, values in data.items()}

    def _decimation_picks(self, data: dict[str, np.ndarray], share: int) -> np.ndarray:
        n = len(data[TIME])
        if share < _SMALLEST_LTTB:
            return np.unique(np.linspace(0, n - 1, share).round().astype(np.int64)) if share else np.empty(0, np.int64)
        signal = next((data[v.name] for v in self.variables[1:]
                       if v.name in data and data[v.name].ndim == 1 and data[v.name].dtype.kind in "fiu"), None)
        if signal is None:
            return np.unique(np.linspace(0, n - 1, share).round().astype(np.int64))
        from tsdownsample import MinMaxLTTBDownsampler

        y = signal.astype(np.float64)
        missing = ~np.isfinite(y) if y.dtype.kind == "f" else np.zeros(n, bool)
        if missing.all():
            y = np.zeros(n)
        elif missing.any():
            y[missing] = np.interp(np.flatnonzero(missing), np.flatnonzero(~missing), y[~missing])
        x = data[TIME].astype(np.float64)
        picks = MinMaxLTTBDownsampler().downsample(x, y, n_out=share)  # type: ignore[no-untyped-call]
        return np.asarray(picks, dtype=np.int64)

    def _next_nonempty(self) -> QueryChunk | None:
        for chunk in self._windows:
            if len(chunk):
                return chunk
        return None

    def chunks(self) -> Iterator[QueryChunk]:
        """The results, in time order, in chunks of at most ``QUERY_CHUNK_RECORDS`` records.

        Empty chunks are skipped. The first one was computed when the query was opened; the
        iterator can be consumed once.
        """
        pending, self._pending = self._pending, None
        if pending is None:
            return
        yield pending
        for chunk in self._windows:
            if len(chunk):
                yield chunk

    def close(self) -> None:
        """Release the snapshot (idempotent)."""
        self._stack.close()

    def __enter__(self) -> QueryRun:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_query(store: Store, preload: Preload, query: Query, settings: Mapping[str, Any]) -> QueryRun:
    """Open ``query`` on one snapshot of ``store``: plans resolved, first chunk computed.

    Parameters
    ----------
    store, preload
        Where the streams live and the dictionary.
    query
        From :func:`~stream_engine.engine.query.parse_query`.
    settings
        ``QUERY_CHUNK_RECORDS``, ``MAX_INTERPOLATION_GAP``, ``MAX_DEPTH_VARIANCE`` (and what
        :func:`~stream_engine.engine.compute.compute` reads).

    Returns
    -------
    QueryRun
        Holds the snapshot until closed.

    Raises
    ------
    NoDataInRange
        The primary stream holds nothing in the range, or nothing inside a deployment.
    StoreUnavailable
        The store cannot be read.
    """
    return QueryRun(store, preload, query, settings)


def run_query(
    store: Store, preload: Preload, query: Query, settings: Mapping[str, Any]
) -> Iterator[QueryChunk]:
    """:func:`open_query`, then every chunk; the snapshot is released when the iterator ends."""
    with open_query(store, preload, query, settings) as run:
        yield from run.chunks()


__all__ = ["OutputVariable", "QueryChunk", "QueryRun", "index_span", "open_query", "run_query"]
