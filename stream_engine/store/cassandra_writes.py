"""Writing records to a stream: idempotent upserts by ``(time, deployment)``.

This module checks the records against the stream's stored columns, creates or widens the
stream's table and records its columns, splits the records by bin, hands the bins to the bulk
path (:mod:`~stream_engine.store.cassandra_bulk`: a new column-chunk version per bin, the OOI rows,
the partition index switched per bin) and finally moves the stream's generation on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from stream_engine.store.base import DEPLOYMENT, TIME, ColumnInfo, StreamKey, WriteResult
from stream_engine.store.cassandra_bulk import write_bins
from stream_engine.store.cassandra_msgpack import dtype_text
from stream_engine.store.cassandra_tables import KEY_WHERE, ensure_stream_table, key_params
from stream_engine.store.records import DEPLOYMENT_INFO, TIME_INFO, conform, normalize

if TYPE_CHECKING:
    from stream_engine.store.cassandra import CassandraStore

__all__ = ["write_records"]


def write_records(store: CassandraStore, key: StreamKey, records: Mapping[str, np.ndarray], *,
                  bin_seconds: int) -> WriteResult:
    """Upsert ``records`` into ``key``'s table (see the module docstring and
    :meth:`~stream_engine.store.base.Store.write`)."""
    if isinstance(bin_seconds, bool) or not isinstance(bin_seconds, int | np.integer) or bin_seconds < 1:
        raise ValueError(f"bin_seconds must be a positive integer number of seconds, got {bin_seconds!r}")
    key_params(key)  # TypeError for anything but a StreamKey, before any work
    batch = normalize(records)
    if not len(batch):
        return WriteResult()
    bin_seconds = int(bin_seconds)
    stored_bins, stored = store.stored(key)
    if stored_bins is not None and stored_bins != bin_seconds:
        raise ValueError(
            f"stream {key} is stored in bins of {stored_bins} s; cannot write with bin_seconds="
            f"{bin_seconds} (use {stored_bins})")
    columns = dict(batch.columns)
    infos = {**batch.infos, TIME: TIME_INFO, DEPLOYMENT: DEPLOYMENT_INFO}
    after = dict(stored)
    for name in columns:
        if name in stored:
            columns[name] = conform(name, columns[name], infos[name], stored[name], f"stream {key}")
            if infos[name].shape and infos[name].shape[0] > stored[name].shape[0]:
                after[name] = replace(stored[name], shape=infos[name].shape)  # keeps its blob encoding
        else:
            after[name] = infos[name]
    conn, keyspace = store.conn, store.keyspace
    with store.schema_lock:
        ensure_stream_table(conn, keyspace, key, after)
    _record_columns(store, key, bin_seconds, stored, after)
    bins = (np.floor(columns[TIME] / bin_seconds) * bin_seconds).astype(np.int64)
    edges = [0, *(np.flatnonzero(bins[1:] != bins[:-1]) + 1).tolist(), len(bins)]
    segments = [(int(bins[lo]), lo, hi) for lo, hi in zip(edges[:-1], edges[1:], strict=True)]
    inserted, replaced = write_bins(store, key, columns, after, segments)
    store.record_write(key, switched=True)
    return WriteResult(inserted, replaced, tuple(b for b, _, _ in segments))


def _record_columns(store: CassandraStore, key: StreamKey, bin_seconds: int, stored: dict[str, ColumnInfo],
                    after: dict[str, ColumnInfo]) -> None:
    params = key_params(key)
    conn, keyspace = store.conn, store.keyspace
    conn.execute(f"UPDATE {keyspace}.stream_metadata SET bin_seconds=? WHERE {KEY_WHERE}",
                 (bin_seconds, *params), doing=f"record stream {key}")
    changed = [(pos, info) for pos, (name, info) in enumerate(after.items()) if stored.get(name) != info]
    cql = f"UPDATE {keyspace}.stream_columns SET name=?, dtype=?, width=? WHERE {KEY_WHERE} AND position=?"
    with conn.errors(f"record the columns of {key}"):
        statement = conn.prepare(cql)
    conn.concurrent(statement, [(i.name, dtype_text(i), i.shape[0] if i.shape else None, *params, pos)
                                for pos, i in changed], doing=f"record the columns of {key}")
