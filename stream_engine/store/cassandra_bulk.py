"""The bulk write path of the Cassandra store: each touched bin rewritten as a new chunk version.

For every bin a write touches (records already normalized, conformed and split by bin):

1. the bin's current records are read - from its visible chunk version, or from the OOI rows
   when the bin has none (a keyspace written by OOI's tools), keeping each row's ``id``;
2. old and new records are merged, upserting by ``(time, deployment)`` (a new record replaces
   the stored one and keeps its row ``id``);
3. the merged bin is stored as a new chunk version (invisible so far) and, when the store writes
   rows with the ingest (``CASSANDRA_ROWS = "with-ingest"``), the new records' OOI rows are
   upserted too (unlogged single-partition batches: a row is never half-written);
4. every bin's ``partition_metadata`` row is switched to its new version together with its
   count, first and last, all in one conditional batch (a lightweight transaction on the
   stream's one partition-index partition), each bin conditional on the version read in 1; the
   same batch moves the stream's generation (the partition index's static ``generation``). The
   batch applies whole or not at all, and Cassandra applies a single-partition batch in
   isolation, so a reader of the partition index sees the write's bins all switched or none,
   never some bins of the write and not others, and always with the generation of what it sees
   (the change token caches are keyed on). If another writer switched one of the bins first,
   nothing is switched; that bin starts again from 1 (rather than losing the other writer's
   records) and the batch is tried again with it. A write of more than :data:`SWITCH_BINS`
   bins (20 months of the dictionary's smallest, 3-hour bins; 13 years of daily ones) goes
   through 1-5 that many bins at a time, oldest first, as consecutive writes would;
5. every older version of the bins is deleted (the superseded ones, and any an interrupted write
   left unswitched).

Then the caller moves ``stream_metadata``'s generation and the keyspace's change token on. A
write interrupted anywhere leaves its bins (of each group of :data:`SWITCH_BINS`) either as they
were or all switched, with the generation of what they hold; writing the same records again
completes it (the merge is idempotent, and the switch deletes the versions it left).

Otherwise (``"background"``, the default, and ``"off"``) step 3 skips the rows: ingest runs at
the chunk rate and the bin's rows are left pending (its ``rows_version`` lags its
``chunk_version``) for :mod:`~stream_engine.store.cassandra_rows` to write.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from cassandra.query import BatchStatement

from stream_engine.errors import StoreUnavailable
from stream_engine.store.base import DEPLOYMENT, TIME, ColumnInfo, StreamKey
from stream_engine.store.cassandra_chunks import (
    ID_INFO,
    ROWS_INFO,
    BinState,
    ChunkTable,
    VersionGone,
)
from stream_engine.store.cassandra_tables import (
    KEY_WHERE,
    ROW_WHERE,
    generation_update,
    insert_statement,
    key_params,
    row_batches,
)
from stream_engine.store.cassandra_values import serialize
from stream_engine.store.records import (
    DEPLOYMENT_INFO,
    TIME_INFO,
    fill_array,
    pad_width,
    sort_unique,
)

if TYPE_CHECKING:
    from stream_engine.store.cassandra import CassandraStore

__all__ = ["row_values", "write_bins"]

#: Rounds of read-merge-switch for bins another writer switched first.
CAS_ROUNDS = 5
#: Most bins one batch switches (~150 bytes of CQL message each). A single-partition batch has
#: no size limit of its own, but a CQL message has (``native_transport_max_message_size``, 4 MiB
#: on a test node: a write of 40,000 bins in one batch was refused) and a mutation too (half a
#: commit log segment).
SWITCH_BINS = 5000
#: Chunk cells (up to 512 KiB each) in flight at once: enough to keep a node busy without
#: filling the connection's socket buffer.
CHUNK_WRITES = 4
_NIL = np.zeros(1, dtype="|V16")[0]


@dataclass(slots=True)
class _BinWrite:
    """One bin being written: its state before, the merged records and the new version."""

    state: BinState | None
    lo: int
    hi: int
    merged: dict[str, np.ndarray]
    new_ids: np.ndarray
    replaced: int
    version: uuid.UUID


def write_bins(store: CassandraStore, key: StreamKey, columns: dict[str, np.ndarray],
               after: dict[str, ColumnInfo], segments: Sequence[tuple[int, int, int]]) -> tuple[int, int]:
    """Upsert ``columns`` (sorted, unique, conformed to ``after``) into the bins ``segments``
    (``(bin, lo, hi)`` slices of the columns, in time order); returns ``(inserted, replaced)``.

    The bins are switched :data:`SWITCH_BINS` at a time, oldest first: a write of more bins
    than that becomes visible as that many writes one after the other would."""
    inserted = replaced = 0
    for start in range(0, len(segments), SWITCH_BINS):
        done = _write_group(store, key, columns, after, segments[start:start + SWITCH_BINS])
        inserted, replaced = inserted + done[0], replaced + done[1]
    return inserted, replaced


def _write_group(store: CassandraStore, key: StreamKey, columns: dict[str, np.ndarray],
                 after: dict[str, ColumnInfo], segments: Sequence[tuple[int, int, int]]) -> tuple[int, int]:
    """:func:`write_bins` for bins switched in one batch."""
    table = ChunkTable(store.conn, store.keyspace)
    todo = {b: (lo, hi) for b, lo, hi in segments}
    ready: dict[int, _BinWrite] = {}  # merged and stored, switched together
    for _ in range(CAS_ROUNDS):
        states = {s.bin: s for s in store.bin_states(key)}
        try:
            work = _merge_bins(store, table, key, columns, after, todo, states)
        except VersionGone:
            continue  # another writer switched a bin while we read it: read the new states
        _store_versions(store, table, key, columns, after, work)
        ready.update(work)
        lost = _switch(store, key, ready)
        if not lost:
            table.drop(key, [(b, w.version) for b, w in ready.items()], older=True)
            inserted = sum(w.hi - w.lo - w.replaced for w in ready.values())
            return inserted, sum(w.replaced for w in ready.values())
        table.drop(key, [(b, ready.pop(b).version) for b in lost])
        todo = {b: (w.lo, w.hi) for b, w in lost.items()}
    table.drop(key, [(b, w.version) for b, w in ready.items()])
    raise StoreUnavailable(
        f"stream {key} is being written by another process at the same time; retry the write")


def _merge_bins(store: CassandraStore, table: ChunkTable, key: StreamKey, columns: dict[str, np.ndarray],
                after: dict[str, ColumnInfo], todo: dict[int, tuple[int, int]],
                states: dict[int, BinState]) -> dict[int, _BinWrite]:
    infos = [*after.values(), ID_INFO, ROWS_INFO]
    chunked = [states[b] for b in todo if b in states and states[b].version is not None]
    rows_only = [states[b] for b in todo if b in states and states[b].version is None and states[b].partition.count]
    old = dict(zip([s.bin for s in chunked], table.read(key, chunked, infos), strict=True))
    old.update(zip([s.bin for s in rows_only], read_rows_with_ids(store, key, rows_only, infos), strict=True))
    work = {}
    for bin_, (lo, hi) in todo.items():
        new = {name: pad_width(columns[name][lo:hi], info) if name in columns else fill_array(info, hi - lo)
               for name, info in after.items()}
        before = old.get(bin_)
        new_ids, n_replaced = _ids_of(new, before)
        new[ID_INFO.name] = new_ids
        new[ROWS_INFO.name] = np.full(hi - lo, store.write_rows)  # written below with the version
        if before is None:
            merged = new
        else:
            merged, _ = sort_unique({n: np.concatenate([before[n], new[n]]) for n in new})
        work[bin_] = _BinWrite(states.get(bin_), lo, hi, merged, new_ids, n_replaced, uuid.uuid1())
    return work


def _ids_of(new: dict[str, np.ndarray], before: dict[str, np.ndarray] | None) -> tuple[np.ndarray, int]:
    """Row ids of the new records (a stored record's id where its key is stored, else nil) and how
    many replace a stored record. Both sides are sorted by ``(time, deployment)``."""
    t, d = new[TIME], new[DEPLOYMENT]
    ids = np.full(len(t), _NIL, dtype="|V16")
    if before is None or not len(before[TIME]):
        return ids, 0
    old_t, old_d, old_ids = before[TIME], before[DEPLOYMENT], before[ID_INFO.name]
    lo = np.searchsorted(old_t, t, side="left")
    hi = np.searchsorted(old_t, t, side="right")
    replaced = 0
    for j in np.flatnonzero(hi > lo).tolist():
        match = lo[j] + np.flatnonzero(old_d[lo[j] : hi[j]] == d[j])
        if len(match):
            ids[j] = old_ids[match[0]]
            replaced += 1
    return ids, replaced


def read_rows_with_ids(store: CassandraStore, key: StreamKey, states: Sequence[BinState],
                       infos: Sequence[ColumnInfo]) -> list[dict[str, np.ndarray]]:
    """Every record of rows-only bins (``infos`` columns, the row ``id`` among them), per bin."""
    from stream_engine.store.cassandra_reads import read_bins

    data = [info for info in infos if info.name not in (ID_INFO.name, ROWS_INFO.name)]
    out = []
    for state in states:
        values = read_bins(store.conn, store.keyspace, key, [state.bin], data, None)
        values[ID_INFO.name] = _row_ids(store, key, state.bin)
        values[ROWS_INFO.name] = np.ones(len(values[ID_INFO.name]), dtype=bool)  # they are the rows
        out.append(values)
    return out


def _row_ids(store: CassandraStore, key: StreamKey, bin_: int) -> np.ndarray:
    """The ``id`` of each record of one bin's rows, first row of a duplicated key only (as reads keep)."""
    conn = store.conn
    cql = f"SELECT time, deployment, id FROM {store.keyspace}.{key.stream} WHERE {ROW_WHERE}"
    with conn.errors(f"read the keys of {key}"):
        statement = conn.prepare(cql, columnar=True)
    pages = conn.column_pages(statement, [(key.subsite, key.node, key.sensor, bin_, key.method)],
                              doing=f"read the keys of {key}")[0]
    t = np.concatenate([np.asarray(p[TIME], dtype=np.float64) for p in pages]) if pages else np.empty(0)
    d = np.concatenate([np.asarray(p[DEPLOYMENT], dtype=np.int32) for p in pages]) if pages else np.empty(0, np.int32)
    ids = np.concatenate([_as_v16(p["id"]) for p in pages]) if pages else np.empty(0, "|V16")
    if len(t) > 1:
        keep = np.concatenate([[True], (t[1:] != t[:-1]) | (d[1:] != d[:-1])])
        ids = ids[keep]
    return ids


def _as_v16(values: Any) -> np.ndarray:
    if isinstance(values, np.ndarray):
        return values.astype("|V16")
    return np.array([(v or uuid.UUID(int=0)).bytes for v in values], dtype="|V16")


def _store_versions(store: CassandraStore, table: ChunkTable, key: StreamKey, columns: dict[str, np.ndarray],
                    after: dict[str, ColumnInfo], work: dict[int, _BinWrite]) -> None:
    """Write every bin's new chunk version and, when the store writes rows, the new records' rows."""
    params = [p for b, w in work.items() for p in table.insert_params(key, b, w.version, w.merged)]
    store.conn.concurrent(table.insert_statement(), params, doing=f"write the chunks of {key}",
                          concurrency=CHUNK_WRITES)
    if store.write_rows:
        batches = []
        insert = insert_statement(store.conn, store.keyspace, key, list(after))
        for bin_, w in work.items():
            segment = {n: columns[n][w.lo : w.hi] if n in columns else fill_array(after[n], w.hi - w.lo)
                       for n in after}
            batches += row_batches(insert, row_values(key, bin_, segment, after, w.new_ids),
                                   store.batch_rows, store.conn.consistency)
        store.conn.concurrent_statements(batches, doing=f"write {key}")


def row_values(key: StreamKey, bin_: int, segment: dict[str, np.ndarray], after: dict[str, ColumnInfo],
                ids: np.ndarray) -> list[tuple[bytes, ...]]:
    """Serialized OOI rows (key columns, then every column of ``after``) of one bin's records."""
    prefix = (*(v.encode() for v in (key.subsite, key.node, key.sensor)),
              int(bin_).to_bytes(8, "big", signed=True), key.method.encode())
    values = [serialize(segment[n], after[n]) for n in after if n not in (TIME, DEPLOYMENT)]
    rows = zip(serialize(segment[TIME], TIME_INFO), serialize(segment[DEPLOYMENT], DEPLOYMENT_INFO),
               [bytes(i) for i in ids], *values, strict=True)
    return [prefix + row for row in rows]


def _switch(store: CassandraStore, key: StreamKey, work: dict[int, _BinWrite]) -> dict[int, _BinWrite]:
    """Make every bin's new version visible at once, each conditional on the version it was
    merged from (one conditional batch on the stream's partition-index partition); returns
    nothing when the batch applied, else the bins another writer switched first (then no bin of
    ``work`` was switched)."""
    conn = store.conn
    update = conn.prepare(f"UPDATE {store.keyspace}.partition_metadata SET count=?, first=?, last=?, "
                          f"chunk_version=?, rows_version=? WHERE {KEY_WHERE} AND bin=? IF chunk_version=?")
    batch = BatchStatement(consistency_level=conn.consistency)
    batch.add(conn.prepare(generation_update(store.keyspace)), key_params(key))
    for bin_, w in work.items():
        rows_done = store.write_rows and (w.state is None or w.state.rows_complete)
        rows_version = w.version if rows_done else (w.state.rows_version if w.state is not None else None)
        t = w.merged[TIME]
        batch.add(update, (len(t), float(t[0]), float(t[-1]), w.version, rows_version, *key_params(key), bin_,
                           _merged_from(w)))
    applied, found = conn.conditional_batch(batch, doing=f"update the partition index of {key}")
    if applied:
        return {}
    now = {int(row["bin"]): row["chunk_version"] for row in found if row["bin"] is not None}
    if any(now.get(b) == w.version for b, w in work.items()):
        return {}  # our own batch, applied before a timeout made the driver send it again
    return {b: w for b, w in work.items() if now.get(b) != _merged_from(w)}


def _merged_from(w: _BinWrite) -> uuid.UUID | None:
    """The chunk version a bin's write was merged from (``None``: the bin had none)."""
    return w.state.version if w.state is not None else None
