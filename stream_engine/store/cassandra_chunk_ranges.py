"""Time-range reads of chunk bins that fetch only the cells holding the records asked for.

A bin's chunk version keeps, in its marker cell, the time of every
:data:`~stream_engine.store.cassandra_chunks.TIME_INDEX_STEP`-th record. A read wanting part of
a bin reads that small cell first, finds the record range ``[lo, hi)`` that can hold the time
range, and then fetches, per column, only the cells overlapping it: cells of a fixed-width
column hold :func:`~stream_engine.store.cassandra_chunks.records_per_cell` records each, so
which cells those are follows from the column's dtype. Strings and arrays (cells of varying
records) are fetched whole, as are versions written before the marker kept the times (the
caller then reads the bin whole). The records are then cut exactly by their times.

A version deleted while it is read (a writer switched the bin) is told from a column the
version lacks by reading the marker again when a column came back without cells: gone, the
read fails with :class:`~stream_engine.store.cassandra_chunks.VersionGone` (503, retry).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from stream_engine.store.base import TIME, ColumnInfo, StreamKey, TimeRange
from stream_engine.store.cassandra_chunks import (
    CHUNK_TABLE,
    MARKER,
    TIME_INDEX_STEP,
    BinState,
    VersionGone,
    column,
    records_per_cell,
)
from stream_engine.store.cassandra_session import CassandraConnection

__all__ = ["read_time_range"]

_PK = "subsite=? AND node=? AND sensor=? AND method=? AND stream=? AND bin=?"
_ALL_CELLS = 2**31 - 1
#: Cells per result page (~2 MB), as for whole-bin reads (cassandra_chunks.py says why).
_PAGE_CELLS = 4


def _pk(key: StreamKey, state: BinState) -> tuple[object, ...]:
    return key.subsite, key.node, key.sensor, key.method, key.stream, state.bin, state.version


def _markers(conn: CassandraConnection, keyspace: str, key: StreamKey,
             states: Sequence[BinState]) -> list[tuple[int, bytes] | None]:
    """Each bin version's marker cell ``(count, data)``, ``None`` where it is gone."""
    cql = f"SELECT count, data FROM {keyspace}.{CHUNK_TABLE} WHERE {_PK} AND version=? AND name=? AND chunk=0"
    found = []
    for rows in _rows(conn, cql, [(*_pk(key, s), MARKER) for s in states], ("count", "data"), key):
        found.append((int(rows[0][0]), bytes(rows[0][1] or b"")) if rows else None)  # type: ignore[call-overload]
    return found


def _rows(conn: CassandraConnection, cql: str, params: Sequence[Sequence[object]], names: Sequence[str],
          key: StreamKey) -> list[list[tuple[object, ...]]]:
    """The rows (``names`` columns) of ``cql`` run once per parameter tuple, concurrently."""
    with conn.errors(f"read the chunks of {key}"):
        statement = conn.prepare(cql, columnar=True)
        statement.fetch_size = _PAGE_CELLS
    out = []
    for pages in conn.column_pages(statement, params, doing=f"read the chunks of {key}"):
        out.append([row for page in pages for row in zip(*(page[n] for n in names), strict=True)])
    return out


def read_time_range(conn: CassandraConnection, keyspace: str, key: StreamKey, states: Sequence[BinState],
                    infos: Sequence[ColumnInfo], time_range: TimeRange) -> list[dict[str, np.ndarray] | None]:
    """Per bin of ``states`` (all with a chunk version): its records within ``time_range``, the
    ``infos`` columns (time among them), or ``None`` where the version keeps no time index."""
    wanted = list(infos) if any(i.name == TIME for i in infos) else [*infos, ColumnInfo(TIME, "<f8")]
    out: list[dict[str, np.ndarray] | None] = [None] * len(states)
    spans: list[tuple[int, int, int]] = []  # (position in states, lo, hi) of the bins read here
    for i, (state, marker) in enumerate(zip(states, _markers(conn, keyspace, key, states), strict=True)):
        if marker is None or marker[0] != state.partition.count:
            raise VersionGone(key)
        count, data = marker
        if not data:
            continue  # written before the time index: the caller reads the bin whole
        samples = np.frombuffer(data, dtype="<f8")
        below = int(np.searchsorted(samples, time_range.start, side="left")) - 1  # samples[below] < start
        lo = max(below, 0) * TIME_INDEX_STEP
        hi = min(count, int(np.searchsorted(samples, time_range.stop, side="left")) * TIME_INDEX_STEP)
        spans.append((i, lo, max(hi, lo)))
    cql = (f"SELECT chunk, count, data FROM {keyspace}.{CHUNK_TABLE} WHERE {_PK} AND version=? AND name=? "
           "AND chunk>=? AND chunk<=?")
    params, plans = [], []
    for i, lo, hi in spans:
        state = states[i]
        for info in wanted:
            per = records_per_cell(info)
            if per is None or hi == lo:
                first, last, start, n = 0, _ALL_CELLS, 0, state.partition.count
            else:
                first, last = lo // per, (hi - 1) // per
                start, n = first * per, min(state.partition.count, (last + 1) * per) - first * per
            params.append((*_pk(key, state), info.name, first, last))
            plans.append((i, info, start, n))
    found = _rows(conn, cql, params, ("chunk", "count", "data"), key)
    columns: dict[int, dict[str, np.ndarray]] = {i: {} for i, _, _ in spans}
    missing: list[int] = []
    for (i, info, start, n), rows in zip(plans, found, strict=True):
        cells = sorted((int(c), int(k), bytes(d)) for c, k, d in rows)  # type: ignore[call-overload]
        if not cells:
            missing.append(i)
        elif sum(k for _, k, _ in cells) != n:
            raise VersionGone(key)
        values = column([(k, d) for _, k, d in cells], info, n)
        lo, hi = next((lo, hi) for j, lo, hi in spans if j == i)
        columns[i][info.name] = values[lo - start : hi - start] if hi > lo else values[:0]
    if missing:  # a column the version lacks (all fill), or the version deleted under us?
        again = _markers(conn, keyspace, key, [states[i] for i in sorted(set(missing))])
        if any(m is None for m in again):
            raise VersionGone(key)
    for i, span in columns.items():
        a, b = np.searchsorted(span[TIME], [time_range.start, time_range.stop], side="left").tolist()
        out[i] = {info.name: np.array(span[info.name][a:b]) for info in infos}
    return out
