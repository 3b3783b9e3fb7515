"""Trend and gradient flags judged over each deployment's records of a whole request.

The original ran its QC on each deployment's records of a request. A query is served chunk by
chunk, so before the first chunk these tests scan the request's records once, deployment by
deployment (:class:`~stream_engine.quality.qc_algorithms.TrendSums` keeps a trend's normal
equations, :class:`~stream_engine.quality.qc_algorithms.GradientScan` the flags that are not 1),
reading :data:`BLOCK_RECORDS` records at a time; the chunks then take their flags from it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from stream_engine.quality.qc_algorithms import GradientScan, TrendSums
from stream_engine.quality.qc_tests import Arguments, NotRun

if TYPE_CHECKING:
    from stream_engine.quality.qc_tests import Resolver
    from stream_engine.store.base import IndexRange

TREND, GRADIENT = "dataqc_polytrendtest_wrapper", "dataqc_gradienttest_wrapper"
WHOLE_SERIES = (TREND, GRADIENT)
#: Records read at a time by the scan.
BLOCK_RECORDS = 65536

#: ``read(a, b)``: over records ``[a, b)``, their deployment numbers and a resolver of names
#: (``data``, ``time`` and the variables the arguments name) to per-record values.
Reader = Callable[[int, int], "tuple[np.ndarray, Resolver]"]


def _trend(a: Arguments, scale: float) -> TrendSums:
    return TrendSums(a.number("ord_n"), a.number("nstd"), scale)


def _gradient(a: Arguments) -> GradientScan:
    bound = a.given.get("ddatdx")
    limits = a.numbers("ddatdx") if isinstance(bound, list) else np.array([-a.number("ddatdx"), a.number("ddatdx")])
    if limits.size != 2:
        raise NotRun(f"{a.function} not run: ddatdx must be one bound or a list of two, got {bound!r}")
    return GradientScan((float(limits[0]), float(limits[1])), a.number("mindx", np.nan),
                        a.number("startdat", np.nan), a.number("toldat"))


class WholeSeries:
    """The trend and gradient flags of one tested parameter over a request, per deployment.

    Parameters
    ----------
    functions
        The parameter's QC functions (only trend and gradient are scanned here).
    read
        Reads a record range.
    span
        The request's records (with its step when it is thinned).
    scale
        Seconds the times are scaled by in the trend's fit (the stream's time span).
    """

    def __init__(self, functions: Mapping[str, Mapping[str, Any]], read: Reader, span: IndexRange,
                 scale: float) -> None:
        self.functions = {f: g for f, g in functions.items() if f in WHOLE_SERIES}
        self.read, self.span, self.scale = read, span, scale
        self._trend: dict[str, dict[int, int]] | None = None
        self._gradient: dict[str, dict[int, int]] = {}

    def _scan(self) -> None:
        trends: dict[tuple[str, int], TrendSums] = {}
        scans: dict[tuple[str, int], GradientScan] = {}
        failed: set[str] = set()
        step = self.span.step
        for a in range(self.span.start, self.span.stop, BLOCK_RECORDS * step):
            b = min(a + BLOCK_RECORDS * step, self.span.stop)
            numbers, resolve = self.read(a, b)
            picked = np.arange(0, b - a, step)
            numbers = np.asarray(numbers)[picked]
            for number in np.unique(numbers).tolist():
                rows = picked[numbers == number]

                def sub(name: str, rows: np.ndarray = rows, resolve: Resolver = resolve) -> np.ndarray | None:
                    found = resolve(name)
                    return None if found is None else np.asarray(found)[rows]

                for function, given in self.functions.items():
                    if function in failed:
                        continue
                    args = Arguments(function, given, sub)
                    try:
                        if function == TREND:
                            sums = trends.get((function, number)) or trends.setdefault(
                                (function, number), _trend(args, self.scale))
                            sums.add(args.vector("dat"), args.vector("t"))
                        else:
                            scan = scans.get((function, number)) or scans.setdefault((function, number), _gradient(args))
                            scan.add(args.vector("dat"), args.vector("x"), a + rows)
                    except NotRun:
                        failed.add(function)  # the chunks run it and say why it cannot run
        self._trend = {}
        for (function, number), sums in trends.items():
            if function not in failed:
                self._trend.setdefault(function, {})[number] = sums.passed()
        for (function, _), scan in scans.items():
            if function not in failed:
                self._gradient.setdefault(function, {}).update(scan.result())

    def flags(self, positions: np.ndarray, numbers: np.ndarray) -> dict[str, np.ndarray]:
        """The flags of the records at ``positions`` (of deployments ``numbers``), by function;
        a function that cannot run is absent."""
        if self._trend is None:
            self._scan()
        assert self._trend is not None
        out: dict[str, np.ndarray] = {}
        for function, verdicts in self._trend.items():
            out[function] = np.array([verdicts.get(int(n), 1) for n in numbers], dtype=np.int8)
        for function, exceptions in self._gradient.items():
            got = np.ones(len(positions), dtype=np.int8)
            for i, position in enumerate(np.asarray(positions).tolist()):
                got[i] = exceptions.get(position, 1)
            out[function] = got
        return out
