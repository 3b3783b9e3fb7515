"""What a snapshot of the embedded store learns once per stream: its columns and chunk layout.

Inside one read transaction the file does not change, so an
:class:`~stream_engine.store.embedded_reads.EmbeddedSnapshot` keeps, per stream it reads, the
stream's row, its columns, the order and size of its chunks (with each chunk's first record
index) and the BLOB row of each (chunk, column) it touched. A response streaming a column in
many small pieces then costs one query per chunk instead of five per piece, and finding the
chunks of an index range is a bisection instead of two queries.
"""

from __future__ import annotations

import bisect
import sqlite3
from dataclasses import dataclass, field

from stream_engine.store.base import ColumnInfo, IndexRange
from stream_engine.store.embedded_chunks import ChunkSlice

#: The order of a stream's chunks (as ``embedded_chunks`` lists them).
_ORDER = "ORDER BY bin, first_time, first_dep"


@dataclass(slots=True)
class StreamLayout:
    """One stream as one snapshot sees it.

    ``chunk_ids``/``counts`` list the chunks in stream order and ``starts`` the index of each
    chunk's first record (one more entry: the record count). ``numbers`` maps the id of each
    chunk whose records all hold one deployment number to that number (chunks written before
    the store kept ``one_dep`` are not there). ``blobs`` caches the BLOB rowids of the chunks
    read so far (``chunk id -> column id -> rowid``).
    """

    stream_id: int
    bin_seconds: int
    columns: dict[str, tuple[int, ColumnInfo]]
    chunk_ids: list[int]
    counts: list[int]
    starts: list[int]
    numbers: dict[int, int] = field(default_factory=dict)
    blobs: dict[int, dict[int, int]] = field(default_factory=dict)

    def index_slices(self, index_range: IndexRange) -> list[ChunkSlice]:
        """The chunks (and the strided part of each) holding records ``index_range``."""
        start, stop, step = index_range.start, index_range.stop, index_range.step
        stop = min(stop, self.starts[-1])
        if start >= stop:
            return []
        out = []
        for i in range(bisect.bisect_right(self.starts, start) - 1, len(self.chunk_ids)):
            a, n = self.starts[i], self.counts[i]
            if a >= stop:
                break
            lo = max(a, start)
            first = start + -(-(lo - start) // step) * step
            end = min(a + n, stop)
            if first < end:
                whole = step == 1 and first == a and end == a + n
                out.append(ChunkSlice(self.chunk_ids[i], n, None if whole else slice(first - a, end - a, step)))
        return out

    def blob_rows(self, conn: sqlite3.Connection, chunk_id: int) -> dict[int, int]:
        """``column id -> rowid`` of the BLOBs chunk ``chunk_id`` holds."""
        found = self.blobs.get(chunk_id)
        if found is None:
            found = self.blobs[chunk_id] = dict(
                conn.execute("SELECT column_id, rowid FROM chunk_data WHERE chunk_id=?", (chunk_id,)).fetchall()
            )
        return found


def read_layout(
    conn: sqlite3.Connection, stream: tuple[int, int], columns: dict[str, tuple[int, ColumnInfo]]
) -> StreamLayout:
    """The layout of the stream whose ``(id, bin_seconds)`` is ``stream``, read on ``conn``."""
    chunks = conn.execute(f"SELECT id, count, first_dep, one_dep FROM chunks WHERE stream_id=? {_ORDER}",
                          (stream[0],)).fetchall()
    starts = [0]
    for _, n, _, _ in chunks:
        starts.append(starts[-1] + n)
    return StreamLayout(stream[0], stream[1], columns, [c[0] for c in chunks], [c[1] for c in chunks], starts,
                        {c[0]: c[2] for c in chunks if c[3] == 1})
