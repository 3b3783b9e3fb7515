"""Reads of the embedded store on one SQLite connection, and the snapshot view built on them.

Every function here takes a connection that is already inside a read transaction:
:class:`~stream_engine.store.embedded.EmbeddedStore` opens one per call, while
:class:`EmbeddedSnapshot` holds one open for a whole response, so everything that response
reads (counts, columns, every block, other streams, asset events, change tokens) comes from one
committed state of the file.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from stream_engine.errors import StoreError, StoreUnavailable
from stream_engine.store.base import (
    DEPLOYMENT,
    NEVER_WRITTEN,
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
    check_quality_kind,
    wanted_columns,
)
from stream_engine.store.embedded_chunks import index_slices, read_into, read_pieces, time_slices
from stream_engine.store.embedded_layout import StreamLayout, read_layout
from stream_engine.store.records import to_output

_T = TypeVar("_T")

#: Bytes of the file a snapshot maps while it reads values (SQLite's own cap is 2 GiB - 64 KiB):
#: SQLite then copies a BLOB straight from the mapped file instead of reading its pages into
#: a buffer first (measured: a 560 MB read 0.40 -> 0.32 s of CPU, system time 0.13 -> 0.01 s).
SNAPSHOT_MAP_BYTES = 2**31
#: Values a snapshot reads through one mapping before it drops it and maps again, so a large
#: response does not leave the whole file counted in the process's resident set (a cold 560 MB
#: response, worker's peak VmRSS: 227 MiB unmapped, 245 with 16 MiB, 303 with 64 MiB; CPU
#: within 3% of each other).
MAPPED_VALUES_BYTES = 16 * 2**20


def column_info(name: str, dtype: str, width: int | None) -> ColumnInfo:
    """The :class:`ColumnInfo` of a ``columns`` row."""
    return ColumnInfo(name, dtype, () if width is None else (width,))


def stream_row(conn: sqlite3.Connection, key: StreamKey) -> tuple[int, int] | None:
    """``(id, bin_seconds)`` of a stream, or ``None`` if it was never written."""
    if not isinstance(key, StreamKey):
        raise TypeError(f"key must be a StreamKey, got {key!r}")
    row: tuple[int, int] | None = conn.execute(
        "SELECT id, bin_seconds FROM streams WHERE subsite=? AND node=? AND sensor=? AND method=? AND stream=?",
        (key.subsite, key.node, key.sensor, key.method, key.stream),
    ).fetchone()
    return row


def column_rows(conn: sqlite3.Connection, stream_id: int) -> dict[str, tuple[int, ColumnInfo]]:
    """Every stored column of a stream: ``name -> (column id, info)``."""
    rows = conn.execute(
        "SELECT id, name, dtype, width FROM columns WHERE stream_id=? ORDER BY id", (stream_id,)
    )
    return {name: (cid, column_info(name, dtype, width)) for cid, name, dtype, width in rows}


def read_streams(conn: sqlite3.Connection) -> list[StreamCoverage]:
    """Every stream holding records, sorted by key."""
    rows = conn.execute(
        "SELECT s.subsite, s.node, s.sensor, s.method, s.stream, sum(p.count), min(p.first), "
        "max(p.last) FROM streams s JOIN partitions p ON p.stream_id = s.id GROUP BY s.id"
    ).fetchall()
    found = [StreamCoverage(StreamKey(*r[:5]), r[5], r[6], r[7]) for r in rows if r[5]]
    return sorted(found, key=lambda c: c.key)


def read_partitions(conn: sqlite3.Connection, key: StreamKey) -> list[Partition]:
    """The partition index of a stream."""
    row = stream_row(conn, key)
    if row is None:
        return []
    rows = conn.execute(
        "SELECT bin, count, first, last FROM partitions WHERE stream_id=? ORDER BY bin", (row[0],)
    ).fetchall()
    return [Partition(*r) for r in rows]


def read_column_infos(conn: sqlite3.Connection, key: StreamKey) -> dict[str, ColumnInfo]:
    """The stored columns of a stream, without reading values."""
    row = stream_row(conn, key)
    return {} if row is None else {n: info for n, (_, info) in column_rows(conn, row[0]).items()}



def read_records(
    conn: sqlite3.Connection,
    key: StreamKey,
    columns: Sequence[str] | None,
    time_range: TimeRange | None,
    index_range: IndexRange | None,
) -> dict[str, np.ndarray]:
    """:meth:`Store.read <stream_engine.store.base.Store.read>` on ``conn``."""
    if time_range is not None and index_range is not None:
        raise ValueError("give at most one of time_range and index_range")
    if isinstance(columns, str):
        raise TypeError(f"columns must be a sequence of names, not the string {columns!r}")
    row = stream_row(conn, key)
    stored = column_rows(conn, row[0]) if row else {}
    wanted = wanted_columns(key, stored, columns)
    if row is None:
        return {TIME: np.empty(0, np.float64), DEPLOYMENT: np.empty(0, np.int32)}
    if index_range is not None:
        slices = index_slices(conn, row[0], index_range)
    else:
        slices = time_slices(conn, row[0], row[1], time_range, stored[TIME][0])
    out = read_into(conn, slices, [stored[name] for name in wanted])
    return {name: to_output(values) for name, values in zip(wanted, out, strict=True)}


def read_exact_columns(
    conn: sqlite3.Connection, key: StreamKey, columns: Sequence[str], index_range: IndexRange
) -> dict[str, np.ndarray]:
    """:meth:`Store.read_columns <stream_engine.store.base.Store.read_columns>` on ``conn``."""
    if isinstance(columns, str):
        raise TypeError(f"columns must be a sequence of names, not the string {columns!r}")
    names = list(dict.fromkeys(columns))
    row = stream_row(conn, key)
    stored = column_rows(conn, row[0]) if row else {}
    wanted_columns(key, stored, names)
    if row is None:
        got = read_records(conn, key, names, None, index_range)
        return {name: got[name] for name in names}
    out = read_into(conn, index_slices(conn, row[0], index_range), [stored[n] for n in names])
    return {name: to_output(values) for name, values in zip(names, out, strict=True)}


def read_layout_columns(
    conn: sqlite3.Connection, layout: StreamLayout | None, key: StreamKey, columns: Sequence[str],
    index_range: IndexRange,
) -> dict[str, np.ndarray]:
    """:func:`read_exact_columns` through a snapshot's cached ``layout`` of the stream
    (``None``: the stream was never written)."""
    if isinstance(columns, str):
        raise TypeError(f"columns must be a sequence of names, not the string {columns!r}")
    if layout is None:
        return read_exact_columns(conn, key, columns, index_range)
    names = list(dict.fromkeys(columns))
    wanted_columns(key, layout.columns, names)
    out = read_into(conn, layout.index_slices(index_range), [layout.columns[n] for n in names],
                    lambda chunk: layout.blob_rows(conn, chunk))
    return {name: to_output(values) for name, values in zip(names, out, strict=True)}


def read_layout_pieces(
    conn: sqlite3.Connection, layout: StreamLayout | None, key: StreamKey, columns: Sequence[str],
    index_range: IndexRange,
) -> list[dict[str, np.ndarray]]:
    """:meth:`Store.read_column_pieces <stream_engine.store.base.Store.read_column_pieces>` on
    ``conn``: one piece per chunk, its arrays read-only views of the BLOBs where they can be."""
    if isinstance(columns, str):
        raise TypeError(f"columns must be a sequence of names, not the string {columns!r}")
    if layout is None:
        return [read_exact_columns(conn, key, columns, index_range)]
    names = list(dict.fromkeys(columns))
    wanted_columns(key, layout.columns, names)
    pieces = read_pieces(conn, layout.index_slices(index_range), [layout.columns[n] for n in names],
                         lambda chunk: layout.blob_rows(conn, chunk), layout.numbers)
    return [{name: to_output(values) for name, values in zip(names, arrays, strict=True)} for arrays in pieces]


def read_asset_events(conn: sqlite3.Connection, refdes: str) -> list[dict[str, Any]]:
    """The asset events stored for ``refdes``."""
    row = conn.execute("SELECT events FROM assets WHERE refdes=?", (refdes,)).fetchone()
    events: list[dict[str, Any]] = [] if row is None else json.loads(row[0])
    return events


def read_asset_refdeses(conn: sqlite3.Connection) -> list[str]:
    """Reference designators with asset events."""
    return [r[0] for r in conn.execute("SELECT refdes FROM assets ORDER BY refdes")]


def read_stream_token(conn: sqlite3.Connection, key: StreamKey) -> ChangeToken:
    """The write generation of a stream (:data:`NEVER_WRITTEN` if it has no row)."""
    if not isinstance(key, StreamKey):
        raise TypeError(f"key must be a StreamKey, got {key!r}")
    row = conn.execute(
        "SELECT generation, modified FROM streams WHERE subsite=? AND node=? AND sensor=? AND "
        "method=? AND stream=?",
        (key.subsite, key.node, key.sensor, key.method, key.stream),
    ).fetchone()
    return NEVER_WRITTEN if row is None else ChangeToken(int(row[0]), float(row[1]))


def read_asset_token(conn: sqlite3.Connection, refdes: str) -> ChangeToken:
    """The write generation of a reference designator's asset events."""
    row = conn.execute("SELECT generation, modified FROM assets WHERE refdes=?", (refdes,)).fetchone()
    return NEVER_WRITTEN if row is None else ChangeToken(int(row[0]), float(row[1]))


