"""Compiled passes over the key columns of a window of records.

A computation may take a faster path for the records of a window that are the plain case: runs
of one deployment each. :func:`number_runs` finds them in one pass over the deployment numbers,
without the masks and reductions of the general path.
"""

from __future__ import annotations

import numba
import numpy as np

from stream_engine.functions.teos10_kernels import JIT

#: The deployment number type the loops are compiled for (as the stores keep it).
NUMBER_TYPE = np.dtype(np.int32)


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


def deployment_runs(numbers: np.ndarray) -> np.ndarray:
    """:func:`number_runs` of any one-dimensional array of deployment numbers: one run, without
    looking at the values, when the array repeats one number (a stride-0 view, as a store hands
    out the numbers of a chunk whose records are all of one deployment); the compiled pass for
    the stores' contiguous int32; numpy for anything else."""
    n = len(numbers)
    if n > 1 and numbers.strides == (0,):
        return np.array([0, n], dtype=np.int64)
    if numbers.dtype == NUMBER_TYPE and numbers.flags.c_contiguous:
        return number_runs(numbers)  # type: ignore[no-any-return]
    edges = np.flatnonzero(numbers[1:] != numbers[:-1]) + 1
    return np.concatenate(([0], edges, [n])).astype(np.int64)


#: Every compiled loop of this module.
LOOPS = (number_runs,)


def warm_up() -> None:
    """Load (or compile) the loops for the key types of the stores (read-only arrays; writable
    ones convert), then let them compile nothing more in this process."""
    numbers = np.array([1, 1], dtype=NUMBER_TYPE)
    numbers.flags.writeable = False
    number_runs(numbers)
    for loop in LOOPS:
        loop.disable_compile()


__all__ = ["NUMBER_TYPE", "LOOPS", "deployment_runs", "number_runs", "warm_up"]
