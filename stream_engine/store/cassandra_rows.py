"""The OOI rows of bins kept as column chunks: which bins' rows lag, and writing them.

Stream Engine reads the column chunks (:mod:`~stream_engine.store.cassandra_chunks`); the OOI
row tables are the interchange layout other tools read. ``CASSANDRA_ROWS`` says when a bin's
rows are written:

* ``"background"`` (default): ingest writes the chunks only (what Stream Engine serves, durable
  and visible at once); the server's row deriver (:mod:`~stream_engine.store.cassandra_deriver`)
  writes the rows afterwards, a bounded slice at a time;
* ``"with-ingest"``: every write also upserts its records' rows before the bin switches (ingest
  then runs at the cluster's row rate, about ten times slower);
* ``"off"``: no rows are written unless ``stream-engine cassandra derive-rows`` is run.

A bin's rows are complete when its partition-index row's ``rows_version`` equals its
``chunk_version``; within a version, each record says whether its row is written
(:data:`~stream_engine.store.cassandra_chunks.ROWS_INFO`), so only the records new or changed
since the bin's rows were last complete are written again. Rows are written from the visible chunk version with the ``id`` each record
keeps in the chunks (a row first written by OOI's tools keeps its random id, every other record
the nil UUID), so writing a bin's rows twice, or after a crash half-way, writes the same rows:
the result is idempotent. ``rows_version`` is set by a lightweight transaction conditioned on the
chunk version the rows came from: a bin rewritten by an ingest meanwhile stays pending and is
derived again at its new version.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from stream_engine.store.base import ColumnInfo, Partition, StreamKey
from stream_engine.store.cassandra_bulk import row_values
from stream_engine.store.cassandra_chunks import (
    ID_INFO,
    ROWS_INFO,
    BinState,
    ChunkTable,
    VersionGone,
)
from stream_engine.store.cassandra_tables import (
    KEY_WHERE,
    insert_statement,
    key_params,
    row_batches,
)

if TYPE_CHECKING:
    from stream_engine.store.cassandra import CassandraStore

__all__ = [
    "ROWS_BACKGROUND",
    "ROWS_MODES",
    "ROWS_OFF",
    "ROWS_WITH_INGEST",
    "BinRows",
    "PendingBin",
    "bin_state",
    "derive_rows",
    "pending_bins",
]

ROWS_BACKGROUND = "background"
ROWS_WITH_INGEST = "with-ingest"
ROWS_OFF = "off"
ROWS_MODES = (ROWS_BACKGROUND, ROWS_WITH_INGEST, ROWS_OFF)
#: Times :func:`derive_rows` takes up a bin that ingests keep rewriting before leaving it pending.
_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class PendingBin:
    """A bin whose OOI rows lag its chunks."""

    key: StreamKey
    state: BinState


def pending_bins(store: CassandraStore, keys: Iterable[StreamKey] | None = None) -> list[PendingBin]:
    """Every bin (of ``keys``, default every stream) whose rows lag its visible chunk version,
    in stream and bin order. Without ``keys`` this reads the whole partition index (one row per
    bin)."""
    store.ensure_schema()
    if keys is not None:
        return [PendingBin(key, s) for key in keys for s in store.bin_states(key) if not s.rows_complete]
    rows = store.conn.execute(
        f"SELECT subsite, node, sensor, method, stream, bin, count, first, last, chunk_version, rows_version "
        f"FROM {store.keyspace}.partition_metadata", doing="list the bins whose OOI rows lag")
    found = []
    for subsite, node, sensor, method, stream, bin_, count, first, last, version, rows_version in rows:
        state = BinState(Partition(int(bin_), int(count or 0), first, last), version, rows_version)
        if count and not state.rows_complete:
            found.append(PendingBin(StreamKey(subsite, node, sensor, method, stream), state))
    return sorted(found, key=lambda p: (p.key, p.state.bin))


def bin_state(store: CassandraStore, key: StreamKey, bin_: int) -> BinState | None:
    """One bin's index row as it is now (``None`` when the bin holds no records)."""
    rows = store.conn.execute(
        f"SELECT count, first, last, chunk_version, rows_version FROM {store.keyspace}.partition_metadata "
        f"WHERE {KEY_WHERE} AND bin=?", (*key_params(key), int(bin_)), doing=f"read the partition index of {key}")
    if not rows or not rows[0][0]:
        return None
    count, first, last, version, rows_version = rows[0]
    return BinState(Partition(int(bin_), int(count), first, last), version, rows_version)


