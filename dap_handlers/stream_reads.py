"""Reading one stream's hyperslabs for one DAP request: stored columns and computed products.

Stored columns (``time`` and raw parameters) are read straight from the store by index range,
strides included, so they cost one indexed read. ``deployment`` is the stored number resolved
against the asset events, as :func:`stream_engine.compute.compute` does.

Products go through :func:`~stream_engine.resolve.resolve` and
:func:`~stream_engine.compute.compute` (``require_deployment=False``, so every stored record keeps
its position and products outside a deployment are fill). The requested index range is cut into
*windows*: the intersection of the selected span with blocks of ``block_records`` aligned on the
stream index, so memory stays bounded by the block size whatever the request. A window is
computed contiguously and then strided, which gives exactly the values a computation over the
whole stream gives (interpolation of external inputs and per-deployment calibrations do not
depend on which records are computed beside a record); windows holding no selected record are
skipped, so a large stride does not compute the records between its picks unless they share a
block.

One computation serves several variables: the reader of a product computes, for a window, the
projected products from that variable on (in declaration order, the order the encoders read
them), and keeps the result in a least-recently-used cache bounded by ``cache_bytes``. A
product's part of a window is dropped as soon as a read has taken all of it, so the cache only
holds what later variables of the same response still need. A request whose projected products
fit in the cache computes every window once; a larger one evicts windows and recomputes, for
later variables, only the products not yet sent.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from stream_engine import assets
from stream_engine.calibrate import record_deployments
from stream_engine.compute import compute
from stream_engine.resolve import resolve
from stream_engine.store.base import DEPLOYMENT, TIME, IndexRange

if TYPE_CHECKING:
    from stream_engine.plan import Plan
    from stream_engine.preload.model import Parameter, Preload
    from stream_engine.store.base import Store, StreamKey, TimeRange

#: Fewest records computed in one window when a block is not cut by the request itself.
MIN_BLOCK_RECORDS = 1024


def _selected_span(obs: slice, lo: int, hi: int) -> tuple[int, int] | None:
    """First and last-plus-one selected positions of ``obs`` within ``[lo, hi)``, if any."""
    start = max(lo, obs.start)
    if start > obs.start:
        start = obs.start + -(-(start - obs.start) // obs.step) * obs.step
    stop = min(hi, obs.stop)
    if start >= stop:
        return None
    last = obs.start + (stop - 1 - obs.start) // obs.step * obs.step
    return start, last + 1


@dataclass(frozen=True, slots=True)
class ProductShape:
    """How a product's computed values are laid out: the shape of one record, fill and dtype."""

    row_shape: tuple[int, ...]
    fill: Any
    dtype: np.dtype


