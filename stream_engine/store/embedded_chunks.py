"""Chunks of the embedded store (see ``embedded.py``): BLOB encoding, selection, upserts.

A numeric BLOB is the raw little-endian bytes of a C-ordered ``(n,)`` or ``(n, k)`` array, so it
decodes with ``np.frombuffer`` and ``k`` follows from its length. A string BLOB is an int64 count
``m`` of strings (``n * k``), ``m + 1`` int64 character offsets, then the strings' utf-8 text
(``surrogatepass``, so any Python ``str`` round-trips exactly).
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from stream_engine.store.base import DEPLOYMENT, TIME, ColumnInfo, IndexRange, TimeRange
from stream_engine.store.records import (
    STRING_DTYPE,
    fill_array,
    fill_value,
    pad_width,
    sort_unique,
)

_CHUNK_ORDER = "ORDER BY bin, first_time, first_dep"
# Appends always merge into a previous chunk smaller than this (rows), whatever their size.
_SMALL_CHUNK = 4096


@dataclass(frozen=True, slots=True)
class ChunkSlice:
    """Records ``sel`` (``None``: all ``count``) of one chunk."""

    chunk_id: int
    count: int
    sel: slice | None

    def __len__(self) -> int:
        return self.count if self.sel is None else len(range(*self.sel.indices(self.count)))


def encode(values: np.ndarray) -> bytes | memoryview:
    """The BLOB of one chunk's values of one column (internal representation)."""
    if values.dtype.kind != "O":
        return np.ascontiguousarray(values).data.cast("B")
    flat = values.ravel().tolist()
    offsets = np.zeros(len(flat) + 1, dtype="<i8")
    np.cumsum(np.fromiter(map(len, flat), dtype=np.int64, count=len(flat)), out=offsets[1:])
    text = "".join(flat).encode("utf-8", "surrogatepass")
    return len(flat).to_bytes(8, "little") + offsets.tobytes() + text


