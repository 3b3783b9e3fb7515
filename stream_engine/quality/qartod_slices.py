"""QARTOD flags of a slice of a stream equal to those of a run over the whole stream.

A slice is tested together with enough records around it (:func:`~stream_engine.quality.qartod.
context_needed`: finite neighbours on both sides, and the flat-line window's seconds before it);
the context grows fourfold until it holds them or reaches the stream's ends.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from stream_engine.quality.qartod import QartodRecord, QartodResult, context_needed, run_qartod

#: Records read on each side of a slice at first.
FIRST_CONTEXT = 16

#: ``read(a, b)``: times (NTP s) and values (float, NaN = missing) of records ``[a, b)``.
Reader = Callable[[int, int], tuple[np.ndarray, np.ndarray]]


class SliceTests:
    """The QARTOD results of one parameter for the slices read (kept per request).

    Parameters
    ----------
    records
        The QARTOD records testing the parameter.
    n
        Records in the stream.
    read
        Reads times and values of a record index range.
    """

    def __init__(self, records: Sequence[QartodRecord], n: int, read: Reader) -> None:
        self.records = list(records)
        self.n = n
        self.read = read
        self.neighbours, self.seconds = context_needed(self.records)
        self._done: dict[tuple[int, int, int], QartodResult] = {}

    def _enough(self, t: np.ndarray, v: np.ndarray, lo: int, hi: int, a: int, b: int) -> bool:
        before_ok = a == 0 or (int(np.isfinite(v[: lo - a]).sum()) >= self.neighbours
                               and (self.seconds == 0 or t[lo - a] - t[0] > self.seconds))
        after_ok = b == self.n or int(np.isfinite(v[hi - a:]).sum()) >= self.neighbours
        return before_ok and after_ok

    def result(self, start: int, stop: int, step: int = 1) -> QartodResult:
        """The flags of records ``range(start, stop, step)`` (``stop > start``)."""
        span = (start, stop, step)
        if span not in self._done:
            lo, hi = start, start + (stop - 1 - start) // step * step + 1
            pad = FIRST_CONTEXT if self.neighbours or self.seconds else 0
            while True:
                a, b = max(0, lo - pad), min(self.n, hi + pad)
                t, v = self.read(a, b)
                if pad == 0 or self._enough(t, v, lo, hi, a, b):
                    break
                pad *= 4
            whole = run_qartod(self.records, t, v)
            cut = slice(lo - a, hi - a, step)
            self._done[span] = QartodResult(whole.results[cut], whole.executed[cut], whole.tests)
        return self._done[span]