class StreamReads:
    """Reads for one request against one stream (not shared between threads).

    Parameters
    ----------
    store, preload
        Where the stream lives and the dictionary.
    key
        The stream.
    time_range
        The range plans are resolved for (the stream's coverage).
    settings
        Engine settings (``MAX_DEPTH_VARIANCE``, ``MAX_INTERPOLATION_GAP``...).
    block_records
        Records per aligned block (the unit of computation).
    cache_bytes
        Budget of the window cache.
    shapes
        :class:`ProductShape` of every product served, by preload name.
    """

    def __init__(
        self,
        store: Store,
        preload: Preload,
        key: StreamKey,
        time_range: TimeRange,
        settings: Mapping[str, Any],
        *,
        block_records: int,
        cache_bytes: int,
        shapes: Mapping[str, ProductShape],
    ) -> None:
        self.store = store
        self.preload = preload
        self.key = key
        self.time_range = time_range
        self.settings = settings
        self.block_records = max(MIN_BLOCK_RECORDS, int(block_records))
        self.cache_bytes = int(cache_bytes)
        self.shapes = dict(shapes)
        self._plans: dict[tuple[int, ...], Plan] = {}
        self._windows: OrderedDict[tuple[int, int], dict[str, np.ndarray]] = OrderedDict()
        self._cached_bytes = 0
        self._deployments: list[assets.Deployment] | None = None
        #: Windows computed so far and products computed in them, for tests and logs.
        self.computations: list[tuple[int, int, tuple[str, ...]]] = []

    # -- stored columns ------------------------------------------------------------------------

    def _read(self, columns: Sequence[str], obs: slice) -> dict[str, np.ndarray]:
        wanted = [c for c in columns if c not in (TIME, DEPLOYMENT)]
        return self.store.read(
            self.key, wanted, index_range=IndexRange(obs.start, obs.stop, obs.step)
        )

    def stored(self, column: str, key: tuple[slice, ...]) -> np.ndarray:
        """A stored column's hyperslab (``key``: one normalised slice per dimension)."""
        values = self._read([column], key[0])[column]
        return values[(slice(None), *key[1:])] if len(key) > 1 else values

    def deployment(self, key: tuple[slice, ...]) -> np.ndarray:
        """Deployment numbers of the selected records (stored, or found by time where 0)."""
        if self._deployments is None:
            self._deployments = assets.deployments(self.store, self.key.refdes)
        raw = self._read([], key[0])
        numbers, _ = record_deployments(self._deployments, raw[TIME], raw[DEPLOYMENT])
        return numbers

    # -- products ------------------------------------------------------------------------------

    def plan_for(self, parameter_ids: Sequence[int]) -> Plan:
        """The plan computing exactly ``parameter_ids`` (resolved once per request)."""
        ids = tuple(parameter_ids)
        if ids not in self._plans:
            self._plans[ids] = resolve(
                self.store, self.preload, self.key, ids, self.time_range, settings=self.settings
            )
        return self._plans[ids]

    def product(self, p: Parameter, group: Sequence[Parameter], key: tuple[slice, ...]) -> np.ndarray:
        """A product's hyperslab; ``group`` are the products computed with it in each window."""
        obs = key[0]
        parts = []
        first_block = obs.start // self.block_records
        last_block = (obs.stop - 1) // self.block_records
        for block in range(first_block, last_block + 1):
            lo = block * self.block_records
            span = _selected_span(obs, lo, lo + self.block_records)
            if span is None:
                continue
            values = self._window(span, p, group)
            parts.append(values[:: obs.step])
            self._release(span, p.name)
        if not parts:
            return np.empty((0, *self.shapes[p.name].row_shape), dtype=p.dtype)
        data = np.concatenate(parts) if len(parts) > 1 else parts[0]
        return data[(slice(None), *key[1:])] if len(key) > 1 else data

    def _window(
        self, span: tuple[int, int], p: Parameter, group: Sequence[Parameter]
    ) -> np.ndarray:
        cached = self._windows.get(span)
        if cached is not None and p.name in cached:
            self._windows.move_to_end(span)
            return cached[p.name]
        members = [q for q in group if q.id != p.id]
        plan = self.plan_for([p.id, *(q.id for q in members)])
        start, stop = span
        out = compute(
            self.store,
            self.preload,
            plan,
            index_range=IndexRange(start, stop),
            settings=self.settings,
            require_deployment=False,
        )
        computed = {
            q.name: _expanded(out[q.name], out.source_index, stop - start, self.shapes[q.name])
            for q in (p, *members)
            if q.name in out
        }
        self.computations.append((start, stop, tuple(computed)))
        self._remember(span, computed)
        return computed[p.name]

    def _release(self, span: tuple[int, int], name: str) -> None:
        """Forget a product's window once read: the encoders read each variable once, in order."""
        entry = self._windows.get(span)
        if entry is None or name not in entry:
            return
        self._cached_bytes -= entry.pop(name).nbytes
        if not entry:
            del self._windows[span]

    def _remember(self, span: tuple[int, int], computed: dict[str, np.ndarray]) -> None:
        previous = self._windows.pop(span, None)
        if previous is not None:
            self._cached_bytes -= sum(a.nbytes for a in previous.values())
            computed = {**previous, **computed}
        self._windows[span] = computed
        self._cached_bytes += sum(a.nbytes for a in computed.values())
        while self._cached_bytes > self.cache_bytes and len(self._windows) > 1:
            _, evicted = self._windows.popitem(last=False)
            self._cached_bytes -= sum(a.nbytes for a in evicted.values())


def _expanded(
    values: np.ndarray, source_index: np.ndarray, length: int, shape: ProductShape
) -> np.ndarray:
    """Computed values put back at their record positions; dropped records get the fill."""
    row_shape, fill, dtype = shape.row_shape, shape.fill, shape.dtype
    values = np.asarray(values)
    if values.dtype != dtype and not (dtype.kind == "U" and values.dtype.kind in "UO"):
        values = values.astype(dtype)
    if row_shape and values.ndim == 1:
        values = np.broadcast_to(values[:, None], (len(values), *row_shape))
    if len(source_index) == length and values.shape[0] == length:
        return values
    out = np.full((length, *row_shape), fill, dtype=values.dtype if dtype.kind == "U" else dtype)
    out[source_index] = values
    return out