def decode(blob: bytes, info: ColumnInfo, count: int) -> np.ndarray:
    """Values of a BLOB: read-only ``np.frombuffer`` views for numbers, ``object`` arrays for str."""
    if info.dtype != STRING_DTYPE:
        values = np.frombuffer(blob, dtype=info.dtype)
        return values.reshape(count, -1) if info.shape else values
    m = int.from_bytes(blob[:8], "little")
    bounds = np.frombuffer(blob, dtype="<i8", count=m + 1, offset=8).tolist()
    text = str(memoryview(blob)[8 * (m + 2) :], "utf-8", "surrogatepass")
    values = np.empty(m, dtype=object)
    values[:] = [text[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    return values.reshape(count, -1) if info.shape else values


def _empty(info: ColumnInfo, n: int) -> np.ndarray:
    shape = (n, *info.shape)
    return np.empty(shape, dtype=object if info.dtype == STRING_DTYPE else np.dtype(info.dtype))


def _read_blob(conn: sqlite3.Connection, rowid: int, info: ColumnInfo, piece: ChunkSlice) -> np.ndarray:
    """The selected values of one BLOB; numeric contiguous selections read only their bytes."""
    with conn.blobopen("chunk_data", "data", rowid, readonly=True) as blob:
        if info.dtype == STRING_DTYPE:
            values = decode(blob.read(), info, piece.count)
            return values if piece.sel is None else values[piece.sel]
        itemsize = np.dtype(info.dtype).itemsize
        row_bytes = len(blob) // piece.count
        if piece.sel is None:
            return decode(blob.read(), info, piece.count)
        lo, hi, step = piece.sel.indices(piece.count)
        if step != 1:
            return decode(blob.read(), info, piece.count)[piece.sel]
        blob.seek(lo * row_bytes)
        values = np.frombuffer(blob.read((hi - lo) * row_bytes), dtype=info.dtype)
        return values.reshape(hi - lo, row_bytes // itemsize) if info.shape else values


def read_into(
    conn: sqlite3.Connection,
    slices: list[ChunkSlice],
    columns: list[tuple[int, ColumnInfo]],
    blob_rows: Callable[[int], dict[int, int]] | None = None,
) -> list[np.ndarray]:
    """Read ``columns`` (``(column_id, info)``) of the selected records, in ``slices`` order.

    Returns one writable array per column (strings as ``object`` arrays); a chunk without a
    BLOB for a column, and 2-D values narrower than the column, are filled with the fill value.
    ``blob_rows(chunk_id)`` gives a chunk's ``column id -> BLOB rowid`` when the caller keeps
    them (a snapshot's :class:`~stream_engine.store.embedded_layout.StreamLayout`); without it
    they are looked up here.
    """
    total = sum(len(s) for s in slices)
    outs = [_empty(info, total) for _, info in columns]
    ids = [cid for cid, _ in columns]
    query = (
        "SELECT column_id, rowid FROM chunk_data WHERE chunk_id=? AND column_id IN "
        f"({', '.join('?' * len(ids))})"
    )
    pos = 0
    for piece in slices:
        if blob_rows is not None:
            rowids = blob_rows(piece.chunk_id)
        else:
            rowids = dict(conn.execute(query, (piece.chunk_id, *ids)).fetchall())
        m = len(piece)
        for out, (cid, info) in zip(outs, columns, strict=True):
            target = out[pos : pos + m]
            rowid = rowids.get(cid)
            if rowid is None:
                target[...] = fill_value(info.dtype)
                continue
            values = _read_blob(conn, rowid, info, piece)
            if info.shape and values.shape[1] < info.shape[0]:
                target[:, values.shape[1] :] = fill_value(info.dtype)
                target = target[:, : values.shape[1]]
            target[...] = values
        pos += m
    return outs


def read_pieces(
    conn: sqlite3.Connection,
    slices: list[ChunkSlice],
    columns: list[tuple[int, ColumnInfo]],
    blob_rows: Callable[[int], dict[int, int]],
    numbers: Mapping[int, int] | None = None,
) -> list[list[np.ndarray]]:
    """:func:`read_into`, but one list of arrays per chunk slice, each array the BLOB's values
    as they are read (a read-only view of its bytes where it can be: no copy into one array per
    column); a missing BLOB or 2-D values narrower than the column are filled as there.

    ``numbers`` maps a chunk id to the deployment number every record of that chunk holds,
    where the chunk row says so (``one_dep``): the ``deployment`` column of such a chunk is not
    read but given as that number, a read-only view repeating it (stride 0).
    """
    pieces = []
    for piece in slices:
        rowids = blob_rows(piece.chunk_id)
        arrays = []
        for cid, info in columns:
            if numbers is not None and info.name == DEPLOYMENT and piece.chunk_id in numbers:
                arrays.append(np.broadcast_to(np.array(numbers[piece.chunk_id], dtype=info.dtype), (len(piece),)))
                continue
            rowid = rowids.get(cid)
            if rowid is None:
                arrays.append(fill_array(info, len(piece)))
                continue
            values = _read_blob(conn, rowid, info, piece)
            if info.shape and values.shape[1] < info.shape[0]:
                values = pad_width(values, info)
            arrays.append(values)
        pieces.append(arrays)
    return pieces


def time_slices(
    conn: sqlite3.Connection,
    stream_id: int,
    bin_seconds: int,
    time_range: TimeRange | None,
    time_column: int,
) -> list[ChunkSlice]:
    """Chunks (and the part of each) holding records in ``time_range``; only overlapping bins."""
    if time_range is None:
        every = conn.execute(f"SELECT id, count FROM chunks WHERE stream_id=? {_CHUNK_ORDER}", (stream_id,))
        return [ChunkSlice(cid, n, None) for cid, n in every]
    start, stop = float(time_range.start), float(time_range.stop)
    if not start < stop:
        return []
    lo_bin = math.floor(start / bin_seconds) * bin_seconds if math.isfinite(start) else start
    hi_bin = math.floor(stop / bin_seconds) * bin_seconds if math.isfinite(stop) else stop
    rows = conn.execute(
        "SELECT id, count, first_time, last_time FROM chunks WHERE stream_id=? AND bin >= ? AND bin <= ? "
        f"AND first_time < ? AND last_time >= ? {_CHUNK_ORDER}",
        (stream_id, lo_bin, hi_bin, stop, start),
    ).fetchall()
    time_info = ColumnInfo("time", "<f8")
    out = []
    for cid, n, first, last in rows:
        if first >= start and last < stop:
            out.append(ChunkSlice(cid, n, None))
            continue
        blob = conn.execute(
            "SELECT data FROM chunk_data WHERE chunk_id=? AND column_id=?", (cid, time_column)
        ).fetchone()[0]
        times = decode(blob, time_info, n)
        a, b = np.searchsorted(times, [start, stop], side="left").tolist()
        if b > a:
            out.append(ChunkSlice(cid, n, slice(a, b)))
    return out


def index_slices(conn: sqlite3.Connection, stream_id: int, index_range: IndexRange) -> list[ChunkSlice]:
    """Chunks (and the strided part of each) holding records ``index_range`` of the stream.

    Bins are found from the partition index's cumulative counts; only their chunks are listed.
    """
    start, stop, step = index_range.start, index_range.stop, index_range.step
    parts = conn.execute(
        "SELECT bin, count FROM partitions WHERE stream_id=? ORDER BY bin", (stream_id,)
    ).fetchall()
    offset, first_bin, last_bin, base = 0, None, None, 0
    for bin_, n in parts:
        if offset + n > start and offset < stop:
            if first_bin is None:
                first_bin, base = bin_, offset
            last_bin = bin_
        offset += n
    if first_bin is None or start >= stop:
        return []
    rows = conn.execute(
        f"SELECT id, count FROM chunks WHERE stream_id=? AND bin >= ? AND bin <= ? {_CHUNK_ORDER}",
        (stream_id, first_bin, last_bin),
    )
    out = []
    a = base
    for cid, n in rows:
        b = a + n
        lo = max(a, start)
        first = start + -(-(lo - start) // step) * step
        end = min(b, stop)
        if first < end:
            whole = step == 1 and first == a and end == b
            out.append(ChunkSlice(cid, n, None if whole else slice(first - a, end - a, step)))
        a = b
    return out


# -- writing ------------------------------------------------------------------------------------


def write_bin(
    conn: sqlite3.Connection,
    stream_id: int,
    bin_: int,
    segment: dict[str, np.ndarray],
    stored: dict[str, tuple[int, ColumnInfo]],
    chunk_rows: int,
) -> int:
    """Upsert one bin's sorted, unique records; returns how many replaced stored ones."""
    t, d = segment[TIME], segment[DEPLOYMENT]
    lo_key, hi_key = (float(t[0]), int(d[0])), (float(t[-1]), int(d[-1]))
    old = conn.execute(
        "SELECT id, count FROM chunks WHERE stream_id=? AND bin=? AND (last_time, last_dep) >= (?, ?) "
        f"AND (first_time, first_dep) <= (?, ?) {_CHUNK_ORDER}",
        (stream_id, bin_, *lo_key, *hi_key),
    ).fetchall()
    if not old:
        old = _append_partners(conn, stream_id, bin_, lo_key, len(t), chunk_rows)
    replaced = 0
    if old:
        infos = [info for _, info in stored.values()]
        existing = read_into(conn, [ChunkSlice(cid, n, None) for cid, n in old], list(stored.values()))
        merged = {}
        for info, values in zip(infos, existing, strict=True):
            new = segment.get(info.name)
            new = fill_array(info, len(t)) if new is None else pad_width(new, info)
            merged[info.name] = np.concatenate([pad_width(values, info), new])
        segment, dropped = sort_unique(merged)
        replaced = dropped
        conn.executemany("DELETE FROM chunk_data WHERE chunk_id=?", [(cid,) for cid, _ in old])
        conn.executemany("DELETE FROM chunks WHERE id=?", [(cid,) for cid, _ in old])
    _insert_chunks(conn, stream_id, bin_, segment, stored, chunk_rows)
    conn.execute(
        "INSERT OR REPLACE INTO partitions SELECT stream_id, bin, sum(count), min(first_time), "
        "max(last_time) FROM chunks WHERE stream_id=? AND bin=? GROUP BY stream_id, bin",
        (stream_id, bin_),
    )
    return replaced


def _append_partners(
    conn: sqlite3.Connection, stream_id: int, bin_: int, key: tuple[float, int], n: int, chunk_rows: int
) -> list[tuple[int, int]]:
    """Partly filled chunks just before an appended run of ``n`` records, to merge with it.

    Like a binary counter: the run absorbs the previous chunk while that chunk is tiny or
    at most twice the run's size, so small appends cost amortised O(log chunk_rows) rewrites
    per record and a bin holds full chunks plus a few geometrically sized ones.
    """
    partners: list[tuple[int, int]] = []
    while True:
        prev = conn.execute(
            "SELECT id, count, first_time, first_dep FROM chunks WHERE stream_id=? AND bin=? AND "
            "(last_time, last_dep) < (?, ?) ORDER BY first_time DESC, first_dep DESC LIMIT 1",
            (stream_id, bin_, *key),
        ).fetchone()
        if prev is None or prev[1] >= chunk_rows:
            break
        if prev[1] > 2 * n and prev[1] >= min(_SMALL_CHUNK, chunk_rows // 2):
            break
        partners.insert(0, (prev[0], prev[1]))
        n += prev[1]
        key = (prev[2], prev[3])
    return partners


def _insert_chunks(
    conn: sqlite3.Connection,
    stream_id: int,
    bin_: int,
    segment: dict[str, np.ndarray],
    stored: dict[str, tuple[int, ColumnInfo]],
    chunk_rows: int,
) -> None:
    t, d = segment[TIME], segment[DEPLOYMENT]
    for lo in range(0, len(t), chunk_rows):
        hi = min(lo + chunk_rows, len(t))
        one_dep = int(bool((d[lo:hi] == d[lo]).all()))
        cur = conn.execute(
            "INSERT INTO chunks (stream_id, bin, first_time, first_dep, last_time, last_dep, count, one_dep) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (stream_id, bin_, float(t[lo]), int(d[lo]), float(t[hi - 1]), int(d[hi - 1]), hi - lo, one_dep),
        )
        conn.executemany(
            "INSERT INTO chunk_data (chunk_id, column_id, data) VALUES (?, ?, ?)",
            [
                (cur.lastrowid, stored[name][0], encode(values[lo:hi]))
                for name, values in segment.items()
            ],
        )
