"""Reading records from a stream table: the bins a range needs, queried concurrently, into numpy.

One prepared statement per column set names only the columns asked for (and, for a time range,
the clustering range); the bins are queried concurrently and every page is decoded straight into
numpy (``cassandra_columnar.py``), so the hot path makes no Python object per value.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from stream_engine.store.base import (
    DEPLOYMENT,
    TIME,
    ColumnInfo,
    IndexRange,
    Partition,
    StreamKey,
    TimeRange,
)
from stream_engine.store.cassandra_schema import KEY_COLUMNS, quote
from stream_engine.store.cassandra_session import CassandraConnection
from stream_engine.store.cassandra_tables import ROW_WHERE, index_bins, wanted_columns
from stream_engine.store.cassandra_values import column_from_pages
from stream_engine.store.records import fill_array, to_output

__all__ = ["read_bins", "read_records"]


def read_records(
    conn: CassandraConnection,
    keyspace: str,
    key: StreamKey,
    columns: Sequence[str] | None,
    parts: list[Partition],
    stored: dict[str, ColumnInfo],
    *,
    time_range: TimeRange | None = None,
    index_range: IndexRange | None = None,
) -> dict[str, np.ndarray]:
    """The records of ``key`` a :meth:`~stream_engine.store.base.Store.read` asks for, given the
    stream's partition index ``parts`` and ``stored`` columns."""
    if time_range is not None and index_range is not None:
        raise ValueError("give at most one of time_range and index_range")
    if isinstance(columns, str):
        raise TypeError(f"columns must be a sequence of names, not the string {columns!r}")
    wanted = wanted_columns(key, stored, columns)
    if not stored:
        return {TIME: np.empty(0, np.float64), DEPLOYMENT: np.empty(0, np.int32)}
    infos = [stored[name] for name in wanted]
    if index_range is not None:
        bins, skip = index_bins(parts, index_range)
        out = read_bins(conn, keyspace, key, bins, infos, None)
        stop = index_range.stop - skip
        picked = slice(index_range.start - skip, max(stop, 0), index_range.step)
        out = {n: v[picked] for n, v in out.items()}
    else:
        bins = [p.bin for p in parts if time_range is None or time_range.overlaps(p.first, p.last)]
        out = read_bins(conn, keyspace, key, bins, infos, time_range)
    return {name: to_output(out[name]) for name in wanted}


def read_bins(conn: CassandraConnection, keyspace: str, key: StreamKey, bins: list[int],
              infos: list[ColumnInfo], time_range: TimeRange | None) -> dict[str, np.ndarray]:
    """The ``infos`` columns of every row of ``bins`` (within ``time_range``), in key order."""
    names = ", ".join(quote(i.name) if i.name not in KEY_COLUMNS else i.name for i in infos)
    cql = f"SELECT {names} FROM {keyspace}.{key.stream} WHERE {ROW_WHERE}"
    base = (key.subsite, key.node, key.sensor)
    params: list[tuple[Any, ...]]
    if time_range is not None:
        cql += " AND time >= ? AND time < ?"
        params = [(*base, b, key.method, float(time_range.start), float(time_range.stop)) for b in bins]
    else:
        params = [(*base, b, key.method) for b in bins]
    if not bins:
        return {i.name: fill_array(i, 0) for i in infos}
    with conn.errors(f"read {key}"):
        statement = conn.prepare(cql, columnar=True)
    pages = [p for per_bin in conn.column_pages(statement, params, doing=f"read {key}") for p in per_bin]
    out = {i.name: column_from_pages([p[i.name] for p in pages], i) for i in infos}
    time, dep = out[TIME], out[DEPLOYMENT]
    if len(time) > 1:
        dup = (time[1:] == time[:-1]) & (dep[1:] == dep[:-1])
        if dup.any():  # one key stored under two ids (written by another tool): keep the first
            keep = np.concatenate([[True], ~dup])
            out = {n: v[keep] for n, v in out.items()}
    return out
