"""QARTOD flags in query results (``run_qartod`` in a ``/particles`` or export request).

For every requested numeric parameter of the primary stream that stored QARTOD records test,
two more result columns: ``<name>_qartod_results`` (the aggregate flag) and
``<name>_qartod_executed`` (one digit per test), computed chunk by chunk with the context of
:class:`~stream_engine.quality.qartod_slices.SliceTests`, so they equal the flags DAP serves and a
whole-stream run. Values are tested as DAP serves them: missing (flag 9) where an exclusion
annotation covers them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from stream_engine.quality.annotations import Annotation, exclusion_masks
from stream_engine.quality.qartod import qartod_for
from stream_engine.quality.qartod_slices import SliceTests
from stream_engine.store.base import TIME, IndexRange

if TYPE_CHECKING:
    from stream_engine.engine.computed import ComputedSlice
    from stream_engine.preload.model import Parameter
    from stream_engine.store.base import Store, StreamKey

RESULTS, EXECUTED = "_qartod_results", "_qartod_executed"


class QueryQartod:
    """QARTOD columns of one query's primary stream.

    Parameters
    ----------
    view
        The query's store snapshot.
    key
        The primary stream.
    tested
        ``(output name, parameter)`` of the requested parameters, in output order.
    compute_range
        Computes the primary stream's plan over an index range (all records, none dropped
        for the deployment rule is not required: dropped ones are missing).
    annotations
        The primary stream's annotations (exclusions make values missing before testing).
    """

    def __init__(self, view: Store, key: StreamKey, tested: Sequence[tuple[str, Parameter]],
                 compute_range: Callable[[IndexRange], ComputedSlice], annotations: Sequence[Annotation]) -> None:
        records = qartod_for(view, key)
        coverage = view.coverage(key)
        n = 0 if coverage is None else coverage.count
        self.view, self.key, self.annotations = view, key, list(annotations)
        self.compute_range = compute_range
        self.tests: dict[str, SliceTests] = {}
        self.notes: list[str] = []
        for name, p in tested:
            if p.name in records and p.dtype.kind in "fiu" and not p.is_array and not p.dimensions:
                self.tests[name] = SliceTests(records[p.name], n, partial(tested_values, view, key, compute_range, self.annotations, p))

    def outputs(self) -> list[tuple[str, Any]]:
        """Names of the added columns, with their missing marker (never used: every record gets a flag)."""
        return [(n, fill) for _, results, executed in self.names for n, fill in ((results, 0), (executed, ""))]

    @property
    def names(self) -> list[tuple[str, str, str]]:
        """``(tested output name, results name, executed name)`` of every tested parameter."""
        return [(name, name + RESULTS, name + EXECUTED) for name in self.tests]

    def columns(self, index_range: IndexRange, source_index: np.ndarray) -> dict[str, np.ndarray]:
        """The QARTOD columns of the records ``computed`` holds of ``index_range``."""
        out: dict[str, Any] = {}
        if not len(index_range):
            return out
        for name, results, executed in self.names:
            found = self.tests[name].result(index_range.start, index_range.stop, index_range.step)
            out[results] = found.results[source_index]
            out[executed] = found.executed[source_index]
        return out


def tested_columns(view: Store, key: StreamKey, compute_range: Callable[[IndexRange], ComputedSlice],
                   annotations: Sequence[Annotation], parameters: Sequence[Parameter], a: int,
                   b: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Times and values (float, NaN where missing or excluded by an annotation; 2-D for array
    parameters) of ``parameters`` for the records ``[a, b)`` of ``key``, as the tests see them."""
    times = view.read(key, [], index_range=IndexRange(a, b))[TIME]
    computed = compute_range(IndexRange(a, b))
    masks = exclusion_masks(annotations, times)
    out: dict[str, np.ndarray] = {}
    for p in parameters:
        values: np.ndarray = np.full(len(times), np.nan)
        raw = np.asarray(computed[p.name]) if p.name in computed else None
        if raw is not None and raw.dtype.kind in "fiub":
            got = raw.astype(np.float64)
            if p.dtype.kind in "iu" and p.fill_value is not None:
                got[raw == np.asarray(p.fill_value).astype(p.dtype)] = np.nan
            values = np.full((len(times), *got.shape[1:]), np.nan)
            values[computed.source_index] = got
        if masks is not None:
            values[masks.parameter(p)] = np.nan
        out[p.name] = values
    return times, out


def tested_values(view: Store, key: StreamKey, compute_range: Callable[[IndexRange], ComputedSlice],
                  annotations: Sequence[Annotation], p: Parameter, a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
    """Times and values of parameter ``p`` for the records ``[a, b)`` (see :func:`tested_columns`)."""
    times, values = tested_columns(view, key, compute_range, annotations, [p], a, b)
    return times, values[p.name]
