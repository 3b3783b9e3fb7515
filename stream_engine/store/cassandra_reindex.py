"""Serving a keyspace written by OOI's tools: rebuilding the partition index and stream columns.

OOI kept the partition index (bin -> count, first, last) in Postgres, not in the keyspace, and
knew each stream's columns from the preload dictionary. :func:`reindex` rebuilds what this store
needs from the stream tables themselves, for every stream key found in them:

* ``stream_columns``: the table's columns that are stored parameters of the stream in the
  dictionary (``time`` and ``deployment`` first), with the dictionary's dtype; array parameters
  are msgpack lists (OOI's encoding, :mod:`~stream_engine.store.cassandra_msgpack`), their width
  the longest list found. Stream keys this store already describes keep their columns.
* ``partition_metadata``: per bin, the number of distinct ``(time, deployment)`` keys (a key
  stored under two ids counts once, as reads return it once), the first and the last time; the
  bin's column chunks, if any, are set aside (its rows are the truth after a reindex). So that
  the rows hold every record, the OOI rows still pending for the stream (``CASSANDRA_ROWS``
  ``"background"`` or ``"off"``) are written first; bins of the index whose rows are all gone
  (deleted with OOI's tools) leave the index, with their chunks. A stream key's new index is
  written in one batch with a new write generation (so every cached response of the stream is
  recomputed), as a write's bins are switched: a server reading the stream meanwhile sees it
  whole, before or after.
* ``stream_metadata``: the dictionary's bin size and a new write generation, then the keyspace's
  change token.

Each partition is read once (key columns and array columns only), so a reindex reads every
array blob of the keyspace: run it once after loading the keyspace, and again after OOI's tools
write to it. Columns that are not dictionary parameters (``provenance``, ``quality_flag``) are
left out and reported.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from cassandra.query import BatchStatement, BatchType

from stream_engine.store.base import DEPLOYMENT, TIME, ColumnInfo, StreamKey
from stream_engine.store.cassandra_bulk import SWITCH_BINS
from stream_engine.store.cassandra_chunks import CHUNK_TABLE
from stream_engine.store.cassandra_msgpack import MsgpackColumn, dtype_text, flat_values
from stream_engine.store.cassandra_rows import derive_rows
from stream_engine.store.cassandra_schema import KEY_COLUMNS, METADATA_TABLES, quote
from stream_engine.store.cassandra_tables import KEY_WHERE, generation_update, key_params
from stream_engine.store.records import DEPLOYMENT_INFO, STRING_DTYPE, TIME_INFO

if TYPE_CHECKING:
    from stream_engine.store.cassandra import CassandraStore

__all__ = ["ReindexReport", "reindex"]


@dataclass
class ReindexReport:
    """What :func:`reindex` found in one stream table."""

    stream: str
    keys: list[StreamKey] = field(default_factory=list)
    records: int = 0
    bins: int = 0
    skipped_columns: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for the command's output."""
        line = (f"{self.stream}: {len(self.keys)} stream keys, {self.records} records in {self.bins} bins")
        if self.skipped_columns:
            line += f" (columns not in the dictionary, not served: {', '.join(self.skipped_columns)})"
        return line


@dataclass
class _BinCount:
    keys: set[tuple[float, int]] = field(default_factory=set)

    def add(self, time: float, deployment: int) -> None:
        self.keys.add((time, deployment))


def _dictionary_columns(store: CassandraStore, preload: Any, stream: str) -> tuple[dict[str, ColumnInfo], list[str]]:
    """The stream table's columns that are stored parameters of ``stream`` (arrays width 0 for
    now), and the names of its other non-key columns."""
    table = store.conn.cluster.metadata.keyspaces[store.keyspace].tables[stream]
    columns: dict[str, ColumnInfo] = {TIME: TIME_INFO, DEPLOYMENT: DEPLOYMENT_INFO}
    for parameter in preload.stream_parameters(stream):  # in the dictionary's order
        name = parameter.name
        if parameter.is_function or name in KEY_COLUMNS or name not in table.columns:
            continue
        dtype = STRING_DTYPE if parameter.dtype.kind == "U" else parameter.dtype.str
        columns[name] = MsgpackColumn(name, dtype, (0,)) if parameter.is_array else ColumnInfo(name, dtype)
    skipped = sorted(c for c in table.columns if c not in KEY_COLUMNS and c not in columns)
    return columns, skipped


def reindex(store: CassandraStore, preload: Any, streams: Sequence[str] = (),
            progress: Callable[[str], None] | None = None) -> list[ReindexReport]:
    """Rebuild the partition index and stream columns from the stream tables (module docstring).

    Parameters
    ----------
    store
        The store on the keyspace (its own tables are created if missing).
    preload
        The dictionary naming each stream's parameters, dtypes and bin size.
    streams
        Stream (table) names to reindex; every dictionary stream with a table when empty.
    progress
        Called with a line per stream key done.

    Raises
    ------
    ValueError
        A stream named is not in the dictionary, or has no table in the keyspace.
    """
    store.ensure_schema()
    with store.conn.errors("read the schema"):
        store.conn.cluster.refresh_schema_metadata()
        tables = set(store.conn.cluster.metadata.keyspaces[store.keyspace].tables) - set(METADATA_TABLES)
    known = {name for name in preload.streams if not preload.streams[name].is_virtual}
    for name in streams:
        if name not in known:
            raise ValueError(f"stream {name!r} is not a stored stream of the preload dictionary")
        if name not in tables:
            raise ValueError(f"keyspace {store.keyspace!r} has no table for stream {name!r}")
    return [_reindex_stream(store, preload, name, progress) for name in (streams or sorted(known & tables))]