def map_sqlite_errors(what: str, call: Callable[[], _T]) -> _T:
    """``call()``, with SQLite errors turned into the store's errors (``what`` names the file)."""
    try:
        return call()
    except sqlite3.OperationalError as exc:
        raise StoreUnavailable(f"the embedded store {what} failed: {exc}") from exc
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"the embedded store {what} is damaged: {exc}; restore it from a backup") from exc


def read_quality_records(conn: sqlite3.Connection, kind: str) -> list[dict[str, Any]]:
    """The data-quality records of ``kind``, by id (see ``Store.quality_records``)."""
    check_quality_kind(kind)
    rows = conn.execute("SELECT record FROM quality WHERE kind=? ORDER BY id", (kind,)).fetchall()
    return [json.loads(r[0]) for r in rows]


def _values_bytes(got: object) -> int:
    """Bytes of the arrays a value read returned (a mapping of arrays, or a list of them)."""
    pieces = [got] if isinstance(got, Mapping) else got if isinstance(got, list) else []
    return sum(values.nbytes for piece in pieces if isinstance(piece, Mapping)
               for values in piece.values() if isinstance(values, np.ndarray))


class EmbeddedSnapshot(Store):
    """A read-only view of the embedded store: one connection inside one read transaction.

    Made by :meth:`EmbeddedStore.snapshot <stream_engine.store.embedded.EmbeddedStore.snapshot>`.
    SQLite's WAL mode gives the transaction one committed state of the whole file for as long
    as it lasts, whatever other processes commit meanwhile. Threads of one response may share
    the view: its reads take turns on the connection (computations run in between).
    """

    def __init__(self, conn: sqlite3.Connection, name: str, own_map: int = 0) -> None:
        self._conn = conn
        self._name = name
        self._lock = threading.Lock()
        self._open = True
        self._layouts: dict[StreamKey, StreamLayout | None] = {}
        self._folder: Path | None = None
        #: Values read through the current mapping (``None``: not mapped by this snapshot), and
        #: the ``mmap_size`` the store gives its connections.
        self._mapped: int | None = None
        self._own_map = own_map
        self.backend = "embedded"

    def __repr__(self) -> str:
        return f"EmbeddedSnapshot({self._name!r})"

    def _run(self, read: Callable[[sqlite3.Connection], _T]) -> _T:
        with self._lock:
            if not self._open:
                raise StoreError("a store snapshot was read after its response ended")
            return map_sqlite_errors(self._name, lambda: read(self._conn))

    def _read_values(self, read: Callable[[sqlite3.Connection], _T]) -> _T:
        """``read`` of stored values, with the file memory-mapped while it runs (see
        :data:`SNAPSHOT_MAP_BYTES`): mapped at the first such read, dropped every
        :data:`MAPPED_VALUES_BYTES` of values and when the snapshot ends. A connection the
        store already maps (``mmap_bytes``) is left as it is."""
        def mapped(conn: sqlite3.Connection) -> _T:
            if self._own_map == 0 and self._mapped is None:
                conn.execute(f"PRAGMA mmap_size = {SNAPSHOT_MAP_BYTES}")
                self._mapped = 0
            got = read(conn)
            if self._mapped is not None:
                self._mapped += _values_bytes(got)
                if self._mapped >= MAPPED_VALUES_BYTES:
                    self._unmap(conn)
            return got

        return self._run(mapped)

    def _unmap(self, conn: sqlite3.Connection) -> None:
        conn.execute(f"PRAGMA mmap_size = {self._own_map}")
        self._mapped = None

    def end(self) -> None:
        """Refuse further reads and drop the file's mapping (the owner then ends the transaction)."""
        with self._lock:
            self._open = False
            if self._mapped is not None:
                try:
                    self._unmap(self._conn)
                except sqlite3.Error:
                    pass  # mapped until a later snapshot on this connection reads values and drops it

    def streams(self) -> list[StreamCoverage]:
        # docstring inherited
        return self._run(read_streams)

    def partitions(self, key: StreamKey) -> list[Partition]:
        # docstring inherited
        return self._run(lambda conn: read_partitions(conn, key))

    def columns(self, key: StreamKey) -> dict[str, ColumnInfo]:
        # docstring inherited
        return self._run(lambda conn: read_column_infos(conn, key))

    def read(
        self,
        key: StreamKey,
        columns: Sequence[str] | None = None,
        *,
        time_range: TimeRange | None = None,
        index_range: IndexRange | None = None,
    ) -> dict[str, np.ndarray]:
        # docstring inherited
        return self._read_values(lambda conn: read_records(conn, key, columns, time_range, index_range))

    def read_columns(
        self, key: StreamKey, columns: Sequence[str], *, index_range: IndexRange
    ) -> dict[str, np.ndarray]:
        # docstring inherited
        return self._read_values(lambda conn: read_layout_columns(conn, self._layout(conn, key), key, columns,
                                                                  index_range))

    def read_column_pieces(
        self, key: StreamKey, columns: Sequence[str], *, index_range: IndexRange
    ) -> list[dict[str, np.ndarray]]:
        # docstring inherited; one piece per chunk, without copying the BLOBs' values again
        return self._read_values(lambda conn: read_layout_pieces(conn, self._layout(conn, key), key, columns,
                                                                 index_range))

    def _layout(self, conn: sqlite3.Connection, key: StreamKey) -> StreamLayout | None:
        """The stream's layout, read once per snapshot (the file does not change under it)."""
        if key not in self._layouts:
            row = stream_row(conn, key)
            self._layouts[key] = None if row is None else read_layout(conn, row, column_rows(conn, row[0]))
        return self._layouts[key]

    def stream_token(self, key: StreamKey) -> ChangeToken:
        # docstring inherited
        return self._run(lambda conn: read_stream_token(conn, key))

    def local_folder(self) -> Path:
        # docstring inherited
        if self._folder is None:
            self._folder = Path(self._name).parent
        return self._folder

    def asset_token(self, refdes: str) -> ChangeToken:
        # docstring inherited
        return self._run(lambda conn: read_asset_token(conn, refdes))

    def asset_events(self, refdes: str) -> list[dict[str, Any]]:
        # docstring inherited
        return self._run(lambda conn: read_asset_events(conn, refdes))

    def asset_refdeses(self) -> list[str]:
        # docstring inherited
        return self._run(read_asset_refdeses)

    def quality_records(self, kind: str) -> list[dict[str, Any]]:
        # docstring inherited
        return self._run(lambda conn: read_quality_records(conn, kind))

    def add_quality_records(self, kind: str, records: Iterable[Mapping[str, Any]]) -> list[int]:
        # docstring inherited
        raise TypeError("a store snapshot is read-only; write through the store")

    @contextmanager
    def snapshot(self) -> Iterator[Store]:
        """This view itself: a snapshot taken inside a snapshot sees the same state."""
        yield self

    def write(
        self, key: StreamKey, records: Mapping[str, np.ndarray], *, bin_seconds: int
    ) -> WriteResult:
        # docstring inherited
        raise TypeError("a store snapshot is read-only; write through the store")

    def put_asset_events(self, refdes: str, events: Iterable[Mapping[str, Any]]) -> int:
        # docstring inherited
        raise TypeError("a store snapshot is read-only; write through the store")
