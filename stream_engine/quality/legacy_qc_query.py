"""Legacy QC bitmasks in query results: ``qcParameters`` of the request and stored QC records.

For every requested parameter of the primary stream with QC functions, two more result columns:
``<name>_qc_executed`` and ``<name>_qc_results`` (:mod:`stream_engine.quality.legacy_qc`). Each
chunk is tested with enough records on both sides for the spike and stuck-value windows to flag
it as the whole range; the trend test judges each chunk of records on its own (the original judged
the records of each request).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from stream_engine.errors import InvalidQuery
from stream_engine.quality.legacy_qc import context_needed, qc_for, run_qc
from stream_engine.quality.qartod_query import tested_values
from stream_engine.store.base import IndexRange

if TYPE_CHECKING:
    from stream_engine.engine.computed import ComputedSlice
    from stream_engine.preload.model import Parameter
    from stream_engine.quality.annotations import Annotation
    from stream_engine.store.base import Store, StreamKey

EXECUTED, RESULTS = "_qc_executed", "_qc_results"


class QueryLegacyQc:
    """Legacy QC columns of one query's primary stream (see :class:`QueryQartod
    <stream_engine.quality.qartod_query.QueryQartod>` for the parameters).

    Raises
    ------
    InvalidQuery
        A ``qcParameters`` entry of the request is malformed (field ``qcParameters[n]``).
    """

    def __init__(self, view: Store, key: StreamKey, tested: Sequence[tuple[str, Parameter]],
                 compute_range: Callable[[IndexRange], ComputedSlice], annotations: Sequence[Annotation],
                 requested: Sequence[Mapping[str, Any]]) -> None:
        for n, record in enumerate(requested):
            try:
                qc_for(view, key, [record])
            except ValueError as exc:
                raise InvalidQuery(f"qcParameters[{n}]: {exc}", field=f"qcParameters[{n}]") from None
        functions = qc_for(view, key, requested)
        coverage = view.coverage(key)
        self.n = 0 if coverage is None else coverage.count
        self.view, self.key, self.annotations = view, key, list(annotations)
        self.compute_range = compute_range
        self.functions = {name: (p, functions[p.name]) for name, p in tested
                          if p.name in functions and p.dtype.kind in "fiu" and not p.is_array}
        self.notes: list[str] = []

    def outputs(self) -> list[tuple[str, Any]]:
        """Names of the added columns, with their missing marker (never used: always a mask)."""
        return [(name + suffix, 255) for name in self.functions for suffix in (EXECUTED, RESULTS)]

    def columns(self, index_range: IndexRange, source_index: np.ndarray) -> dict[str, np.ndarray]:
        """The bitmasks of the records of ``index_range`` that ``source_index`` kept."""
        out: dict[str, np.ndarray] = {}
        if not len(index_range):
            return out
        lo, step = index_range.start, index_range.step
        hi = lo + (index_range.stop - 1 - lo) // step * step + 1
        for name, (p, functions) in self.functions.items():
            pad = context_needed(functions)
            a, b = max(0, lo - pad), min(self.n, hi + pad)
            times, values = tested_values(self.view, self.key, self.compute_range, self.annotations, p, a, b)
            flags, notes = run_qc(functions, values, times, core=slice(lo - a, hi - a, step))
            self.notes.extend(n for n in notes if n not in self.notes)
            out[name + EXECUTED] = flags.executed[source_index]
            out[name + RESULTS] = flags.results[source_index]
        return out
