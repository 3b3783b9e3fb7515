"""QARTOD flags of a slice of a stream equal to those of a run over the whole stream.

A slice is tested together with enough records around it (:func:`~stream_engine.quality.qartod.
context_needed`: finite neighbours on both sides, and the flat-line window's seconds before it);
the context grows fourfold until it holds them or reaches the stream's ends.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from stream_engine.quality.qartod import QartodRecord, QartodResult, context_needed, run_qartod

#: Records read on each side of a slice at first.
FIRST_CONTEXT = 16


@dataclass(frozen=True, slots=True)
class SliceData:
    """What the tests of one parameter see over a record range: times (NTP s), values (float,
    NaN = missing; 2-D for an array parameter) and the further inputs by the records' names."""

    times: np.ndarray
    values: np.ndarray
    inputs: Mapping[str, np.ndarray] = field(default_factory=dict)


#: ``read(a, b)``: the :class:`SliceData` of records ``[a, b)``.
Reader = Callable[[int, int], SliceData]


def _finite_count(values: np.ndarray) -> int:
    """Finite values of the column with fewest (every column of a 2-D parameter needs them)."""
    if not len(values):
        return 0
    return int(np.isfinite(values.reshape(len(values), -1)).sum(axis=0).min())


class SliceTests:
    """The QARTOD results of one parameter for the slices read (kept per request).

    Parameters
    ----------
    records
        The QARTOD records testing the parameter.
    n
        Records in the stream.
    read
        Reads the tested data of a record index range.
    """

    def __init__(self, records: Sequence[QartodRecord], n: int, read: Reader) -> None:
        self.records = list(records)
        self.n = n
        self.read = read
        self.neighbours, self.seconds = context_needed(self.records)
        self._done: dict[tuple[int, int, int], QartodResult] = {}

    def _enough(self, t: np.ndarray, v: np.ndarray, lo: int, hi: int, a: int, b: int) -> bool:
        before_ok = a == 0 or (_finite_count(v[: lo - a]) >= self.neighbours
                               and (self.seconds == 0 or t[lo - a] - t[0] > self.seconds))
        after_ok = b == self.n or _finite_count(v[hi - a:]) >= self.neighbours
        return before_ok and after_ok

    def result(self, start: int, stop: int, step: int = 1) -> QartodResult:
        """The flags of records ``range(start, stop, step)`` (``stop > start``)."""
        span = (start, stop, step)
        if span not in self._done:
            lo, hi = start, start + (stop - 1 - start) // step * step + 1
            pad = FIRST_CONTEXT if self.neighbours or self.seconds else 0
            while True:
                a, b = max(0, lo - pad), min(self.n, hi + pad)
                data = self.read(a, b)
                if pad == 0 or self._enough(data.times, data.values, lo, hi, a, b):
                    break
                pad *= 4
            whole = run_qartod(self.records, data.times, data.values, data.inputs)
            cut = slice(lo - a, hi - a, step)
            self._done[span] = QartodResult(whole.results[cut], whole.executed[cut], whole.tests, whole.notes)
        return self._done[span]
