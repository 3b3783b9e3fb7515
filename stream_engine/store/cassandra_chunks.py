"""Column chunks of the Cassandra store: each bin's values column-wise in a few large cells.

The OOI row tables cost the server one CQL row (a dozen cells) per record on every write and
read; measured here a one-node cluster spends ~30-60 us of CPU per row written and ~5-10 us per
row read, far from the store's targets. So, beside the row tables (kept as the interchange
layout), every bin written by Stream Engine is also kept as **column chunks**, like the embedded
store's chunks: per ``(stream key, bin)`` and per column, the raw little-endian bytes of the
bin's sorted records (strings in the embedded store's encoding), cut into cells of at most
:data:`CHUNK_BYTES`. A read of a bin is one query returning a few cells per column, decoded with
``np.frombuffer``.

Table ``column_chunks``, one Cassandra partition per bin::

    PRIMARY KEY ((subsite, node, sensor, method, stream, bin), version, name, chunk)
    count int    -- records in this cell
    data  blob   -- their values

A bin's chunks are written under a new ``version`` (a ``timeuuid``) and only become visible when
the bin's row of ``partition_metadata`` names that version (``chunk_version``) in the same
update that sets its count, first and last (one batch for all the bins of a write): no reader
ever sees half a bin, or half a write. Every
older version of the bin (the superseded one, and any an interrupted write left unswitched) is
deleted afterwards; a reader still holding the superseded one finds fewer records than the index
promised and fails with 503 (retry) instead of returning a mix. A bin whose
``chunk_version`` is null lives in the row table only (a keyspace written by OOI's tools) and is
read from the rows.

Besides the stream's columns, each version keeps the OOI row ``id`` of each record
(:data:`ID_INFO`), so rows derived from the chunks reuse the ids of the rows they replace, and
whether the record's row is written (:data:`ROWS_INFO`).
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from stream_engine.errors import StoreUnavailable
from stream_engine.store.base import TIME, ColumnInfo, Partition, StreamKey
from stream_engine.store.cassandra_session import CassandraConnection
from stream_engine.store.embedded_chunks import decode, encode
from stream_engine.store.records import STRING_DTYPE, fill_array, pad_width

__all__ = [
    "BinCache",
    "CHUNK_BYTES",
    "CHUNK_TABLE",
    "MARKER",
    "TIME_INDEX_STEP",
    "INDEX_COLUMNS",
    "ID_INFO",
    "ROWS_INFO",
    "BinState",
    "ChunkTable",
    "chunk_cells",
]

CHUNK_TABLE = "column_chunks"
#: Columns of ``partition_metadata`` added after its first layout: the bin's visible chunk version,
#: the version whose records all have OOI rows, and (static: one per stream) the stream's write
#: generation, moved in the very batch that switches a write's bins.
INDEX_COLUMNS = {"chunk_version": "timeuuid", "rows_version": "timeuuid", "generation": "timeuuid static"}
#: Most bytes of values in one cell (a cell is read and written whole).
CHUNK_BYTES = 512 * 1024
#: Cells per result page when reading chunks: pages of ~2 MB. The driver gathers a response in
#: a buffer it copies as it grows, and bins are read concurrently over one connection, so large
#: pages cost it superlinearly (measured, 1M records in 12 bins: 16 cells/page 44k records/s,
#: 4 cells/page 480k records/s).
_PAGE_CELLS = 4
#: The OOI row id of each record, kept beside the columns (16 raw UUID bytes).
ID_INFO = ColumnInfo("id", "|V16")
#: Whether each record's OOI row holds its values (True only once the row is written; records
#: new or replaced in a version start False unless their rows were written with the version;
#: versions written before this was kept read as all False). The row deriver writes the rows of
#: the False records only, so an append to a bin costs the rows appended, not the bin's.
ROWS_INFO = ColumnInfo("@rows", "|b1")
_PK = "subsite=? AND node=? AND sensor=? AND method=? AND stream=? AND bin=?"
#: Name of the one cell every version holds (its count: the bin's records), read with any
#: column so that a version deleted under a reader is told from a column the version lacks. Its
#: data is the time of every :data:`TIME_INDEX_STEP`-th record (empty in versions written before
#: it was kept): a time-range read finds the records it needs without reading the time column.
MARKER = "\x00"
TIME_INDEX_STEP = 2048


class VersionGone(StoreUnavailable):
    """A bin version was removed while it was being read: another writer switched the bin.

    A response gets 503 "retry" (it must not mix two states); a writer merges again.
    """

    def __init__(self, key: StreamKey) -> None:
        super().__init__(f"stream {key} was written while this response was being read; retry the request")



@dataclass(frozen=True, slots=True)
class BinState:
    """One bin of the partition index with its chunk version (``None``: rows only) and the
    version whose records all have rows."""

    partition: Partition
    version: uuid.UUID | None
    rows_version: uuid.UUID | None

    @property
    def bin(self) -> int:
        return self.partition.bin

    @property
    def rows_complete(self) -> bool:
        """Whether every record of the bin has its OOI row."""
        return self.version is None or self.rows_version == self.version


def chunk_cells(values: np.ndarray) -> list[tuple[int, bytes | memoryview]]:
    """``values`` (one column of a bin) as ``(count, blob)`` cells of at most :data:`CHUNK_BYTES`."""
    n = len(values)
    if n == 0:
        return []
    if values.dtype.kind == "O":
        size = sum(len(s) for s in values.ravel().tolist()) + 8 * values.size + 16
    else:
        size = values.nbytes
    per_cell = max(1, int(n * CHUNK_BYTES // max(size, 1)))
    return [(min(lo + per_cell, n) - lo, encode(values[lo : lo + per_cell])) for lo in range(0, n, per_cell)]


def records_per_cell(info: ColumnInfo) -> int | None:
    """Records in every cell but the last of a fixed-width column of ``info`` (as
    :func:`chunk_cells` cuts it); ``None`` for strings and arrays, whose cells vary (an array
    column's width may have grown since a bin version was written)."""
    if info.shape or info.dtype == STRING_DTYPE:
        return None
    return max(1, CHUNK_BYTES // np.dtype(info.dtype).itemsize)


def column(cells: list[tuple[int, bytes]], info: ColumnInfo, count: int) -> np.ndarray:
    """One column of a bin from its cells (in chunk order); a column the version lacks is all fill,
    values narrower than the column are padded with fill."""
    if not cells:
        return fill_array(info, count)
    parts = [fill_array(ColumnInfo(info.name, info.dtype, (0,) * len(info.shape)), n) if not len(blob)
             else decode(blob, info, n) for n, blob in cells]
    out = np.concatenate(parts) if len(parts) > 1 else np.array(parts[0])  # writable, not a view of a cell
    return pad_width(out, info) if info.shape else out


class BinCache:
    """Decoded columns of bins read by one response (a snapshot view), so the blocks a DAP
    response reads one after the other fetch each bin's cells once; bounded in bytes, the least
    recently used column of a bin leaves first. Keyed by chunk version: never stale."""

    def __init__(self, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.max_bytes = int(max_bytes)
        self._items: OrderedDict[Hashable, np.ndarray] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> np.ndarray | None:
        with self._lock:
            values = self._items.get(key)
            if values is not None:
                self._items.move_to_end(key)
            return values

    def put(self, key: Hashable, values: np.ndarray) -> None:
        size = values.nbytes if values.dtype.kind != "O" else values.size * 64
        if size > self.max_bytes:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= old.nbytes if old.dtype.kind != "O" else old.size * 64
            self._items[key] = values
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, dropped = self._items.popitem(last=False)
                self._bytes -= dropped.nbytes if dropped.dtype.kind != "O" else dropped.size * 64


class ChunkTable:
    """Reading, writing and dropping chunk versions of the ``column_chunks`` table."""

    def __init__(self, conn: CassandraConnection, keyspace: str) -> None:
        self.conn = conn
        self.keyspace = keyspace

    def _pk(self, key: StreamKey, bin_: int) -> tuple[Any, ...]:
        return key.subsite, key.node, key.sensor, key.method, key.stream, int(bin_)

    def read(self, key: StreamKey, states: Sequence[BinState], infos: Sequence[ColumnInfo],
             cache: BinCache | None = None, also: Sequence[ColumnInfo] = ()) -> list[dict[str, np.ndarray]]:
        """The ``infos`` columns of each bin of ``states`` (all with a version), concurrently;
        columns found in ``cache`` are not fetched again, the ones fetched are put there, with
        the columns ``also`` names fetched in the same queries (for the response's next reads).

        Raises
        ------
        StoreUnavailable
            When a bin holds fewer records than its index row says: its version was replaced by a
            write since the index was read (retry the request).
        """
        if not states:
            return []
        out: list[dict[str, np.ndarray]] = []
        fetch: list[tuple[BinState, list[ColumnInfo]]] = []
        for state in states:
            known = {}
            for info in infos:
                hit = cache.get((key, state.bin, state.version, info)) if cache is not None else None
                if hit is not None:
                    known[info.name] = hit
            out.append(known)
            if len(known) < len(infos):
                extra = [i for i in also if cache is not None and cache.get((key, state.bin, state.version, i)) is None]
                needed = {i.name: i for i in infos if i.name not in known} | {i.name: i for i in extra}
                fetch.append((state, list(needed.values())))
        if not fetch:
            return out
        cql = (f"SELECT name, chunk, count, data FROM {self.keyspace}.{CHUNK_TABLE} "
               f"WHERE {_PK} AND version=? AND name IN ?")
        with self.conn.errors(f"read the chunks of {key}"):
            statement = self.conn.prepare(cql, columnar=True)
            statement.fetch_size = _PAGE_CELLS
        params = [(*self._pk(key, s.bin), s.version, [MARKER, *(i.name for i in wanted)]) for s, wanted in fetch]
        found = self.conn.column_pages(statement, params, doing=f"read the chunks of {key}")
        columns_of = {s.bin: columns for s, columns in zip(states, out, strict=True)}
        for (state, wanted), pages in zip(fetch, found, strict=True):
            cells: dict[str, list[tuple[int, int, bytes]]] = {}
            for page in pages:
                for name, chunk, n, data in zip(page["name"], page["chunk"], page["count"], page["data"], strict=True):
                    cells.setdefault(name, []).append((int(chunk), int(n), data))
            count = state.partition.count
            if [n for _, n, _ in cells.pop(MARKER, [])] != [count]:
                raise VersionGone(key)
            for info in wanted:
                got = sorted(cells.get(info.name, []))
                values = column([(n, data) for _, n, data in got], info, count)
                if len(values) != count:
                    raise VersionGone(key)
                if cache is not None:
                    cache.put((key, state.bin, state.version, info), values)
                if info in infos:
                    columns_of[state.bin][info.name] = values
        return out

    def insert_params(self, key: StreamKey, bin_: int, version: uuid.UUID,
                      columns: dict[str, np.ndarray]) -> list[tuple[Any, ...]]:
        """Parameters of :meth:`insert_statement` storing ``columns`` (one bin, sorted) as
        ``version``; the marker cell holds the time of every :data:`TIME_INDEX_STEP`-th record."""
        pk = self._pk(key, bin_)
        total = len(next(iter(columns.values())))
        index = (np.ascontiguousarray(columns[TIME][::TIME_INDEX_STEP], dtype="<f8").tobytes()
                 if TIME in columns else b"")
        return [(*pk, version, MARKER, 0, total, index), *(
            (*pk, version, name, i, n, bytes(blob))
            for name, values in columns.items() for i, (n, blob) in enumerate(chunk_cells(values)))]

    def mark_rows_written(self, key: StreamKey, bin_: int, version: uuid.UUID, count: int) -> None:
        """Record in ``version`` that every one of its ``count`` records has its OOI row."""
        pk = self._pk(key, bin_)
        cells = chunk_cells(np.ones(count, dtype=bool))
        self.conn.concurrent(self.insert_statement(), [(*pk, version, ROWS_INFO.name, i, n, bytes(blob))
                                                        for i, (n, blob) in enumerate(cells)],
                             doing=f"record the OOI rows of {key}")

    def insert_statement(self) -> Any:
        """The prepared insert of one cell."""
        cql = (f"INSERT INTO {self.keyspace}.{CHUNK_TABLE} (subsite, node, sensor, method, stream, bin, "
               "version, name, chunk, count, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
        with self.conn.errors("prepare the chunk insert"):
            return self.conn.prepare(cql)

    def drop(self, key: StreamKey, versions: Sequence[tuple[int, uuid.UUID]], *, older: bool = False) -> None:
        """Delete chunk versions ``(bin, version)`` (never made visible), or with ``older`` every
        version of the bin made before ``version`` (the visible one): the superseded version and
        any left by an interrupted write."""
        if not versions:
            return
        cql = f"DELETE FROM {self.keyspace}.{CHUNK_TABLE} WHERE {_PK} AND version{'<' if older else '='}?"
        with self.conn.errors(f"drop old chunks of {key}"):
            statement = self.conn.prepare(cql)
        self.conn.concurrent(statement, [(*self._pk(key, b), v) for b, v in versions],
                             doing=f"drop old chunks of {key}")
