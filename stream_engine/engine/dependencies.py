"""What one response read from the store, so a copy of it can be checked instead of rebuilt.

A metadata response (a DAP dataset's DDS, DAS, DMR or form) is made from the store's
partition index, columns, asset events, data-quality records, the list of streams and the
change tokens the plan cache and the validators read: never from anything else in the store.
:class:`RecordingStore` wraps the response's snapshot view and notes *which* of those it read
(streams, reference designators, the stream list, kinds of quality records); afterwards
:meth:`Dependencies.read` takes the state of each through the same view: the change token of
every stream and reference designator, the names in the list, a digest of each kind of quality
record. A later request checks the copy it kept with :meth:`Dependencies.unchanged` through its
own view: equal, the response would be made identical (same text, same ``ETag``), so it is served
as kept; an ingest into a stream the response never read leaves it valid.

Recording is complete by construction (every read goes through the wrapper), so a new
dependency of a response (a stream a plan starts consulting, a kind of record the DAS starts
showing) is checked without anyone listing it here. A store without change tokens gives no
:class:`Dependencies` (``None``): nothing is kept.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from stream_engine.store.wrapper import WrapperStore

if TYPE_CHECKING:
    import numpy as np

    from stream_engine.store.base import (
        ChangeToken,
        ColumnInfo,
        IndexRange,
        Partition,
        Store,
        StreamCoverage,
        StreamKey,
        TimeRange,
    )


@dataclass
class _Reads:
    """What a :class:`RecordingStore` (and its copies) saw asked for, with what it answered
    where that is the state itself (tokens, names, quality digests): not read twice."""

    streams: dict[StreamKey, ChangeToken | None] = field(default_factory=dict)
    refdeses: dict[str, ChangeToken | None] = field(default_factory=dict)
    quality: dict[str, str] = field(default_factory=dict)
    listing: tuple[str, ...] | None = None
    instruments: tuple[str, ...] | None = None

    def stream(self, key: StreamKey) -> None:
        self.streams.setdefault(key, None)


class RecordingStore(WrapperStore):
    """A read view that notes which streams, reference designators, quality kinds and whether
    the stream list were read through it (:class:`Dependencies` takes their state)."""

    def __init__(self, inner: Store) -> None:
        super().__init__(inner)
        self.reads = _Reads()

    def streams(self) -> list[StreamCoverage]:
        # docstring inherited
        found = self.inner.streams()
        self.reads.listing = tuple(c.key.path for c in found)
        return found

    def partitions(self, key: StreamKey) -> list[Partition]:
        # docstring inherited
        self.reads.stream(key)
        return self.inner.partitions(key)

    def columns(self, key: StreamKey) -> dict[str, ColumnInfo]:
        # docstring inherited
        self.reads.stream(key)
        return self.inner.columns(key)

    def coverage(self, key: StreamKey) -> StreamCoverage | None:
        # docstring inherited
        self.reads.stream(key)
        return self.inner.coverage(key)

    def read(
        self,
        key: StreamKey,
        columns: Sequence[str] | None = None,
        *,
        time_range: TimeRange | None = None,
        index_range: IndexRange | None = None,
    ) -> dict[str, np.ndarray]:
        # docstring inherited
        self.reads.stream(key)
        return self.inner.read(key, columns, time_range=time_range, index_range=index_range)

    def read_columns(
        self, key: StreamKey, columns: Sequence[str], *, index_range: IndexRange
    ) -> dict[str, np.ndarray]:
        # docstring inherited
        self.reads.stream(key)
        return self.inner.read_columns(key, columns, index_range=index_range)

    def stream_token(self, key: StreamKey) -> ChangeToken | None:
        # docstring inherited
        token = self.reads.streams[key] = self.inner.stream_token(key)
        return token

    def asset_token(self, refdes: str) -> ChangeToken | None:
        # docstring inherited
        token = self.reads.refdeses[refdes] = self.inner.asset_token(refdes)
        return token

    def asset_events(self, refdes: str) -> list[dict[str, Any]]:
        # docstring inherited
        self.reads.refdeses.setdefault(refdes, None)
        return self.inner.asset_events(refdes)

    def asset_refdeses(self) -> list[str]:
        # docstring inherited
        found = self.inner.asset_refdeses()
        self.reads.instruments = tuple(found)
        return found

    def quality_records(self, kind: str) -> list[dict[str, Any]]:
        # docstring inherited
        found = self.inner.quality_records(kind)
        if kind not in self.reads.quality:  # one snapshot: every read of a kind gives the same
            self.reads.quality[kind] = _quality_digest(found)
        return found

    @contextmanager
    def snapshot(self) -> Iterator[Store]:
        """This view itself (it wraps a snapshot already), still recording."""
        yield self


def _quality_digest(records: Iterable[Mapping[str, Any]]) -> str:
    return hashlib.sha256(orjson.dumps(list(records), option=orjson.OPT_SORT_KEYS, default=str)).hexdigest()


def _listing(store: Store) -> tuple[str, ...]:
    return tuple(c.key.path for c in store.streams())


@dataclass(frozen=True, slots=True)
class Dependencies:
    """The state of everything a response read, as its change tokens and digests.

    ``listing`` is the names of the stored streams, ``instruments`` those of the reference
    designators with asset events (``None`` when the response did not list them): a stream
    appearing can change a plan. Coverage is not part of it: a stream whose records matter is in
    ``streams``.
    """

    streams: tuple[tuple[StreamKey, ChangeToken], ...]
    refdeses: tuple[tuple[str, ChangeToken], ...]
    quality: tuple[tuple[str, str], ...]
    listing: tuple[str, ...] | None
    instruments: tuple[str, ...] | None

    @classmethod
    def read(cls, recorder: RecordingStore) -> Dependencies | None:
        """The state, through the recorder's own view, of what it recorded (tokens it was not
        asked for are read now); ``None`` when the store has no change token for one of them
        (nothing may then be kept)."""
        view, reads = recorder.inner, recorder.reads
        streams = tuple((k, t if t is not None else view.stream_token(k))
                        for k, t in sorted(reads.streams.items(), key=lambda item: item[0].path))
        refdeses = tuple((r, t if t is not None else view.asset_token(r)) for r, t in sorted(reads.refdeses.items()))
        if any(t is None for _, t in (*streams, *refdeses)):
            return None
        return cls(streams, refdeses, tuple(sorted(reads.quality.items())),  # type: ignore[arg-type]
                   reads.listing, reads.instruments)

    def unchanged(self, view: Store) -> bool:
        """Whether ``view`` (a snapshot) still holds exactly this state; cheapest checks first."""
        if any(view.stream_token(key) != token for key, token in self.streams):
            return False
        if any(view.asset_token(refdes) != token for refdes, token in self.refdeses):
            return False
        if self.listing is not None and _listing(view) != self.listing:
            return False
        if self.instruments is not None and tuple(view.asset_refdeses()) != self.instruments:
            return False
        return all(_quality_digest(view.quality_records(kind)) == digest for kind, digest in self.quality)


__all__ = ["Dependencies", "RecordingStore"]