class BinRows:
    """Writing the OOI rows of one chunk version of one bin, a slice at a time: the rows of its
    records whose rows are not written yet (all of them in versions from before this was kept).

    Parameters
    ----------
    store
        The store holding the bin.
    key, state
        The stream and the bin's index row (with a chunk version).
    stored
        The stream's stored columns (every one gets a value in each row; columns the version
        lacks are written as fill).
    """

    def __init__(self, store: CassandraStore, key: StreamKey, state: BinState,
                 stored: dict[str, ColumnInfo]) -> None:
        if state.version is None:
            raise ValueError(f"bin {state.bin} of {key} has no chunk version: its rows are the data")
        self.store = store
        self.key = key
        self.state = state
        self.stored = stored
        self.done = 0  # of the records needing rows, how many have them now
        self._values: dict[str, np.ndarray] | None = None
        self._todo: np.ndarray | None = None

    def _read(self) -> tuple[dict[str, np.ndarray], np.ndarray]:
        if self._values is None or self._todo is None:
            table = ChunkTable(self.store.conn, self.store.keyspace)
            (self._values,) = table.read(self.key, [self.state], [*self.stored.values(), ID_INFO, ROWS_INFO])
            self._todo = np.flatnonzero(~self._values[ROWS_INFO.name])
        return self._values, self._todo

    @property
    def needed(self) -> int:
        """Records of the version whose rows are to be written (reads the version)."""
        return len(self._read()[1])

    @property
    def written(self) -> bool:
        """Whether every record that needed a row has it now."""
        return self.done >= self.needed

    def write(self, rows: int | None = None) -> int:
        """Write the rows of the next ``rows`` records needing one (all the rest when ``None``);
        returns how many were written.

        Raises
        ------
        VersionGone
            When the version was replaced by a write (the bin is derived again at its new one).
        """
        values, todo = self._read()
        stop = len(todo) if rows is None else min(len(todo), self.done + int(rows))
        if stop <= self.done:
            return 0
        picked = todo[self.done : stop]
        some = {n: v[picked] for n, v in values.items()}
        insert = insert_statement(self.store.conn, self.store.keyspace, self.key, list(self.stored))
        serialized = row_values(self.key, self.state.bin, some, self.stored, some[ID_INFO.name])
        self.store.conn.concurrent_statements(
            row_batches(insert, serialized, self.store.batch_rows, self.store.conn.consistency),
            doing=f"write the OOI rows of {self.key}")
        written, self.done = stop - self.done, stop
        return written

    def finish(self) -> bool:
        """Mark the bin's rows complete, if its chunk version is still the one written from;
        whether it was (``False``: an ingest rewrote the bin, which stays pending). The version
        then records that each of its records has its row, so a later write into the bin leaves
        only its own records to derive."""
        if not self.written:
            raise ValueError(f"{self.needed - self.done} records of bin {self.state.bin} of {self.key} have no rows yet")
        cql = (f"UPDATE {self.store.keyspace}.partition_metadata SET rows_version=? WHERE {KEY_WHERE} AND bin=? "
               "IF chunk_version=?")
        assert self.state.version is not None
        found = self.store.conn.execute(cql, (self.state.version, *key_params(self.key), self.state.bin, self.state.version),
                                        doing=f"update the partition index of {self.key}")
        applied = bool(found and found[0][0])
        if applied and self.needed:
            ChunkTable(self.store.conn, self.store.keyspace).mark_rows_written(
                self.key, self.state.bin, self.state.version, self.state.partition.count)
        return applied


def derive_rows(store: CassandraStore, key: StreamKey) -> int:
    """Write the OOI rows of every bin of ``key`` whose rows lag its chunks, now and whole;
    returns the records whose rows were written. Idempotent; a bin an ingest rewrites meanwhile
    stays pending (the next call, or the server's deriver, writes it at its new version)."""
    stored = store.columns(key)
    if not stored:
        return 0
    written = 0
    for pending in pending_bins(store, [key]):
        state: BinState | None = pending.state
        for _ in range(_ATTEMPTS):
            if state is None or state.rows_complete:
                break
            rows = BinRows(store, key, state, stored)
            try:
                written += rows.write()
            except VersionGone:  # rewritten while we read it: derive the new version
                state = bin_state(store, key, state.bin)
                continue
            if rows.finish():
                break
            state = bin_state(store, key, state.bin)
    return written
