"""QARTOD flags in query results (``run_qartod`` in a ``/particles`` or export request).

For every requested numeric parameter of the primary stream that stored QARTOD records test,
two more result columns: ``<name>_qartod_results`` (the aggregate flag) and
``<name>_qartod_executed`` (one digit per test), computed chunk by chunk with the context of
:class:`~stream_engine.quality.qartod_slices.SliceTests`, so they equal the flags DAP serves and a
whole-stream run. A 2-D parameter is tested column by column (2-D flag columns). Values are tested
as DAP serves them: missing (flag 9) where an exclusion annotation covers them. Further inputs
(``zinp`` ...) are resolved by :mod:`stream_engine.quality.qartod_inputs`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from stream_engine.quality.annotations import Annotation, exclusion_masks
from stream_engine.quality.qartod import qartod_for
from stream_engine.quality.qartod_inputs import (
    ExternalFinder,
    ExternalSource,
    input_names,
    local_parameter,
)
from stream_engine.quality.qartod_slices import SliceData, SliceTests
from stream_engine.store.base import DEPLOYMENT, TIME, IndexRange

if TYPE_CHECKING:
    from stream_engine.engine.computed import ComputedSlice
    from stream_engine.preload.model import Parameter, Preload
    from stream_engine.store.base import Store, StreamKey

RESULTS, EXECUTED = "_qartod_results", "_qartod_executed"
#: Computes the primary stream over an index range with the given further parameters (preload ids).
ComputeWith = Callable[[Sequence[int]], Callable[[IndexRange], "ComputedSlice"]]


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
    compute_with
        Computes the primary stream's plan, with further parameters, over an index range.
    annotations
        The primary stream's annotations (exclusions make values missing before testing).
    preload, settings
        The dictionary (the stream's parameters, co-located streams) and engine settings.
    """

    def __init__(self, view: Store, key: StreamKey, tested: Sequence[tuple[str, Parameter]],
                 compute_with: ComputeWith, annotations: Sequence[Annotation], preload: Preload,
                 settings: Mapping[str, Any]) -> None:
        records = qartod_for(view, key)
        coverage = view.coverage(key)
        n = 0 if coverage is None else coverage.count
        self.view, self.key, self.annotations = view, key, list(annotations)
        self.finder = ExternalFinder(view, preload, key, settings)
        parameters = preload.stream_parameters(key.stream)
        chosen = [(name, p) for name, p in tested if p.name in records and p.dtype.kind in "fiu"]
        locals_: dict[str, Parameter] = {}
        for _, p in chosen:
            for name in input_names(records[p.name]):
                found = local_parameter(parameters, name)
                if found is not None:
                    locals_[name] = found
        compute_range = compute_with(sorted({p.id for _, p in chosen} | {q.id for q in locals_.values()}))
        self.tests: dict[str, SliceTests] = {}
        self.notes: list[str] = []
        for name, p in chosen:
            wanted = {n: locals_.get(n) for n in input_names(records[p.name])}
            self.tests[name] = SliceTests(records[p.name], n, self._reader(compute_range, p, wanted))

    def _reader(self, compute_range: Callable[[IndexRange], ComputedSlice], p: Parameter,
                wanted: Mapping[str, Parameter | None]) -> Callable[[int, int], SliceData]:
        locals_ = [q for q in wanted.values() if q is not None and q.id != p.id]
        others = [name for name, q in wanted.items() if q is None]

        def read(a: int, b: int) -> SliceData:
            times, columns = tested_columns(self.view, self.key, compute_range, self.annotations, [p, *locals_],
                                            a, b, others)
            inputs = {name: columns[q.name] for name, q in wanted.items() if q is not None}
            for name in others:
                if name in columns:  # a position of the stream (lat, lon, depth ...)
                    inputs[name] = columns[name]
                    continue
                source: ExternalSource | None = self.finder.find(name)
                if source is not None:
                    inputs[name] = self.finder.values(source, times, columns[DEPLOYMENT])
            return SliceData(times, columns[p.name], inputs)

        return read

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
            self.notes.extend(n for n in found.notes if n not in self.notes)
            out[results] = found.results[source_index]
            out[executed] = found.executed[source_index]
        return out


def tested_columns(view: Store, key: StreamKey, compute_range: Callable[[IndexRange], ComputedSlice],
                   annotations: Sequence[Annotation], parameters: Sequence[Parameter], a: int,
                   b: int, names: Sequence[str] = ()) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Times and values (float, NaN where missing or excluded by an annotation; 2-D for array
    parameters) of ``parameters`` for the records ``[a, b)`` of ``key``, as the tests see them;
    also ``deployment`` and any of ``names`` the computation holds (positions)."""
    read = view.read(key, [], index_range=IndexRange(a, b))
    times = read[TIME]
    computed = compute_range(IndexRange(a, b))
    masks = exclusion_masks(annotations, times)
    out: dict[str, np.ndarray] = {DEPLOYMENT: read[DEPLOYMENT]}
    for name in names:
        if name in computed and np.asarray(computed[name]).dtype.kind in "fiu":
            out[name] = np.full(len(times), np.nan)
            out[name][computed.source_index] = np.asarray(computed[name], dtype=np.float64)
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
