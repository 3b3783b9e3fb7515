"""Writing records to a stream table: idempotent upserts by ``(time, deployment)``, batched per partition.

A write reads the keys already in each bin it touches (``time, deployment, id``: one fixed-width
page each), reuses the ``id`` of a record it replaces so an upsert never duplicates a row, sends
the rows as unlogged batches to one partition each (atomic and isolated per partition, so a record
is never half-written), and only then updates the partition index and the stream's generation.
An interrupted write is resumed by writing the same records again: the ids are the same and the
index of each bin is recomputed from the keys stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from stream_engine.store.base import DEPLOYMENT, TIME, ColumnInfo, StreamKey, WriteResult
from stream_engine.store.cassandra_tables import (
    KEY_WHERE,
    ROW_WHERE,
    ensure_stream_table,
    insert_statement,
    key_params,
    record_ids,
    row_batches,
)
from stream_engine.store.cassandra_values import column_from_pages, serialize, uuids
from stream_engine.store.records import DEPLOYMENT_INFO, TIME_INFO, conform, fill_array, normalize

if TYPE_CHECKING:
    from stream_engine.store.cassandra import CassandraStore

__all__ = ["write_records"]


def write_records(store: CassandraStore, key: StreamKey, records: Mapping[str, np.ndarray], *,
                  bin_seconds: int) -> WriteResult:
    """Upsert ``records`` into ``key``'s table (see the module docstring and
    :meth:`~stream_engine.store.base.Store.write`)."""
    if isinstance(bin_seconds, bool) or not isinstance(bin_seconds, int | np.integer) or bin_seconds < 1:
        raise ValueError(f"bin_seconds must be a positive integer number of seconds, got {bin_seconds!r}")
    params = key_params(key)
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
                after[name] = ColumnInfo(name, stored[name].dtype, infos[name].shape)
        else:
            after[name] = infos[name]
    conn, keyspace = store.conn, store.keyspace
    with store.schema_lock:
        ensure_stream_table(conn, keyspace, key, after)
    _record_columns(store, key, bin_seconds, stored, after)
    bins = (np.floor(columns[TIME] / bin_seconds) * bin_seconds).astype(np.int64)
    edges = [0, *(np.flatnonzero(bins[1:] != bins[:-1]) + 1).tolist(), len(bins)]
    segments = [(int(bins[lo]), lo, hi) for lo, hi in zip(edges[:-1], edges[1:], strict=True)]
    existing = _existing_keys(store, key, [b for b, _, _ in segments])
    insert = insert_statement(conn, keyspace, key, list(after))
    batches, index_rows = [], []
    inserted = replaced = 0
    for (bin_, lo, hi), (old_t, old_d, old_ids) in zip(segments, existing, strict=True):
        t, d = columns[TIME][lo:hi], columns[DEPLOYMENT][lo:hi]
        ids, n_replaced = record_ids(t, d, old_t, old_d, old_ids)
        inserted += hi - lo - n_replaced
        replaced += n_replaced
        values = [serialize(columns[n][lo:hi] if n in columns else fill_array(after[n], hi - lo), after[n])
                  for n in after if n not in (TIME, DEPLOYMENT)]
        prefix = (*(v.encode() for v in (key.subsite, key.node, key.sensor)),
                  int(bin_).to_bytes(8, "big", signed=True), key.method.encode())
        rows = zip(serialize(t, TIME_INFO), serialize(d, DEPLOYMENT_INFO), [u.bytes for u in ids], *values,
                   strict=True)
        batches.extend(row_batches(insert, [prefix + row for row in rows], store.batch_rows, conn.consistency))
        first = min(float(t[0]), float(old_t.min())) if len(old_t) else float(t[0])
        last = max(float(t[-1]), float(old_t.max())) if len(old_t) else float(t[-1])
        index_rows.append((*params, bin_, len(old_t) + hi - lo - n_replaced, first, last))
    conn.concurrent_statements(batches, doing=f"write {key}")
    index = f"UPDATE {keyspace}.partition_metadata SET count=?, first=?, last=? WHERE {KEY_WHERE} AND bin=?"
    with conn.errors(f"update the partition index of {key}"):
        statement = conn.prepare(index)
    conn.concurrent(statement, [(c, f, la, *p, b) for *p, b, c, f, la in index_rows],
                    doing=f"update the partition index of {key}")
    store.record_write(key)
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
    conn.concurrent(statement, [(i.name, i.dtype, i.shape[0] if i.shape else None, *params, pos)
                                for pos, i in changed], doing=f"record the columns of {key}")


def _existing_keys(store: CassandraStore, key: StreamKey, bins: list[int]) -> list[tuple[np.ndarray, np.ndarray, Any]]:
    conn = store.conn
    cql = f"SELECT time, deployment, id FROM {store.keyspace}.{key.stream} WHERE {ROW_WHERE}"
    with conn.errors(f"read the keys of {key}"):
        statement = conn.prepare(cql, columnar=True)
    base = (key.subsite, key.node, key.sensor)
    found = conn.column_pages(statement, [(*base, b, key.method) for b in bins], doing=f"read the keys of {key}")
    out = []
    for pages in found:
        t = column_from_pages([p[TIME] for p in pages], TIME_INFO)
        d = column_from_pages([p[DEPLOYMENT] for p in pages], DEPLOYMENT_INFO)
        ids = [u for p in pages for u in uuids(p["id"])]
        out.append((t, d, ids))
    return out
