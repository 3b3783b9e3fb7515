"""Legacy QC bitmasks in query results: ``qcParameters`` of the request and stored QC records.

For every requested parameter of the primary stream with QC functions, two more result columns:
``<name>_qc_executed`` and ``<name>_qc_results`` (:mod:`stream_engine.quality.legacy_qc`). Each
chunk is tested with enough records on both sides for the spike and stuck-value windows to flag
it as the whole range; the trend and gradient tests judge each deployment's records of the whole
request, as the original did (:mod:`stream_engine.quality.whole_series` scans the request once
before the first chunk).

Arguments naming other variables (a local range's ``dims``, a gradient's ``x``, a propagate-flags
input) are the stream's parameters, stored or product, by preload or output name, computed over
the same records. A name the stream does not have is the request's error (400) when the request's
``qcParameters`` wrote it; from a stored record the function is skipped with a provenance note.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from stream_engine.errors import InvalidQuery
from stream_engine.quality.legacy_qc import (
    BUILTIN_NAMES,
    DATA,
    MONTH,
    QC_RESULTS_SUFFIX,
    TIME_VALUE,
    context_needed,
    names_used,
    parse_qc,
    qc_for,
    run_qc,
)
from stream_engine.quality.qartod_query import tested_columns
from stream_engine.quality.qc_algorithms import ntp_month
from stream_engine.quality.whole_series import WHOLE_SERIES, Reader, WholeSeries
from stream_engine.store.base import DEPLOYMENT, IndexRange

if TYPE_CHECKING:
    from stream_engine.engine.computed import ComputedSlice
    from stream_engine.preload.model import Parameter
    from stream_engine.quality.annotations import Annotation
    from stream_engine.quality.qc_tests import Resolver
    from stream_engine.store.base import Store, StreamKey

EXECUTED, RESULTS = "_qc_executed", "_qc_results"
#: Computes the primary stream over an index range with the given further parameters (preload ids).
ComputeWith = Callable[[Sequence[int]], Callable[[IndexRange], "ComputedSlice"]]


def _resolver(p: Parameter, wanted: Sequence[Parameter], times: np.ndarray,
              values: Mapping[str, np.ndarray]) -> Resolver:
    """Names (``data``, ``time``, ``month``, the stream's parameters) to their values."""
    known = _by_name(wanted)

    def resolve(name: str) -> np.ndarray | None:
        if name == DATA:
            return values[p.name]
        if name == TIME_VALUE:
            return times
        if name == MONTH:
            return ntp_month(times)
        found = known.get(name)
        return None if found is None else values[found.name]

    return resolve


def _by_name(parameters: Sequence[Parameter]) -> dict[str, Parameter]:
    out: dict[str, Parameter] = {}
    for p in parameters:
        out.setdefault(p.name, p)
        out.setdefault(p.netcdf_name or p.name, p)
    return out


class QueryLegacyQc:
    """Legacy QC columns of one query's primary stream.

    Parameters
    ----------
    view, key, tested, annotations
        As :class:`~stream_engine.quality.qartod_query.QueryQartod`.
    compute_with
        Computes the primary stream with further parameters (those QC arguments name).
    requested
        The request's ``qcParameters``.
    parameters
        The primary stream's parameters (what argument names may refer to).

    Raises
    ------
    InvalidQuery
        A ``qcParameters`` entry is malformed or names a variable the stream does not have
        (field ``qcParameters[n]``).
    """

    def __init__(self, view: Store, key: StreamKey, tested: Sequence[tuple[str, Parameter]],
                 compute_with: ComputeWith, annotations: Sequence[Annotation],
                 requested: Sequence[Mapping[str, Any]], parameters: Sequence[Parameter],
                 span: IndexRange | None = None) -> None:
        known = _by_name(parameters)
        for n, record in enumerate(requested):
            try:
                parsed = parse_qc(record)
            except ValueError as exc:
                raise InvalidQuery(f"qcParameters[{n}]: {exc}", field=f"qcParameters[{n}]") from None
            for name in names_used({parsed.function: {parsed.argument: parsed.value}}):
                stem = name[: -len(QC_RESULTS_SUFFIX)] if name.endswith(QC_RESULTS_SUFFIX) else name
                if stem not in known:
                    raise InvalidQuery(
                        f"qcParameters[{n}]: {parsed.argument} of {parsed.function} names {name!r}, which is "
                        f"neither 'data', 'time', 'month' nor a parameter of stream {key.stream}",
                        field=f"qcParameters[{n}]")
        self.everything = qc_for(view, key, requested)
        coverage = view.coverage(key)
        self.n = 0 if coverage is None else coverage.count
        self.view, self.key, self.annotations = view, key, list(annotations)
        self.functions = {name: (p, self.everything[p.name]) for name, p in tested
                          if p.name in self.everything and p.dtype.kind in "fiu" and not p.is_array}
        self.others: dict[str, Parameter] = {}
        for _, (_, functions) in self.functions.items():
            for name in names_used(functions):
                stem = name[: -len(QC_RESULTS_SUFFIX)] if name.endswith(QC_RESULTS_SUFFIX) else name
                if stem in known and stem not in BUILTIN_NAMES:
                    self.others[stem] = known[stem]
        ids = sorted({p.id for p, _ in self.functions.values()} | {p.id for p in self.others.values()})
        self.compute_range = compute_with(ids)
        self.notes: list[str] = []
        scale = 1.0 if coverage is None else max(float(coverage.last - coverage.first), 1.0)
        self.whole = {name: WholeSeries(functions, self._whole_reader(p), span, scale)
                      for name, (p, functions) in self.functions.items()
                      if span is not None and any(f in WHOLE_SERIES for f in functions)}

    def _whole_reader(self, p: Parameter) -> Reader:
        wanted = [p, *(q for q in self.others.values() if q.id != p.id)]

        def read(a: int, b: int) -> tuple[np.ndarray, Resolver]:
            times, values = tested_columns(self.view, self.key, self.compute_range, self.annotations, wanted, a, b)
            return values[DEPLOYMENT], _resolver(p, wanted, times, values)

        return read

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
            pad = context_needed(functions, self.everything)
            a, b = max(0, lo - pad), min(self.n, hi + pad)
            wanted = [p, *(q for q in self.others.values() if q.id != p.id)]
            times, values = tested_columns(self.view, self.key, self.compute_range, self.annotations, wanted, a, b)
            core = slice(lo - a, hi - a, step)
            fixed = None
            if name in self.whole:
                fixed = self.whole[name].flags(np.arange(a, b)[core], values[DEPLOYMENT][core])
            known = _by_name(wanted)

            def others(name: str, values: dict[str, np.ndarray] = values,
                       known: dict[str, Parameter] = known) -> np.ndarray | None:
                found = known.get(name)
                return None if found is None else values[found.name]

            flags, notes = run_qc(functions, values[p.name], times, others, core=core,
                                  everything=self.everything, groups=values[DEPLOYMENT], fixed=fixed)
            self.notes.extend(f"{name}: {note}" for note in notes if f"{name}: {note}" not in self.notes)
            out[name + EXECUTED] = flags.executed[source_index]
            out[name + RESULTS] = flags.results[source_index]
        return out
