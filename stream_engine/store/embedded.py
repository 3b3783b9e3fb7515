"""The embedded backend: one SQLite database file, values stored column-wise in chunks.

This module holds :class:`EmbeddedStore` (the Store methods: streams, partition index, reads,
writes, asset events). ``embedded_db.py`` holds the file's schema, its connections (one per thread
and process), transactions and change token; ``embedded_chunks.py`` the chunk encoding, selection
and upserts.

Layout (``<data_dir>/stream_engine.sqlite3``, WAL mode, 64 KiB pages):

* ``streams``     one row per stream key, with the stream's ``bin_seconds`` and its change token
  (``generation``, ``modified``), stamped by every write to the stream in the same transaction.
* ``columns``     one row per stored column: dtype string and 2-D width ``k`` (``columns()`` reads
  only this table).
* ``partitions``  the partition index (stream, bin, count, first, last), rebuilt for each bin a
  write touches from ``chunks``.
* ``chunks``      runs of records of one bin, sorted by ``(time, deployment)``, with disjoint key
  ranges and at most ``chunk_rows`` records; keyed by their first key so they sort in stream
  order. ``one_dep`` is 1 when every record of the chunk holds its first deployment number (a
  snapshot then gives that chunk's ``deployment`` column without reading its BLOB), 0 when not,
  ``NULL`` for chunks written before format 4 (read as stored).
* ``assets``      the asset events of each reference designator, with their change token.
* ``chunk_data``  one BLOB per (chunk, column): raw little-endian numpy bytes, or for strings a
  utf-8 text with a character-offset table. A chunk without a BLOB for a column holds fill there
  (columns added later cost nothing for old chunks).

A write is one ``BEGIN IMMEDIATE`` transaction. Appending later data writes new chunks and
rewrites at most a few small, partly filled chunks before it (binary-counter merging, so many
small appends still end up in full chunks); a write that overlaps stored keys rewrites only the
chunks it overlaps. Each read runs in one read transaction, and :meth:`EmbeddedStore.snapshot`
holds one transaction for a whole response (``embedded_reads.py``); BLOBs decode with
``np.frombuffer``. Generations share one counter across the file (``next_generation``).
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from stream_engine.errors import StoreError
from stream_engine.store.base import (
    DEPLOYMENT,
    TIME,
    ChangeToken,
    ColumnInfo,
    IndexRange,
    Partition,
    Store,
    StreamCoverage,
    StreamKey,
    TimeRange,
    WriteResult,
    asset_events_json,
    check_quality_kind,
    merge_quality_records,
)
from stream_engine.store.embedded_chunks import write_bin
from stream_engine.store.embedded_db import SCHEMA_VERSION, Database
from stream_engine.store.embedded_jobs import JobTable
from stream_engine.store.embedded_reads import (
    EmbeddedSnapshot,
    column_rows,
    read_asset_events,
    read_asset_refdeses,
    read_asset_token,
    read_column_infos,
    read_exact_columns,
    read_partitions,
    read_quality_records,
    read_records,
    read_stream_token,
    read_streams,
    stream_row,
)
from stream_engine.store.embedded_schema import next_generation
from stream_engine.store.records import DEPLOYMENT_INFO, TIME_INFO, conform, normalize

__all__ = ["FILENAME", "SCHEMA_VERSION", "EmbeddedStore"]

FILENAME = "stream_engine.sqlite3"
_KEY_FIELDS = ("subsite", "node", "sensor", "method", "stream")


def _inserted_id(cur: sqlite3.Cursor) -> int:
    """The row id of the row an ``INSERT`` on ``cur`` just added."""
    if cur.lastrowid is None:
        raise StoreError("SQLite gave no row id for an INSERT; the store file may be damaged")
    return cur.lastrowid


class EmbeddedStore(Store):
    """A :class:`~stream_engine.store.base.Store` in one local SQLite file.

    Parameters
    ----------
    data_dir
        Folder of the database file (created on first use).
    chunk_rows
        Largest number of records in one chunk. Smaller chunks make overlapping re-writes and
        narrow time-range reads cheaper; larger ones make full reads a little faster.
    busy_timeout
        Seconds a connection waits for another process's write lock before giving up.
    synchronous
        SQLite ``synchronous`` level: ``"FULL"`` (default; a commit survives power loss) or
        ``"NORMAL"`` (a commit survives a killed process, not a power cut).
    mmap_bytes
        SQLite ``mmap_size``: bytes of the file each connection may memory-map. Default 0: values
        are read with incremental BLOB I/O either way, and a file mapped for good shows up in
        every reading process's resident set (a server that read a 1 GB store looked 1 GB big).
        A :meth:`snapshot` maps the file anyway while it reads values, 16 MiB of values at a
        time (:data:`~stream_engine.store.embedded_reads.MAPPED_VALUES_BYTES`), which saves a
        copy of every page read.
    create
        Create the database file if it does not exist (the command line does). A server passes
        ``False``: a missing or replaced file is then
        :class:`~stream_engine.errors.StoreUnavailable`, never a new empty store.

    Safe to share between threads (one connection per thread) and across ``fork`` (connections
    are opened lazily, per process; see :class:`~stream_engine.store.embedded_db.Database`).
    """

    backend = "embedded"

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        *,
        chunk_rows: int = 65536,
        busy_timeout: float = 60.0,
        synchronous: str = "FULL",
        mmap_bytes: int = 0,
        create: bool = True,
    ) -> None:
        if chunk_rows < 1:
            raise ValueError(f"chunk_rows must be a positive integer, got {chunk_rows!r}")
        self._db = Database(
            Path(data_dir) / FILENAME,
            busy_timeout=busy_timeout,
            synchronous=synchronous,
            mmap_bytes=mmap_bytes,
            create=create,
        )
        self.path = self._db.path
        self.chunk_rows = int(chunk_rows)
        self._jobs = JobTable(Path(data_dir), busy_timeout=busy_timeout)

    def __repr__(self) -> str:
        return f"EmbeddedStore({str(self.path.parent)!r})"

    def _conn(self) -> sqlite3.Connection:
        """This thread's connection (autocommit); tests use it to look inside the file."""
        return self._db.connection()

    def local_folder(self) -> Path:
        # docstring inherited
        return self.path.parent

    def change_token(self) -> tuple[int, int]:
        """A value that changes whenever anything was committed to the store since the last call.

        Any commit by any connection, in this process or another (records, asset events), moves
        it on, so a per-process cache keyed by it never serves values computed before a write.
        One ``PRAGMA data_version`` on a connection kept for this purpose (a few microseconds).
        """
        return self._db.change_token()

    def close(self) -> None:
        # docstring inherited
        self._db.close()

    @contextmanager
    def snapshot(self) -> Iterator[EmbeddedSnapshot]:
        """A read-only view of one committed state of the whole file (one read transaction).

        The view holds a connection of its own (taken from this process's idle ones) inside a
        read transaction, so everything read through it agrees with one state, whatever other
        processes commit meanwhile; the transaction ends when the ``with`` block does.

        Raises
        ------
        StoreUnavailable
            The database file is missing, was replaced under the server, or cannot be read.
        """
        with self._db.read_snapshot() as conn:
            view = EmbeddedSnapshot(conn, str(self.path), self._db.mmap_bytes)
            try:
                yield view
            finally:
                view.end()

    def stream_token(self, key: StreamKey) -> ChangeToken:
        # docstring inherited
        with self._db.transaction() as conn:
            return read_stream_token(conn, key)

    def asset_token(self, refdes: str) -> ChangeToken:
        # docstring inherited
        with self._db.transaction() as conn:
            return read_asset_token(conn, refdes)

    # -- streams and the partition index --------------------------------------------------------

    def streams(self) -> list[StreamCoverage]:
        # docstring inherited
        with self._db.transaction() as conn:
            return read_streams(conn)

    def partitions(self, key: StreamKey) -> list[Partition]:
        # docstring inherited
        with self._db.transaction() as conn:
            return read_partitions(conn, key)

    def columns(self, key: StreamKey) -> dict[str, ColumnInfo]:
        # docstring inherited
        with self._db.transaction() as conn:
            return read_column_infos(conn, key)

    # -- reading -------------------------------------------------------------------------------

    def read(
        self,
        key: StreamKey,
        columns: Sequence[str] | None = None,
        *,
        time_range: TimeRange | None = None,
        index_range: IndexRange | None = None,
    ) -> dict[str, np.ndarray]:
        # docstring inherited
        with self._db.transaction() as conn:
            return read_records(conn, key, columns, time_range, index_range)

    def read_columns(
        self, key: StreamKey, columns: Sequence[str], *, index_range: IndexRange
    ) -> dict[str, np.ndarray]:
        # docstring inherited; reads only the columns asked for
        with self._db.transaction() as conn:
            return read_exact_columns(conn, key, columns, index_range)

    # -- writing -------------------------------------------------------------------------------

    def write(
        self, key: StreamKey, records: Mapping[str, np.ndarray], *, bin_seconds: int
    ) -> WriteResult:
        # docstring inherited
        if isinstance(bin_seconds, bool) or not isinstance(bin_seconds, int | np.integer) or bin_seconds < 1:
            raise ValueError(f"bin_seconds must be a positive integer number of seconds, got {bin_seconds!r}")
        if not isinstance(key, StreamKey):
            raise TypeError(f"key must be a StreamKey, got {key!r}")
        batch = normalize(records)
        if not len(batch):
            return WriteResult()
        bin_seconds = int(bin_seconds)
        bins = (np.floor(batch.columns[TIME] / bin_seconds) * bin_seconds).astype(np.int64)
        edges = [0, *(np.flatnonzero(bins[1:] != bins[:-1]) + 1).tolist(), len(bins)]
        inserted = replaced = 0
        with self._db.transaction(write=True) as conn:
            stream_id = self._ensure_stream(conn, key, bin_seconds)
            stored = self._ensure_columns(conn, key, stream_id, batch.columns, batch.infos)
            for lo, hi in zip(edges[:-1], edges[1:], strict=True):
                segment = {name: values[lo:hi] for name, values in batch.columns.items()}
                n_replaced = write_bin(conn, stream_id, int(bins[lo]), segment, stored, self.chunk_rows)
                inserted += hi - lo - n_replaced
                replaced += n_replaced
            conn.execute(
                "UPDATE streams SET generation=?, modified=? WHERE id=?", (*next_generation(conn), stream_id)
            )
        return WriteResult(inserted, replaced, tuple(int(bins[lo]) for lo in edges[:-1]))

    def _ensure_stream(self, conn: sqlite3.Connection, key: StreamKey, bin_seconds: int) -> int:
        row = stream_row(conn, key)
        if row is None:
            cur = conn.execute(
                f"INSERT INTO streams ({', '.join(_KEY_FIELDS)}, bin_seconds) VALUES (?, ?, ?, ?, ?, ?)",
                (key.subsite, key.node, key.sensor, key.method, key.stream, bin_seconds),
            )
            return _inserted_id(cur)
        if row[1] != bin_seconds:
            raise ValueError(
                f"stream {key} is stored in bins of {row[1]} s; cannot write with bin_seconds="
                f"{bin_seconds} (use {row[1]})"
            )
        return int(row[0])

    def _ensure_columns(
        self,
        conn: sqlite3.Connection,
        key: StreamKey,
        stream_id: int,
        columns: dict[str, np.ndarray],
        infos: dict[str, ColumnInfo],
    ) -> dict[str, tuple[int, ColumnInfo]]:
        """Check the batch against stored dtypes (casting safe widenings in place), then record
        new columns and wider 2-D widths. Returns every stored column after the write."""
        stored = column_rows(conn, stream_id)
        key_infos = {TIME: TIME_INFO, DEPLOYMENT: DEPLOYMENT_INFO}
        for name in (TIME, DEPLOYMENT, *columns):
            info = key_infos[name] if name in key_infos else infos[name]
            if name in stored:
                columns[name] = conform(name, columns[name], info, stored[name][1], f"stream {key}")
                old = stored[name][1]
                if info.shape and info.shape[0] > old.shape[0]:
                    conn.execute("UPDATE columns SET width=? WHERE id=?", (info.shape[0], stored[name][0]))
                    stored[name] = (stored[name][0], ColumnInfo(name, old.dtype, info.shape))
            else:
                cur = conn.execute(
                    "INSERT INTO columns (stream_id, name, dtype, width) VALUES (?, ?, ?, ?)",
                    (stream_id, name, info.dtype, info.shape[0] if info.shape else None),
                )
                stored[name] = (_inserted_id(cur), info)
        return stored

    # -- export jobs ---------------------------------------------------------------------------
    # In jobs.sqlite beside the data file (embedded_jobs.py), so job updates never move the
    # data file's change token.

    def put_job(self, job_id: str, record: Mapping[str, Any]) -> None:
        # docstring inherited
        self._jobs.put(job_id, record)

    def job(self, job_id: str) -> dict[str, Any] | None:
        # docstring inherited
        return self._jobs.get(job_id)

    def update_job(self, job_id: str, changes: Mapping[str, Any]) -> dict[str, Any] | None:
        # docstring inherited
        return self._jobs.update(job_id, changes)

    def jobs(self) -> list[dict[str, Any]]:
        # docstring inherited
        return self._jobs.all()

    def delete_job(self, job_id: str) -> bool:
        # docstring inherited
        return self._jobs.delete(job_id)

    def claim_job(self, limit: int, changes: Mapping[str, Any]) -> dict[str, Any] | None:
        # docstring inherited
        return self._jobs.claim(limit, changes)

    # -- assets --------------------------------------------------------------------------------

    def put_asset_events(self, refdes: str, events: Iterable[Mapping[str, Any]]) -> int:
        # docstring inherited
        events = list(events)
        text = asset_events_json(refdes, events)
        with self._db.transaction(write=True) as conn:
            generation, modified = next_generation(conn)
            conn.execute(
                "INSERT OR REPLACE INTO assets (refdes, events, generation, modified) VALUES (?, ?, ?, ?)",
                (refdes, text, generation, modified),
            )
        return len(events)

    def asset_events(self, refdes: str) -> list[dict[str, Any]]:
        # docstring inherited
        with self._db.transaction() as conn:
            return read_asset_events(conn, refdes)

    def asset_refdeses(self) -> list[str]:
        # docstring inherited
        with self._db.transaction() as conn:
            return read_asset_refdeses(conn)

    # -- data-quality records ------------------------------------------------------------------

    def add_quality_records(self, kind: str, records: Iterable[Mapping[str, Any]]) -> list[int]:
        # docstring inherited
        check_quality_kind(kind)
        records = list(records)
        with self._db.transaction(write=True) as conn:
            top = conn.execute("SELECT MAX(id) FROM quality WHERE kind=?", (kind,)).fetchone()[0]
            merged, ids = merge_quality_records({} if top is None else {int(top): {}}, records)
            for rid in dict.fromkeys(ids):
                try:
                    text = json.dumps(merged[rid], allow_nan=False)
                except (TypeError, ValueError) as exc:
                    raise ValueError(f"data-quality record {rid} cannot be stored as JSON: {exc}") from exc
                conn.execute("INSERT OR REPLACE INTO quality (kind, id, record) VALUES (?, ?, ?)",
                             (kind, rid, text))
        return ids

    def quality_records(self, kind: str) -> list[dict[str, Any]]:
        # docstring inherited
        with self._db.transaction() as conn:
            return read_quality_records(conn, kind)
