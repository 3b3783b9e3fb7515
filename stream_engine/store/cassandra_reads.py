"""Reading records from a stream's OOI row table: bins queried concurrently, into numpy.

Used for bins that have no column chunks (written by OOI's tools; see
``cassandra_chunk_reads.py``, which picks per bin). One prepared statement per column set names
only the columns asked for (and, for a time range, the clustering range); the bins are queried
concurrently and every page is decoded straight into numpy (``cassandra_columnar.py``), so the
hot path makes no Python object per value.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from stream_engine.store.base import (
    DEPLOYMENT,
    TIME,
    ColumnInfo,
    StreamKey,
    TimeRange,
)
from stream_engine.store.cassandra_schema import KEY_COLUMNS, quote
from stream_engine.store.cassandra_session import CassandraConnection
from stream_engine.store.cassandra_tables import ROW_WHERE
from stream_engine.store.cassandra_values import column_from_pages
from stream_engine.store.records import fill_array

__all__ = ["read_bins"]


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
