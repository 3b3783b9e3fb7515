"""Reading one stream's hyperslabs for one DAP request: stored columns and computed products.

Stored columns (``time`` and raw parameters) are read straight from the store by index range,
strides included, in the store's pieces joined once in the byte order of the response (DAP2's or
DAP4's, :mod:`dap_handlers.stored_columns`), as products' windows are assembled; float sentinels become NaN as in the engine.
``deployment`` is the stored number resolved against the asset events, as
:func:`stream_engine.engine.compute.compute` does.

Every stored record keeps its position in ``obs`` (whose size comes from the partition index,
without reading data). Records a request does not serve (outside their deployment's window, or of
a deployment without asset events under ``REQUIRE_DEPLOYMENT``; see
:func:`~stream_engine.engine.calibrate.served_records`) are *masked*: ``time`` and ``deployment``
keep their values, every other variable is missing there. That keeps DDS, DAS and data consistent.

Products go through :func:`~stream_engine.engine.resolve.resolve` and
:func:`~stream_engine.engine.compute.compute` (with the ``REQUIRE_DEPLOYMENT`` setting; records
it drops are put back as fill; ``use_cache=False``, the windows below being this layer's cache). The requested index range is cut into *windows*: the intersection of
the selected span with blocks of ``block_records`` (setting ``DAP_COMPUTE_RECORDS``) aligned on
the stream index, so the algorithms' temporaries stay bounded whatever the request, and the same
request always cuts the same windows. A window is computed contiguously and then strided, which
gives exactly the values a computation over the whole stream gives (interpolation of external
inputs and per-deployment calibrations do not depend on which records are computed beside a
record); windows holding no selected record are skipped, so a large stride does not compute the
records between its picks unless they share a block. The windows of one read are computed by up
to ``threads`` threads side by side (the algorithms release the GIL).

How a window is computed (by the plan's compiled chain where it takes it, the store reads done
ahead on a reader thread with one compute thread) is :class:`~dap_handlers.window_work.WindowWork`.
A response asks for all of a product's blocks at once (:meth:`StreamReads.product_reader`); with
more than one compute thread their windows are computed on the compute pool in order, across
blocks, at most one block's windows ahead (:meth:`StreamReads._blocks`), so the next block is
computed while the current one is assembled, encoded and sent; with one, the store reads of
the next block's first windows go on meanwhile.

A computation plans only the product read and the later projected products (``group``), so
one projected product costs its dependency chain and nothing else. It serves the whole group:
the window of the product being read goes to the worker's :class:`WindowCache
<dap_handlers.product_windows.WindowCache>` (keyed by the dataset's version, built from the
change tokens of the stream, its input streams and their assets, so repeated requests reuse it
until one of those changes) and, one file per run of a group's windows, to the folder shared
with the other workers (:mod:`dap_handlers.shared_windows`), whose mapped file the worker's cache
then keeps instead of the computed arrays; the others wait in the request's
:class:`PendingWindows <dap_handlers.product_windows.PendingWindows>` (memory, then a temporary
file) until their variable is sent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dap_handlers.model import BlockReader
from dap_handlers.product_windows import KeptWindows, PendingWindows, shared_windows
from dap_handlers.shared_windows import shared_windows_in
from dap_handlers.stored_columns import ServedCheck, joined, missing_value, stored_numbers
from dap_handlers.window_layout import DAP2_ORDER, ProductShape, selected_span, wire_order
from dap_handlers.window_work import WindowWork, blocks_ahead
from stream_engine import assets
from stream_engine.engine.calibrate import record_deployments, served_records
from stream_engine.engine.compute_inputs import masked_sentinels
from stream_engine.engine.plan_cache import cached_resolve
from stream_engine.engine.resolve import TIME_PARAMETER
from stream_engine.quality.annotations import Annotation, ExclusionMasks, exclusion_masks
from stream_engine.store.base import DEPLOYMENT, TIME, IndexRange

if TYPE_CHECKING:
    from stream_engine.engine.plan import Plan
    from stream_engine.preload.model import Parameter, Preload
    from stream_engine.store.base import Store, StreamKey, TimeRange

#: Fewest records computed in one window when a block is not cut by the request itself.
MIN_BLOCK_RECORDS = 1024


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
        Records per aligned window (the unit of computation).
    cache_bytes
        Bound of the worker's window cache; a quarter of it bounds the request's pending windows in
        memory (the rest go to a temporary file). ``0``: no cross-request cache.
    shapes
        :class:`ProductShape` of every product served, by preload name, and of every
        coordinate of a mobile platform (``Plan.positions``), by its name.
    threads
        Threads computing the windows of one read side by side.
    spool_dir
        Folder of the pending windows' temporary file (``None``: the system's).
    cache_token
        The version of everything the stream's values depend on
        (:func:`~stream_engine.engine.versions.response_version`); windows are shared across
        requests only under a token, so ``None`` means no cross-request cache.
    shared_dir, shared_bytes, shared_stamp
        The store's folder (:meth:`~stream_engine.store.base.Store.local_folder`) and the bound
        of the windows shared with the other worker processes there
        (:mod:`dap_handlers.shared_windows`, setting ``DAP_SHARED_CACHE_BYTES``; only under a
        ``cache_token``, not at all with ``None`` or 0), and the newest modification time of
        what the stream's values depend on (part of the keys).
    byte_order
        The byte order of the response the blocks go to
        (:data:`~dap_handlers.window_layout.DAP2_ORDER` or ``DAP4_ORDER``): numbers are put in
        it while a block is assembled, so the encoder sends them without another pass.
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
        threads: int = 1,
        spool_dir: str | None = None,
        cache_token: str | None = None,
        annotations: Sequence[Annotation] = (),
        shared_dir: Path | None = None,
        shared_bytes: int = 0,
        shared_stamp: float | None = None,
        byte_order: str = DAP2_ORDER,
    ) -> None:
        self.store = store
        self.preload = preload
        self.key = key
        self.time_range = time_range
        self.settings = settings
        self.block_records = max(MIN_BLOCK_RECORDS, int(block_records))
        self.shapes = dict(shapes)
        self.threads = max(1, int(threads))
        self.byte_order = byte_order
        self._plans: dict[tuple[int, ...], Plan] = {}
        self._position_plan: Plan | None = None
        self._deployments: list[assets.Deployment] | None = None
        self.require = bool(settings["REQUIRE_DEPLOYMENT"])
        self._served: dict[tuple[int, int, int], np.ndarray | None] = {}
        self._check: ServedCheck | None = None
        self.annotations = [a for a in annotations if a.exclusion]
        self._excluded: dict[tuple[int, int, int], ExclusionMasks | None] = {}
        token = cache_token if cache_bytes > 0 else None
        self._kept: KeptWindows | None = None
        if token is not None:
            context: tuple[Any, ...] = (token, key, preload.source, len(preload.parameters),
                                        len(preload.functions), time_range,
                                        *(settings.get(k) for k in _SETTINGS_USED))
            disk = shared_windows_in(shared_dir, int(shared_bytes)) if shared_dir is not None else None
            if disk is not None:
                # the newest commit time of what the values depend on: a store deleted and made
                # again reaches the same generations, never the same times
                context = (*context, shared_stamp)
            sizes = {name: shape.dtype.itemsize * int(np.prod(shape.row_shape)) for name, shape in self.shapes.items()}
            self._kept = KeptWindows(shared_windows(int(cache_bytes)), disk, context, self.block_records, sizes)
        self._pending = PendingWindows(int(cache_bytes) // 4, spool_dir)
        #: Windows computed so far and products computed in them, for tests and logs.
        self.computations: list[tuple[int, int, tuple[str, ...]]] = []

    def close(self) -> None:
        """Drop the request's pending windows (and their temporary file)."""
        self._pending.close()

    # -- stored columns ------------------------------------------------------------------------

    def _read(self, columns: Sequence[str], obs: slice) -> dict[str, np.ndarray]:
        wanted = [TIME, DEPLOYMENT, *(c for c in columns if c not in (TIME, DEPLOYMENT))]
        return self.store.read_columns(
            self.key, wanted, index_range=IndexRange(obs.start, obs.stop, obs.step)
        )

    def stored(self, column: str, key: tuple[slice, ...], parameter: Parameter | None = None) -> np.ndarray:
        """A stored column's hyperslab (``key``: one normalised slice per dimension), numbers in
        the response's byte order (:func:`~dap_handlers.stored_columns.joined`); float values equal to a
        sentinel of ``parameter`` (dictionary fill cell, netCDF default fill) are served as NaN,
        as the engine computes with them, and records not served are missing."""
        obs = key[0]
        span = IndexRange(obs.start, obs.stop, obs.step)
        pieces = self.store.read_column_pieces(self.key, [column], index_range=span)
        values = joined([masked_sentinels(piece[column], parameter) for piece in pieces], self.byte_order)
        if column != TIME:
            served = self.served(obs)
            if served is not None:
                values[~served] = missing_value(values.dtype, parameter)
            values = self._without_excluded(values, obs, parameter)
        return values[(slice(None), *key[1:])] if len(key) > 1 else values

    def excluded(self, obs: slice) -> ExclusionMasks | None:
        """What exclusion annotations remove from the records of ``obs``; ``None``: nothing."""
        span = (obs.start, obs.stop, obs.step)
        if span not in self._excluded:
            self._excluded[span] = (exclusion_masks(self.annotations, self._read([], obs)[TIME])
                                    if self.annotations else None)
        return self._excluded[span]

    def _without_excluded(self, values: np.ndarray, obs: slice, parameter: Parameter | None) -> np.ndarray:
        """``values`` of the records of ``obs`` with what exclusion annotations cover made missing."""
        masks = self.excluded(obs)
        if masks is None:
            return values
        hide = masks.records if parameter is None else masks.parameter(parameter)
        if not hide.any():
            return values
        values = values.copy()
        values[hide] = missing_value(values.dtype, parameter)
        return values

    def served(self, obs: slice) -> np.ndarray | None:
        """Which records of ``obs`` the request serves; ``None`` when all are."""
        span = (obs.start, obs.stop, obs.step)
        if span not in self._served and self._served_check().everywhere(obs):
            self._served[span] = None
        if span not in self._served:
            raw = self._read([], obs)
            deps = self._deployments_of_stream()
            numbers, covered = record_deployments(deps, raw[TIME], raw[DEPLOYMENT])
            served = served_records(deps, numbers, covered, self.require)
            self._served[span] = None if served.all() else served
        return self._served[span]

    def _deployments_of_stream(self) -> list[assets.Deployment]:
        if self._deployments is None:
            self._deployments = assets.deployments(self.store, self.key.refdes)
        return self._deployments

    def _served_check(self) -> ServedCheck:
        if self._check is None:
            self._check = ServedCheck(self.store, self.key, self._deployments_of_stream())
        return self._check

    def deployment(self, key: tuple[slice, ...]) -> np.ndarray:
        """Deployment numbers of the selected records (stored, or found by time where 0)."""
        stored = stored_numbers(self.store, self.key, key[0], self.byte_order)
        if stored is not None:
            return stored
        raw = self._read([], key[0])
        numbers, _ = record_deployments(self._deployments_of_stream(), raw[TIME], raw[DEPLOYMENT])
        return numbers

    # -- products ------------------------------------------------------------------------------

    def plan_for(self, parameter_ids: Sequence[int]) -> Plan:
        """The plan computing exactly ``parameter_ids`` (resolved once per request)."""
        ids = tuple(parameter_ids)
        if ids not in self._plans:
            self._plans[ids] = cached_resolve(
                self.store, self.preload, self.key, ids, self.time_range, settings=self.settings,
                positions=False,
            )
        return self._plans[ids]

    def product(self, p: Parameter, group: Sequence[Parameter], key: tuple[slice, ...]) -> np.ndarray:
        """A product's hyperslab; ``group`` are the products computed with it in each window."""
        members = [q for q in group if q.id != p.id]
        windows = self._windows(p.name, [q.name for q in members],
                                lambda: self.plan_for([p.id, *(q.id for q in members)]), self._spans(key[0]))
        return self._without_excluded(self._assembled(p.name, windows, key), key[0], p)

    def product_blocks(self, p: Parameter, group: Sequence[Parameter],
                       keys: Sequence[tuple[slice, ...]]) -> Iterator[np.ndarray]:
        """A product's hyperslabs ``keys``, in order (see :meth:`_blocks`: with more than one
        compute thread the windows of the next ones are computed while the caller encodes and
        sends the one it holds; closing the iterator cancels or waits for that work)."""
        members = [q for q in group if q.id != p.id]
        blocks = self._blocks(p.name, [q.name for q in members],
                              lambda: self.plan_for([p.id, *(q.id for q in members)]),
                              [self._spans(key[0]) for key in keys])
        try:
            for key in keys:
                found = next(blocks)
                yield self._without_excluded(self._assembled(p.name, found, key), key[0], p)
        finally:  # whatever ran ahead has stopped before the response (and its snapshot) ends
            blocks.close()

    def product_reader(self, p: Parameter, group: Sequence[Parameter]) -> BlockReader:
        """The DAP reader of a product (one key, or a response's blocks with the next computed
        while one is sent)."""
        return BlockReader(lambda key: self.product(p, group, key),
                           lambda keys: self.product_blocks(p, group, keys))

    def position(self, name: str, group: Sequence[str], key: tuple[slice, ...]) -> np.ndarray:
        """A mobile platform's coordinate (``lat``, ``int_ctd_pressure``...) hyperslab; ``group``
        are the coordinates computed with it in each window (see ``Plan.positions``)."""
        if self._position_plan is None:
            time_parameter = self.preload.stream(self.key.stream).temporal_parameter or TIME_PARAMETER
            self._position_plan = cached_resolve(self.store, self.preload, self.key, [time_parameter],
                                                 self.time_range, settings=self.settings)
        plan = self._position_plan
        others = [n for n in group if n != name]
        windows = self._windows(name, others, lambda: plan, self._spans(key[0]))
        return self._without_excluded(self._assembled(name, windows, key), key[0], None)

    def _spans(self, obs: slice) -> list[tuple[int, int]]:
        """The windows holding selected records of ``obs``: aligned blocks cut by the selection."""
        spans = []
        for block in range(obs.start // self.block_records, (obs.stop - 1) // self.block_records + 1):
            lo = block * self.block_records
            span = selected_span(obs, lo, lo + self.block_records)
            if span is not None:
                spans.append(span)
        return spans

    def _assembled(self, name: str, windows: list[np.ndarray], key: tuple[slice, ...]) -> np.ndarray:
        """The hyperslab ``key`` from its windows' values, in the byte order the response sends them."""
        shape = self.shapes[name]
        if not windows:
            return np.empty((0, *shape.row_shape), dtype=shape.dtype)
        parts = [values[:: key[0].step] for values in windows]
        data = np.concatenate(parts, dtype=wire_order(shape.dtype, self.byte_order))
        return data[(slice(None), *key[1:])] if len(key) > 1 else data

    def _blocks(self, name: str, others: Sequence[str], plan_of: Callable[[], Plan],
                blocks: Sequence[list[tuple[int, int]]]) -> Iterator[list[np.ndarray]]:
        """The values of each block's windows (``blocks``: the spans of each), block after block.

        The windows' work goes on in order across blocks, at most one block ahead
        (:func:`~dap_handlers.window_work.blocks_ahead`), so it does not wait at each block's end
        while the caller sends the one it holds: with more than one compute thread the next
        block's windows are computed on the compute pool meanwhile; with one, only the compiled
        chain's columns of its first windows are read meanwhile, and a block's windows are
        computed when it is taken (measured: computing ahead there takes the core the request's
        reads and encoding use).
        """
        for windows in blocks_ahead(blocks, self.threads, lambda span: self._looked_up(name, span),
                                    lambda: self._work(plan_of(), (name, *others))):
            yield self._finished(name, windows)

    def _windows(
        self, name: str, others: Sequence[str], plan_of: Callable[[], Plan], spans: list[tuple[int, int]]
    ) -> list[np.ndarray]:
        """The values of the windows ``spans``, from the caches or computed: :meth:`_blocks`
        with them as one block."""
        with closing(self._blocks(name, others, plan_of, [spans])) as blocks:
            return next(blocks)

    def _looked_up(self, name: str, span: tuple[int, int]) -> tuple[np.ndarray, bool] | None:
        """The window of ``name`` over ``span`` and whether to keep it for the next requests, if
        this request computed it already (taken from the pending ones) or a cache holds it."""
        values = self._pending.take((name, span))
        if values is not None:
            return values, True
        values = None if self._kept is None else self._kept.get(name, span)
        return None if values is None else (values, False)

    def _finished(self, name: str, windows: Sequence[tuple[tuple[int, int], Any]]) -> list[np.ndarray]:
        """A block's windows of ``name`` (in record order) from what :meth:`_looked_up` found or
        the products computed there: the other products wait in the pending windows until their
        variable is sent; the computed windows, and those taken from the pending ones, are kept."""
        found, kept = [], []
        for span, known in windows:
            if isinstance(known, dict):  # computed
                self.computations.append((*span, tuple(known)))
                values = known.pop(name)
                for other, more in known.items():
                    self._pending.put((other, span), more)
                known = (values, True)
            found.append(known[0])
            if known[1]:
                kept.append((span, known[0]))
        if kept and self._kept is not None:
            self._kept.keep(name, kept)
        return found

    def _work(self, plan: Plan, wanted: Sequence[str]) -> WindowWork:
        """How this request computes ``plan``'s windows."""
        return WindowWork(self.store, self.preload, self.key, plan, wanted, settings=self.settings,
                          require_deployment=self.require, deployments=self._deployments_of_stream(),
                          shapes=self.shapes)


#: Settings a computed window depends on, part of the window cache's keys.
_SETTINGS_USED = ("MAX_INTERPOLATION_GAP", "MAX_DEPTH_VARIANCE", "UNBOUND_QUERY_START", "REQUIRE_DEPLOYMENT")
