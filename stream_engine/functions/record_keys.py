"""Compiled checks over the key columns (``time``, ``deployment``) of a window of records.

A computation may take a faster path for the records of a window that are the plain case: runs
of one deployment (:func:`number_runs`), each inside its deployment's time window with no
repeated timestamp (:func:`plain_times`); these tell it in a pass over the keys, without the
masks and reductions of the general path.
"""

from __future__ import annotations

import numba
import numpy as np

from stream_engine.functions.teos10_kernels import JIT

#: The key column types the check is compiled for (as the stores keep them).
TIME_TYPE, NUMBER_TYPE = np.dtype(np.float64), np.dtype(np.int32)


@numba.njit(**JIT)
def number_runs(numbers: np.ndarray) -> np.ndarray:
    """Where each run of equal deployment numbers starts, and the length at the end: ``[0, n]``
    for one run."""
    n = numbers.shape[0]
    changes = 0
    for i in range(1, n):
        changes += numbers[i] != numbers[i - 1]
    bounds = np.empty(changes + 2, dtype=np.int64)
    bounds[0] = 0
    k = 1
    if changes:
        for i in range(1, n):
            if numbers[i] != numbers[i - 1]:
                bounds[k] = i
                k += 1
    bounds[k] = n
    return bounds


@numba.njit(**JIT)
def plain_times(times: np.ndarray, start: float, stop: float) -> bool:
    """Whether every time lies in ``[start, stop)`` (NaN does not) and none equals the one
    before it."""
    bad = 0
    for i in range(times.shape[0]):
        t = times[i]
        bad += not (t >= start and t < stop)
    for i in range(1, times.shape[0]):
        bad += times[i] == times[i - 1]
    return bad == 0


#: Every compiled loop of this module.
LOOPS = (number_runs, plain_times)


def warm_up() -> None:
    """Load (or compile) the check for the key types of the stores (read-only arrays; writable
    ones convert), then let it compile nothing more in this process."""
    times = np.array([1.0, 2.0])
    numbers = np.array([1, 1], dtype=NUMBER_TYPE)
    times.flags.writeable = numbers.flags.writeable = False
    number_runs(numbers)
    plain_times(times, 0.0, 3.0)
    for loop in LOOPS:
        loop.disable_compile()


__all__ = ["NUMBER_TYPE", "TIME_TYPE", "LOOPS", "number_runs", "plain_times", "warm_up"]