def _reindex_stream(store: CassandraStore, preload: Any, stream: str,
                    progress: Callable[[str], None] | None) -> ReindexReport:
    conn, ks = store.conn, store.keyspace
    report = ReindexReport(stream)
    indexed = [c.key for c in store.streams() if c.key.stream == stream]
    for key in indexed:  # bins whose rows lag their chunks: the rows must hold every record first
        derive_rows(store, key)
    columns, report.skipped_columns = _dictionary_columns(store, preload, stream)
    arrays = [n for n, info in columns.items() if isinstance(info, MsgpackColumn)]
    partitions = conn.execute(f"SELECT DISTINCT subsite, node, sensor, bin FROM {ks}.{stream}",
                              doing=f"list the partitions of {stream}")
    select = ", ".join(["method", TIME, DEPLOYMENT, *(quote(n) for n in arrays)])
    query = f"SELECT {select} FROM {ks}.{stream} WHERE subsite=? AND node=? AND sensor=? AND bin=?"
    counts: dict[StreamKey, dict[int, _BinCount]] = {}
    widths: dict[StreamKey, dict[str, int]] = {}
    for subsite, node, sensor, bin_ in partitions:
        for method, time, deployment, *blobs in conn.execute(query, (subsite, node, sensor, bin_),
                                                              doing=f"read the keys of {stream}"):
            key = StreamKey(subsite, node, sensor, method, stream)
            counts.setdefault(key, {}).setdefault(int(bin_), _BinCount()).add(float(time), int(deployment))
            width = widths.setdefault(key, dict.fromkeys(arrays, 1))
            for name, blob in zip(arrays, blobs, strict=True):
                if blob:
                    width[name] = max(width[name], len(flat_values(blob)))
    bin_seconds = preload.streams[stream].bin_seconds
    for key in indexed:
        if key not in counts:  # every row of the stream key is gone
            _write_index(store, key, {})
    for key in sorted(counts):
        _, stored = store.stored(key)
        if not stored:
            stored = {n: MsgpackColumn(n, i.dtype, (widths[key][n],)) if n in widths[key] else i
                      for n, i in columns.items()}
        _write_stream(store, key, bin_seconds, stored)
        _write_index(store, key, counts[key])
        report.keys.append(key)
        report.bins += len(counts[key])
        records = sum(len(c.keys) for c in counts[key].values())
        report.records += records
        if progress is not None:
            progress(f"{key}: {records} records in {len(counts[key])} bins")
    return report


def _write_index(store: CassandraStore, key: StreamKey, bins: dict[int, _BinCount]) -> None:
    """Make ``bins`` (each with the keys its rows hold) ``key``'s partition index, with a new
    generation: one single-partition batch per :data:`SWITCH_BINS` bins, so a response reading
    the stream meanwhile sees the index before or after, with its generation, never a mix of
    both (bins of the index whose rows are all gone leave it, and then their chunks)."""
    conn, ks = store.conn, store.keyspace
    params = key_params(key)
    empty = [s.bin for s in store.bin_states(key) if s.bin not in bins]
    with conn.errors(f"update the partition index of {key}"):
        generation = conn.prepare(generation_update(ks))
        drop = conn.prepare(f"DELETE FROM {ks}.partition_metadata WHERE {KEY_WHERE} AND bin=?")
        # chunk_version=null: the rows counted are the truth for the bin (cassandra_chunks.py)
        index = conn.prepare(f"UPDATE {ks}.partition_metadata SET count=?, first=?, last=?, chunk_version=null "
                             f"WHERE {KEY_WHERE} AND bin=?")
        chunks = conn.prepare(f"DELETE FROM {ks}.{CHUNK_TABLE} WHERE {KEY_WHERE} AND bin=?")
    changes: list[tuple[Any, tuple[Any, ...]]] = [(drop, (*params, b)) for b in empty]
    for bin_, found in sorted(bins.items()):
        times = np.fromiter((t for t, _ in found.keys), dtype=np.float64, count=len(found.keys))
        changes.append((index, (len(found.keys), float(times.min()), float(times.max()), *params, bin_)))
    for start in range(0, len(changes), SWITCH_BINS):
        batch = BatchStatement(batch_type=BatchType.UNLOGGED, consistency_level=conn.consistency)
        batch.add(generation, params)
        for statement, values in changes[start:start + SWITCH_BINS]:
            batch.add(statement, values)
        conn.execute(batch, doing=f"update the partition index of {key}")
    conn.concurrent(chunks, [(*params, b) for b in empty], doing=f"drop the chunks of {key}")
    store.record_write(key, switched=True)


def _write_stream(store: CassandraStore, key: StreamKey, bin_seconds: int, stored: dict[str, ColumnInfo]) -> None:
    """``key``'s bin size and columns (before its partition index names bins holding them)."""
    conn, ks = store.conn, store.keyspace
    params = key_params(key)
    conn.execute(f"UPDATE {ks}.stream_metadata SET bin_seconds=? WHERE {KEY_WHERE}", (bin_seconds, *params),
                 doing=f"record stream {key}")
    with conn.errors(f"record the columns of {key}"):
        columns = conn.prepare(f"UPDATE {ks}.stream_columns SET name=?, dtype=?, width=? WHERE {KEY_WHERE} AND position=?")
    conn.concurrent(columns, [(i.name, dtype_text(i), i.shape[0] if i.shape else None, *params, pos)
                              for pos, i in enumerate(stored.values())], doing=f"record the columns of {key}")
