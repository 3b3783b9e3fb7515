"""Bounded slices of a stream's time range, from the partition index alone.

An export computes its records in slices of at most about ``records`` records, so memory holds
one slice whatever the size of the export. Partitions entirely inside the requested range are
grouped and cut into :class:`~stream_engine.store.base.IndexRange` slices of ``records``
records; a partition the range cuts through is one :class:`~stream_engine.store.base.TimeRange`
slice (its size is bounded by the stream's bin size).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from stream_engine.store.base import IndexRange, TimeRange

if TYPE_CHECKING:
    from stream_engine.store.base import Partition


@dataclass(frozen=True, slots=True)
class Slice:
    """One slice: exactly one of ``time_range``/``index_range``; ``records`` is an upper bound."""

    time_range: TimeRange | None
    index_range: IndexRange | None
    records: int


def plan_slices(partitions: list[Partition], time_range: TimeRange, records: int) -> list[Slice]:
    """The slices covering the records of ``time_range``, in stream order.

    Parameters
    ----------
    partitions
        The stream's partition index, sorted by bin.
    time_range
        The requested half-open range.
    records
        Target records per slice (>= 1).
    """
    if records < 1:
        raise ValueError(f"records per slice must be >= 1, got {records}")
    slices: list[Slice] = []
    offset = 0
    run_start = run_stop = -1

    def flush_run() -> None:
        start = run_start
        while start < run_stop:
            stop = min(run_stop, start + records)
            slices.append(Slice(None, IndexRange(start, stop), stop - start))
            start = stop

    for part in partitions:
        begin, end = offset, offset + part.count
        offset = end
        if part.count == 0 or not time_range.overlaps(part.first, part.last):
            continue
        if time_range.start <= part.first and part.last < time_range.stop:
            if run_stop != begin:
                flush_run()
                run_start = begin
            run_stop = end
            continue
        flush_run()
        run_start = run_stop = -1
        inside = TimeRange(max(time_range.start, part.first),
                           min(time_range.stop, float(np.nextafter(part.last, np.inf))))
        slices.append(Slice(inside, None, part.count))
    flush_run()
    return slices


def total_records(slices: list[Slice]) -> int:
    """An upper bound of the records the slices hold (exact when no partition is cut)."""
    return sum(s.records for s in slices)


def iter_ranges(slices: list[Slice]) -> Iterator[tuple[TimeRange | None, IndexRange | None]]:
    """``(time_range, index_range)`` of each slice, as :func:`compute` takes them."""
    for s in slices:
        yield s.time_range, s.index_range
