"""A read view of a Cassandra store that sees each stream in one state, without scanning data.

Cassandra has no multi-partition snapshot. :class:`CassandraSnapshot` reads, once per stream and
per response, the stream's partition index (with each bin's chunk version) and its write
generation (a ``timeuuid`` every write sets in the batch that switches its bins) in one
single-partition read, so the generation, the view's change token, is always that of the bins it
reads, and then the stream's columns (all read again, up to :data:`STATE_READS` times, when a
write moved the generation meanwhile). Every read of the stream in the response uses that index
and those columns:

* bins kept as column chunks are read at the version the index named, and each bin column read
  is kept for the rest of the response (:class:`~stream_engine.store.cassandra_chunks.BinCache`,
  bounded): the blocks of a DAP response fetch each bin once. A version a later write deleted
  is noticed (its marker cell is gone) and the read fails with
  :class:`~stream_engine.errors.StoreUnavailable` (503, retry) instead of mixing two states;
* when the stream has bins in OOI rows only, the read also checks afterwards that the
  generation has not moved (one single-row read), and fails the same way if it has.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from stream_engine.errors import StoreUnavailable
from stream_engine.store.base import (
    NEVER_WRITTEN,
    ChangeToken,
    ColumnInfo,
    IndexRange,
    Partition,
    Store,
    StreamCoverage,
    StreamKey,
    TimeRange,
    WriteResult,
)
from stream_engine.store.cassandra_chunks import BinCache, BinState
from stream_engine.store.wrapper import WrapperStore

if TYPE_CHECKING:
    import numpy as np

    from stream_engine.store.cassandra import CassandraStore

__all__ = ["CassandraSnapshot", "token_of"]

#: Times a view reads a stream's state while writes keep moving its generation, before it
#: answers 503 (retry).
STATE_READS = 3
_UUID_EPOCH = 0x01B21DD213814000  # 1970-01-01 in 100 ns intervals since 1582-10-15 (the UUID clock)


def token_of(generation: Any) -> ChangeToken:
    """A ``timeuuid`` generation as a :class:`ChangeToken` (its 100 ns clock; ``None``: never written)."""
    if generation is None:
        return NEVER_WRITTEN
    return ChangeToken(int(generation.time), (generation.time - _UUID_EPOCH) / 1e7)


class CassandraSnapshot(WrapperStore):
    """The view :meth:`CassandraStore.snapshot` yields (see the module docstring); read-only."""

    def __init__(self, store: CassandraStore) -> None:
        super().__init__(store)
        self.store = store
        self._state: dict[StreamKey, tuple[Any, list[BinState], dict[str, ColumnInfo]]] = {}
        self._streams: list[StreamCoverage] | None = None
        self._assets: dict[str, list[dict[str, Any]]] = {}
        self._asset_tokens: dict[str, ChangeToken] = {}
        self._bins = BinCache()

    def _stream(self, key: StreamKey) -> tuple[Any, list[BinState], dict[str, ColumnInfo]]:
        """The stream's generation, partition index and columns, read once per view (again,
        up to :data:`STATE_READS` times, while writes move the generation under the reads)."""
        if key not in self._state:
            for _ in range(STATE_READS):
                generation, states = self.store.index_state(key)
                if generation is None:  # not written since the index kept its generation: the
                    # one in stream_metadata, read before an index read again, which it then covers
                    generation = self.store.generation(key)
                    held, states = self.store.index_state(key)
                    if held is not None:  # written meanwhile: the index now holds its generation
                        generation = held
                columns = self.store.columns(key)
                if self.store.generation(key) == generation:
                    self._state[key] = (generation, states, columns)
                    break
            else:
                raise StoreUnavailable(f"stream {key} is being written; retry the request in a moment")
        return self._state[key]

    def streams(self) -> list[StreamCoverage]:
        # docstring inherited
        if self._streams is None:
            self._streams = self.store.streams()
        return list(self._streams)

    def partitions(self, key: StreamKey) -> list[Partition]:
        # docstring inherited
        return [s.partition for s in self._stream(key)[1]]

    def columns(self, key: StreamKey) -> dict[str, ColumnInfo]:
        # docstring inherited
        return dict(self._stream(key)[2])

    def coverage(self, key: StreamKey) -> StreamCoverage | None:
        # docstring inherited
        parts = self.partitions(key)
        if not parts:
            return None
        return StreamCoverage(key, sum(p.count for p in parts), parts[0].first, parts[-1].last)

    def read(
        self,
        key: StreamKey,
        columns: Sequence[str] | None = None,
        *,
        time_range: TimeRange | None = None,
        index_range: IndexRange | None = None,
    ) -> dict[str, np.ndarray]:
        # docstring inherited
        generation, states, stored = self._stream(key)
        out = self.store.read_with(key, columns, states, stored, time_range=time_range, index_range=index_range,
                                   cache=self._bins)
        rows_only = any(s.version is None for s in states)  # chunk versions check themselves
        if stored and rows_only and self.store.generation(key) != generation:
            raise StoreUnavailable(
                f"stream {key} was written while this response was being read; retry the request")
        return out

    def stream_token(self, key: StreamKey) -> ChangeToken:
        """The token of the state this view reads (the generation read with its partition index)."""
        return token_of(self._stream(key)[0])

    def asset_token(self, refdes: str) -> ChangeToken:
        # docstring inherited; read once per view
        if refdes not in self._asset_tokens:
            self._asset_tokens[refdes] = self.store.asset_token(refdes)
        return self._asset_tokens[refdes]

    @contextmanager
    def snapshot(self) -> Iterator[Store]:
        """The view itself (already one state per stream)."""
        yield self

    def asset_events(self, refdes: str) -> list[dict[str, Any]]:
        # docstring inherited
        if refdes not in self._assets:
            self._assets[refdes] = self.store.asset_events(refdes)
        return list(self._assets[refdes])

    def write(self, key: StreamKey, records: Mapping[str, np.ndarray], *, bin_seconds: int) -> WriteResult:
        """Refused: a snapshot is read-only."""
        raise TypeError("a snapshot is read-only; write through the store")

    def close(self) -> None:
        """Nothing to release: the view shares the store's connection."""
