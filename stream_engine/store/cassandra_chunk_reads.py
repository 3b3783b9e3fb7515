"""Reading a stream of the Cassandra store bin by bin: chunks where a bin has them, rows elsewhere.

A bin whose partition-index row names a chunk version is read from ``column_chunks`` (a few
large cells per column, see :mod:`~stream_engine.store.cassandra_chunks`) and cut to the time or
index range in memory (a large bin wanted in part by time fetches only the cells that can hold
the range, :mod:`~stream_engine.store.cassandra_chunk_ranges`); a bin without one (written by OOI's tools) is read from the row table
(:func:`~stream_engine.store.cassandra_reads.read_bins`). Bins come back in index order, so a
stream mixing both kinds reads as one.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from stream_engine.store.base import (
    DEPLOYMENT,
    TIME,
    ColumnInfo,
    IndexRange,
    StreamKey,
    TimeRange,
    wanted_columns,
)
from stream_engine.store.cassandra_chunk_ranges import read_time_range
from stream_engine.store.cassandra_chunks import TIME_INDEX_STEP, BinCache, BinState, ChunkTable
from stream_engine.store.cassandra_reads import read_bins
from stream_engine.store.cassandra_session import CassandraConnection
from stream_engine.store.cassandra_tables import index_bins
from stream_engine.store.records import STRING_DTYPE, fill_array, to_output

__all__ = ["PREFETCH_BYTES", "read_stream"]

#: Most bytes of a read's bins (every stored column) fetched whole for a response's later reads.
PREFETCH_BYTES = 8 * 1024 * 1024


def _row_bytes(stored: dict[str, ColumnInfo]) -> int:
    """Rough bytes of one record of every stored column (strings counted as 32)."""
    total = 0
    for info in stored.values():
        width = int(np.prod(info.shape)) if info.shape else 1
        total += width * (32 if info.dtype == STRING_DTYPE else np.dtype(info.dtype).itemsize)
    return total


def read_stream(
    conn: CassandraConnection,
    keyspace: str,
    key: StreamKey,
    columns: Sequence[str] | None,
    states: Sequence[BinState],
    stored: dict[str, ColumnInfo],
    *,
    time_range: TimeRange | None = None,
    index_range: IndexRange | None = None,
    cache: BinCache | None = None,
) -> dict[str, np.ndarray]:
    """The records of ``key`` a :meth:`~stream_engine.store.base.Store.read` asks for, given the
    stream's partition index with chunk versions (``states``) and its ``stored`` columns; chunk
    bins already in ``cache`` (the response's, see :class:`BinCache`) are not fetched again."""
    if time_range is not None and index_range is not None:
        raise ValueError("give at most one of time_range and index_range")
    if isinstance(columns, str):
        raise TypeError(f"columns must be a sequence of names, not the string {columns!r}")
    wanted = wanted_columns(key, stored, columns)
    if not stored:
        return {TIME: np.empty(0, np.float64), DEPLOYMENT: np.empty(0, np.int32)}
    infos = [stored[name] for name in wanted]
    by_bin = {s.bin: s for s in states}
    if index_range is not None:
        bins, skip = index_bins([s.partition for s in states], index_range)
        out = _read(conn, keyspace, key, [by_bin[b] for b in bins], infos, None, cache, stored)
        picked = slice(index_range.start - skip, max(index_range.stop - skip, 0), index_range.step)
        out = {n: v[picked] for n, v in out.items()}
    else:
        chosen = [s for s in states
                  if time_range is None or time_range.overlaps(s.partition.first, s.partition.last)]
        out = _read(conn, keyspace, key, chosen, infos, time_range, cache, stored)
    return {name: to_output(out[name]) for name in wanted}


def _read(conn: CassandraConnection, keyspace: str, key: StreamKey, states: Sequence[BinState],
          infos: list[ColumnInfo], time_range: TimeRange | None, cache: BinCache | None,
          stored: dict[str, ColumnInfo]) -> dict[str, np.ndarray]:
    """``infos`` columns of the records of ``states`` (within ``time_range``), bins in order, in
    arrays of their own (never views of cached ones). With a ``cache``, small bins are fetched
    with every stored column at once (a response reading column after column queries them once)."""
    chunked = [s for s in states if s.version is not None]
    also: list[ColumnInfo] = []
    if cache is not None and sum(s.partition.count for s in chunked) * _row_bytes(stored) <= PREFETCH_BYTES:
        also = list(stored.values())
    rows = [s.bin for s in states if s.version is None]
    if not chunked:
        return read_bins(conn, keyspace, key, rows, infos, time_range)
    pieces: dict[int, dict[str, np.ndarray]] = {}
    if time_range is not None and not also:  # large bins wanted in part: only the cells needed
        partial = [s for s in chunked if s.partition.count > 2 * TIME_INDEX_STEP
                   and not (time_range.start <= s.partition.first and s.partition.last < time_range.stop)]
        for state, values in zip(partial, read_time_range(conn, keyspace, key, partial, infos, time_range),
                                 strict=True):
            if values is not None:
                pieces[state.bin] = values
        chunked = [s for s in chunked if s.bin not in pieces]
    for state, values in zip(chunked, ChunkTable(conn, keyspace).read(key, chunked, infos, cache, also), strict=True):
        if time_range is not None and not (time_range.start <= state.partition.first
                                           and state.partition.last < time_range.stop):
            lo, hi = np.searchsorted(values[TIME], [time_range.start, time_range.stop], side="left").tolist()
            values = {n: v[lo:hi] for n, v in values.items()}
        pieces[state.bin] = values
    for bin_ in rows:  # rows-only bins: each read on its own, concurrency inside read_bins per bin
        pieces[bin_] = read_bins(conn, keyspace, key, [bin_], infos, time_range)
    ordered = [pieces[s.bin] for s in states]
    if not ordered:
        return {i.name: fill_array(i, 0) for i in infos}
    if len(ordered) == 1:
        return {name: np.array(values) for name, values in ordered[0].items()}
    return {i.name: np.concatenate([p[i.name] for p in ordered]) for i in infos}
