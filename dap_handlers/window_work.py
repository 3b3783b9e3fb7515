"""How one DAP request computes the windows of one plan, and on which threads.

:class:`WindowWork` computes one window of records (an aligned span, see
:mod:`dap_handlers.stream_reads`): by the plan's compiled chain
(:func:`~stream_engine.engine.compiled_chains.compiled_chain`) where it takes the window, else by
:func:`~stream_engine.engine.compute.compute`; the values are the same either way.
:func:`blocks_ahead` gives a response's windows block after block, going on across blocks: with
one compute thread computed on the caller's thread, the chain's columns of the next windows
read ahead on the process's reader threads; with more, side by side on the compute pool.
Nothing it started still runs once the iterator ends, is closed or fails.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from contextlib import closing
from typing import TYPE_CHECKING, Any

import numpy as np

from dap_handlers.window_layout import ProductShape, expanded
from dap_handlers.window_threads import ahead, compute_pool, done, reader_pool
from stream_engine.engine.compiled_chains import BinTimes, WindowColumns, compiled_chain
from stream_engine.engine.compute import compute
from stream_engine.store.base import IndexRange

if TYPE_CHECKING:
    from stream_engine import assets
    from stream_engine.engine.plan import Plan
    from stream_engine.preload.model import Preload
    from stream_engine.store.base import Store, StreamKey

#: Windows whose columns the reader threads read ahead of the one computed (one compute thread).
READ_DEPTH = 2


class WindowWork:
    """The products ``wanted`` (working names) of ``plan``, computed window by window for one
    request (safe to call from several threads).

    Parameters
    ----------
    store, preload, key
        The request's snapshot, the dictionary and the stream.
    plan
        The plan computing ``wanted``.
    wanted
        The products each window gives.
    settings, require_deployment
        As :func:`~stream_engine.engine.compute.compute` takes them.
    deployments
        The stream's deployments (:func:`stream_engine.assets.deployments`), parsed once per request.
    shapes
        :class:`~dap_handlers.window_layout.ProductShape` of every product, by name.
    """

    def __init__(self, store: Store, preload: Preload, key: StreamKey, plan: Plan, wanted: Sequence[str], *,
                 settings: Mapping[str, Any], require_deployment: bool,
                 deployments: Sequence[assets.Deployment], shapes: Mapping[str, ProductShape]) -> None:
        self.store = store
        self.preload = preload
        self.plan = plan
        self.wanted = tuple(wanted)
        self.settings = settings
        self.require_deployment = require_deployment
        self.deployments = list(deployments)
        self.shapes = shapes
        chain = compiled_chain(plan, preload)  # the plan's products in compiled passes, if it can
        self.chain = chain if chain is not None and chain.computes(self.wanted) else None
        self.bins = BinTimes.of(store.partitions(key)) if self.chain is not None else None

    def read(self, span: tuple[int, int]) -> WindowColumns | None:
        """What the compiled chain reads of the window (``None``: no chain, or not its plain case)."""
        if self.chain is None:
            return None
        return self.chain.read(self.store, IndexRange(*span), self.deployments, self.bins)

    def values(self, span: tuple[int, int], columns: WindowColumns | None) -> dict[str, np.ndarray]:
        """Every product of the window, each record in its place and dtype, from the chain's
        ``columns`` (:meth:`read`) when it takes the window, else computed step by step."""
        found = None if self.chain is None else self.chain.compute(columns, self.wanted)
        return self._computed(span) if found is None else found

    def __call__(self, span: tuple[int, int]) -> dict[str, np.ndarray]:
        return self.values(span, self.read(span))

    def _computed(self, span: tuple[int, int]) -> dict[str, np.ndarray]:
        start, stop = span
        out = compute(self.store, self.preload, self.plan, index_range=IndexRange(start, stop),
                      settings=self.settings, require_deployment=self.require_deployment, use_cache=False,
                      deployments=self.deployments, argument_provenance=False)
        return {name: expanded(out[name], out.source_index, stop - start, self.shapes[name])
                for name in self.wanted if name in out}


def blocks_ahead(
    blocks: Sequence[Sequence[tuple[int, int]]], threads: int, looked_up: Callable[[tuple[int, int]], Any],
    work: Callable[[], WindowWork],
) -> Iterator[list[tuple[tuple[int, int], Any]]]:
    """Each block's windows (``blocks``: the spans of each), block after block, as
    ``(span, found)``: what ``looked_up(span)`` found (a cache's), or when it found nothing
    (``None``), the products :class:`WindowWork` computed there (a ``dict``).

    The windows' work goes on in order across blocks
    (:func:`~dap_handlers.window_threads.ahead`), so it does not wait at each block's end while
    the caller uses the block it holds: with more than one thread, the windows are computed on
    the compute pool, up to one block's windows beyond the window taken; with one, they are
    computed on the caller's thread as each block is taken, and the compiled chain's columns of
    the next :data:`READ_DEPTH` windows (never more than the shortest block's windows, so at
    most one block ahead) are read meanwhile on the reader threads. ``looked_up`` and ``work``
    (called once, at the first window nothing was found for) run on the caller's thread, in
    window order. Closing the iterator cancels or waits for the work started ahead.
    """
    made: list[WindowWork] = []
    pool = compute_pool(threads) if threads > 1 else reader_pool()

    def start(span: tuple[int, int]) -> Future[Any]:
        found = looked_up(span)
        if found is not None:
            return done(found)
        if not made:
            made.append(work())
        if threads > 1:
            return pool.submit(made[0], span)
        if made[0].chain is None:  # nothing to read ahead: computed step by step when taken
            return done(_Columns(None))
        return pool.submit(lambda: _Columns(made[0].read(span)))

    lengths = [len(spans) for spans in blocks if spans] or [1]
    depth = max(threads, *lengths) if threads > 1 else min(READ_DEPTH, *lengths)
    with closing(ahead(start, (span for spans in blocks for span in spans), depth)) as windows:
        for spans in blocks:
            yield [(span, made[0].values(span, got.columns) if isinstance(got, _Columns) else got)
                   for span, got in itertools.islice(windows, len(spans))]


class _Columns:
    """What the reader threads read of a window ahead of computing it (one compute thread)."""

    __slots__ = ("columns",)

    def __init__(self, columns: WindowColumns | None) -> None:
        self.columns = columns


__all__ = ["READ_DEPTH", "WindowWork", "blocks_ahead"]
