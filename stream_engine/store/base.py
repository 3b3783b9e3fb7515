"""The storage interface every backend implements, and the value types it speaks.

Everything above ``store/`` talks to storage only through :class:`Store`. A backend is one file
beside this one (``embedded.py``, ``cassandra.py``) holding one subclass.

Conventions shared by all backends
----------------------------------
* Time is float64 NTP seconds (since 1900-01-01T00:00:00Z).
* A record is identified by ``(time, deployment)``; writing a record whose key exists replaces it
  (idempotent upsert), so ingesting the same file twice changes nothing.
* Records of a stream are partitioned into time bins: ``bin = floor(time / bin_seconds) *
  bin_seconds`` (NTP seconds at the start of the bin), exactly as the OOI Cassandra layout does.
* Within a stream, records are ordered by ``(time, deployment)``. The *index* of a record is its
  position in that order across the whole stream; :class:`IndexRange` selects by it.
* Columns are numpy arrays of equal length: 1-D for scalar parameters, 2-D ``(n, k)`` for array
  parameters, dtype ``str`` (numpy ``U``) or ``object`` holding ``str`` for strings. ``time``
  (float64) and ``deployment`` (int32) are always present in what :meth:`Store.read` returns.
"""

from __future__ import annotations

import json
import math
from abc import ABC, abstractmethod
from collections.abc import Hashable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from stream_engine.errors import NotFound

if TYPE_CHECKING:
    from pathlib import Path

    import numpy as np

TIME = "time"
DEPLOYMENT = "deployment"
KEY_COLUMNS = (TIME, DEPLOYMENT)
#: Kinds of data-quality record a store keeps (:meth:`Store.add_quality_records`).
QUALITY_KINDS = ("annotation", "qartod", "qc")


@dataclass(frozen=True, slots=True, order=True)
class StreamKey:
    """(subsite, node, sensor, method, stream), e.g. CE02SHSM/SBD11/06-METBKA000/telemetered/...."""

    subsite: str
    node: str
    sensor: str
    method: str
    stream: str

    def __post_init__(self) -> None:
        for name in ("subsite", "node", "sensor", "method", "stream"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value or "/" in value:
                raise TypeError(f"StreamKey.{name} must be a non-empty string without '/', got {value!r}")

    @property
    def refdes(self) -> str:
        """The reference designator ``subsite-node-sensor``."""
        return f"{self.subsite}-{self.node}-{self.sensor}"

    @property
    def path(self) -> str:
        """``subsite/node/sensor/method/stream``, as used in URLs."""
        return "/".join((self.subsite, self.node, self.sensor, self.method, self.stream))

    @classmethod
    def from_path(cls, path: str) -> StreamKey:
        """Parse ``subsite/node/sensor/method/stream`` (leading/trailing slashes ignored)."""
        parts = path.strip("/").split("/")
        if len(parts) != 5:
            raise ValueError(f"a stream path has 5 parts subsite/node/sensor/method/stream, got {path!r}")
        return cls(*parts)

    def __str__(self) -> str:
        return self.path


@dataclass(frozen=True, slots=True)
class TimeRange:
    """Half-open time window ``[start, stop)`` in NTP seconds."""

    start: float
    stop: float

    def __post_init__(self) -> None:
        for name in ("start", "stop"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
                raise TypeError(f"TimeRange.{name} must be a number of NTP seconds, got {value!r}")
        if self.stop < self.start:
            raise ValueError(f"TimeRange stop {self.stop!r} is before start {self.start!r}")

    @classmethod
    def everything(cls) -> TimeRange:
        return cls(-math.inf, math.inf)

    def contains(self, t: float) -> bool:
        return self.start <= t < self.stop

    def overlaps(self, first: float, last: float) -> bool:
        """Whether any time in the closed interval ``[first, last]`` falls in this range."""
        return first < self.stop and last >= self.start


@dataclass(frozen=True, slots=True)
class IndexRange:
    """Half-open record index range ``[start, stop)`` in stream order; ``step`` >= 1."""

    start: int
    stop: int
    step: int = 1

    def __post_init__(self) -> None:
        for name in ("start", "stop", "step"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"IndexRange.{name} must be an int, got {value!r}")
        if self.start < 0 or self.stop < self.start or self.step < 1:
            raise ValueError(f"invalid IndexRange({self.start}, {self.stop}, {self.step})")

    def __len__(self) -> int:
        return len(range(self.start, self.stop, self.step))


@dataclass(frozen=True, slots=True)
class Partition:
    """One time bin of a stream: the partition index entry. Never requires reading data."""

    bin: int
    count: int
    first: float
    last: float


@dataclass(frozen=True, slots=True)
class StreamCoverage:
    """A stream that holds data, with its record count and time coverage."""

    key: StreamKey
    count: int
    first: float
    last: float


@dataclass(frozen=True, slots=True)
class ColumnInfo:
    """A stored column: numpy dtype string (``'<f8'``, ``'<i4'``, ``'<U'`` for strings) and the
    shape of one record's value (``()`` for scalars, ``(k,)`` for array parameters)."""

    name: str
    dtype: str
    shape: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True, order=True)
class ChangeToken:
    """One committed state of a stream's records or of a reference designator's asset events.

    ``generation`` is larger after every committed write to the thing than before it (backends
    may share one counter across the store); ``modified`` is the POSIX time of the commit that
    made this state (``0.0`` when the backend did not record it). Two reads that give equal
    tokens saw identical data, so validators (``ETag``) and cache keys derive from tokens.
    """

    generation: int
    modified: float = 0.0


NEVER_WRITTEN = ChangeToken(0, 0.0)
"""The token of a stream or reference designator nothing was ever written to."""


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What a write did: records that were new, and records that replaced an existing key."""

    inserted: int = 0
    replaced: int = 0
    partitions: tuple[int, ...] = field(default=())


class Store(ABC):
    """A place where raw streams and asset records live.

    Implementations must be safe for several processes reading while one process writes, and a
    single :meth:`write` call is atomic: after a crash either all of it is visible or none.
    """

    backend: str = "abstract"

    # -- streams and the partition index ---------------------------------------------------

    @abstractmethod
    def streams(self) -> list[StreamCoverage]:
        """Every stream holding at least one record, sorted by key."""

    @abstractmethod
    def partitions(self, key: StreamKey) -> list[Partition]:
        """The partition index of a stream, sorted by bin; empty if the stream has no data."""

    @abstractmethod
    def columns(self, key: StreamKey) -> dict[str, ColumnInfo]:
        """The stored columns of a stream (``time`` and ``deployment`` included), without reading data."""

    def coverage(self, key: StreamKey) -> StreamCoverage | None:
        """Count and time coverage of one stream. Default: derived from :meth:`partitions`."""
        parts = self.partitions(key)
        if not parts:
            return None
        return StreamCoverage(key, sum(p.count for p in parts), parts[0].first, parts[-1].last)

    # -- reading -----------------------------------------------------------------------------

    @abstractmethod
    def read(
        self,
        key: StreamKey,
        columns: Sequence[str] | None = None,
        *,
        time_range: TimeRange | None = None,
        index_range: IndexRange | None = None,
    ) -> dict[str, np.ndarray]:
        """Read columns of the records selected by time or by index, sorted by (time, deployment).

        Parameters
        ----------
        key
            The stream.
        columns
            Column names to return; ``None`` means all. ``time`` and ``deployment`` are always
            included. A name the stream does not have raises :class:`~stream_engine.errors.NotFound`.
        time_range, index_range
            At most one may be given; neither means the whole stream. Only partitions that can hold
            selected records are touched (the partition index maps both kinds of range to bins).

        Returns
        -------
        dict of column name to array, all of the same length (possibly zero).
        """

    def read_columns(
        self, key: StreamKey, columns: Sequence[str], *, index_range: IndexRange
    ) -> dict[str, np.ndarray]:
        """Exactly ``columns`` of the records in ``index_range``, without the ``time`` and
        ``deployment`` that :meth:`read` always adds. Same errors as :meth:`read`.

        Default: :meth:`read`, then the key columns not asked for are dropped, so it still pays
        for reading them; backends that can skip them override this.
        """
        got = self.read(key, columns, index_range=index_range)
        return {name: got[name] for name in columns}

    def read_column_pieces(
        self, key: StreamKey, columns: Sequence[str], *, index_range: IndexRange
    ) -> list[dict[str, np.ndarray]]:
        """:meth:`read_columns` in consecutive pieces (in index order; each piece holds every
        column, of one length), for callers that process records piece by piece: a backend may
        then hand out its stored chunks as they are, without copying them into one array per
        column. The arrays may be read-only views of the store's buffers: never write into them.

        Default: one piece, :meth:`read_columns`.
        """
        return [self.read_columns(key, columns, index_range=index_range)]

    def local_folder(self) -> Path | None:
        """The folder on this machine that holds the store's files (``None`` for a remote store).

        Caches of values computed from the store that must survive a process (the DAP layer's
        windows shared by worker processes) live there, beside the data they derive from.
        """
        return None

    def change_token(self) -> Hashable | None:
        """A value that changes whenever anything is committed to the store, by any process.

        Callers cache values computed from the store across requests only under a token that is
        not ``None``. Default: ``None`` (the backend cannot tell cheaply; nothing is cached).
        """
        return None

    def stream_token(self, key: StreamKey) -> ChangeToken | None:
        """The change token of one stream's records (:data:`NEVER_WRITTEN` if it has none).

        It moves on with every committed :meth:`write` to ``key`` and with nothing else, so an
        ingest into one stream leaves every other stream's validators and caches valid. Read
        through a :meth:`snapshot`, it describes exactly the state that snapshot's reads see.

        Default: ``None`` (the backend cannot tell; callers then send no validators and cache
        nothing across requests). A backend implements it with a per-stream write generation
        bumped in the same atomic write as the records (embedded: a column of ``streams``).
        """
        return None

    def asset_token(self, refdes: str) -> ChangeToken | None:
        """The change token of a reference designator's asset events, like :meth:`stream_token`.

        Moves on with every committed :meth:`put_asset_events` for ``refdes``. Default: ``None``.
        """
        return None

    @contextmanager
    def snapshot(self) -> Iterator[Store]:
        """A read-only view of the store in which every read sees one committed state.

        The promise every backend must keep: everything that serves one response (counts,
        partitions, columns, every block of every column, inputs from other streams, asset
        events and change tokens) reads through one view, and all of it agrees with one
        committed state of the whole store, before or after any concurrent write, never a
        mix. A backend that cannot hold such a view raises
        :class:`~stream_engine.errors.StoreUnavailable` on entry (before any data is read);
        it must never yield a view that may mix states. Cassandra, for example, can read a
        write generation once per request and read only versions written at or before it.

        Callers must not write through the view, and should leave it soon: a held snapshot
        can keep a backend from reclaiming space (the embedded store's WAL cannot be
        checkpointed past it).

        Raises
        ------
        StoreUnavailable
            The backend cannot hold a snapshot now (or at all: this default, for backends
            that do not override it).
        """
        from stream_engine.errors import StoreUnavailable

        raise StoreUnavailable(
            f"the {self.backend} store cannot hold a consistent snapshot, so it cannot serve "
            "a response that reads it"
        )
        yield self  # pragma: no cover - makes this a generator

    # -- writing -----------------------------------------------------------------------------

    @abstractmethod
    def write(
        self, key: StreamKey, records: Mapping[str, np.ndarray], *, bin_seconds: int
    ) -> WriteResult:
        """Upsert records keyed by ``(time, deployment)``, atomically.

        ``records`` must contain ``time`` and ``deployment``. A column absent from ``records`` but
        present in the stream is filled with the column's fill value for the new records; a record
        that replaces an existing key replaces all of its columns. Raises ``ValueError`` (before
        anything is written) for unequal lengths, NaN times, or a dtype that conflicts with the
        stream's stored dtype for that column.
        """

    # -- assets (deployments, locations, calibrations) --------------------------------------

    @abstractmethod
    def put_asset_events(self, refdes: str, events: Iterable[Mapping[str, Any]]) -> int:
        """Replace the asset-management events stored for a reference designator; returns their count."""

    @abstractmethod
    def asset_events(self, refdes: str) -> list[dict[str, Any]]:
        """The asset-management events of a reference designator (empty if none were loaded)."""

    @abstractmethod
    def asset_refdeses(self) -> list[str]:
        """Reference designators that have asset events."""

    # -- data-quality records (annotations, QARTOD tests, legacy QC parameters) -----------------

    def add_quality_records(self, kind: str, records: Iterable[Mapping[str, Any]]) -> list[int]:
        """Add or replace data-quality records of one kind, atomically; returns their ids.

        ``kind`` is one of :data:`QUALITY_KINDS`. Each record is a JSON object; a record whose
        ``"id"`` is an int replaces the stored record of that id (or is added with it), one
        without an id gets the next free id (written into the stored record). What the records
        mean is :mod:`stream_engine.quality`'s business: the store keeps them as given.

        Default: the whole list of a kind kept as the asset events of the reserved name
        ``"@quality:<kind>"`` (read, merged, written back: two concurrent writers may lose one
        update, and :meth:`asset_refdeses` lists the reserved names). A backend overrides both
        quality methods with a table of its own (the embedded store does) to avoid that.

        Raises
        ------
        ValueError
            For an unknown kind, a record that is not a JSON object, or an ``id`` that is not a
            non-negative int.
        """
        stored = {int(r["id"]): r for r in self.quality_records(kind)}
        merged, ids = merge_quality_records(stored, records)
        self.put_asset_events(f"@quality:{kind}", [merged[i] for i in sorted(merged)])
        return ids

    def quality_records(self, kind: str) -> list[dict[str, Any]]:
        """Every stored data-quality record of ``kind``, by id (see :meth:`add_quality_records`)."""
        check_quality_kind(kind)
        return self.asset_events(f"@quality:{kind}")

    # -- export jobs -------------------------------------------------------------------------
    # Asynchronous export jobs (stream_engine.jobs) keep their state here so that every server
    # node sharing the store answers for every job. A record is a JSON-serialisable dict with at
    # least "id", "state" ("queued", "running", "complete", "failed") and "created" (Unix
    # seconds); the rest is the job module's business and is stored as given. Records are few
    # and small; a backend may keep them apart from stream data, and writing them must not move
    # the change token that caches of computed values are keyed by. The defaults raise
    # NotImplementedError: a backend without them serves everything but /jobs.

    def put_job(self, job_id: str, record: Mapping[str, Any]) -> None:
        """Create or replace the record of job ``job_id``."""
        raise NotImplementedError(f"the {self.backend} store keeps no export jobs")

    def job(self, job_id: str) -> dict[str, Any] | None:
        """The record of job ``job_id``, ``None`` if there is none."""
        raise NotImplementedError(f"the {self.backend} store keeps no export jobs")

    def update_job(self, job_id: str, changes: Mapping[str, Any]) -> dict[str, Any] | None:
        """Merge ``changes`` into an existing record atomically; the new record, or ``None``
        (and nothing written) when the job does not exist (e.g. it was cancelled)."""
        raise NotImplementedError(f"the {self.backend} store keeps no export jobs")

    def jobs(self) -> list[dict[str, Any]]:
        """Every job record, oldest first."""
        raise NotImplementedError(f"the {self.backend} store keeps no export jobs")

    def delete_job(self, job_id: str) -> bool:
        """Remove a job record; whether it existed."""
        raise NotImplementedError(f"the {self.backend} store keeps no export jobs")

    def claim_job(self, limit: int, changes: Mapping[str, Any]) -> dict[str, Any] | None:
        """Atomically, if fewer than ``limit`` jobs are ``running``: merge ``changes`` into the
        oldest ``queued`` record, make it ``running`` and return it; else ``None``. Two nodes
        claiming at once never get the same job (Cassandra: a lightweight transaction)."""
        raise NotImplementedError(f"the {self.backend} store keeps no export jobs")

    # -- lifecycle ---------------------------------------------------------------------------

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections and file handles. Default: nothing to release."""

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def asset_events_json(refdes: str, events: Sequence[Mapping[str, Any]]) -> str:
    """The JSON text a backend stores for :meth:`Store.put_asset_events`, after checking its
    arguments.

    Raises
    ------
    ValueError
        ``refdes`` is not a non-empty string, an event is not a mapping, or an event cannot be
        written as JSON.
    """
    if not isinstance(refdes, str) or not refdes:
        raise ValueError(f"refdes must be a non-empty string, got {refdes!r}")
    bad = next((e for e in events if not isinstance(e, Mapping)), None)
    if bad is not None:
        raise ValueError(f"asset events must be JSON objects (mappings), got {bad!r} for {refdes}")
    try:
        return json.dumps([dict(e) for e in events], allow_nan=True)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"asset events of {refdes} cannot be stored as JSON: {exc}") from exc


def check_quality_kind(kind: str) -> None:
    if kind not in QUALITY_KINDS:
        raise ValueError(f"unknown kind of data-quality record {kind!r}; expected one of {QUALITY_KINDS}")


def merge_quality_records(
    stored: dict[int, dict[str, Any]], records: Iterable[Mapping[str, Any]]
) -> tuple[dict[int, dict[str, Any]], list[int]]:
    """``stored`` (by id) with ``records`` added or replacing by id; and the ids of ``records``.

    Raises
    ------
    ValueError
        For a record that is not a mapping or whose ``id`` is not a non-negative int.
    """
    merged = dict(stored)
    ids: list[int] = []
    next_id = max(merged, default=0) + 1
    for record in records:
        if not isinstance(record, Mapping):
            raise ValueError(f"a data-quality record must be a JSON object, got {record!r}")
        rid = record.get("id")
        if rid is None:
            rid = next_id
        elif isinstance(rid, bool) or not isinstance(rid, int) or rid < 0:
            raise ValueError(f"a data-quality record's id must be a non-negative integer, got {rid!r}")
        next_id = max(next_id, rid + 1)
        merged[rid] = {**dict(record), "id": rid}
        ids.append(rid)
    return merged, ids


def wanted_columns(key: StreamKey, stored: Mapping[str, object], columns: Sequence[str] | None) -> list[str]:
    """The columns a read returns: time, deployment, then ``columns`` (every stored one if ``None``).

    ``stored`` maps the stream's stored column names to whatever the backend keeps for them.

    Raises
    ------
    NotFound
        If the stream has no column of that name.
    """
    if columns is None:
        return list(stored) if stored else [TIME, DEPLOYMENT]
    names = [TIME, DEPLOYMENT, *(c for c in columns if c not in (TIME, DEPLOYMENT))]
    missing = [c for c in names if c not in stored and c not in (TIME, DEPLOYMENT)]
    if missing:
        raise NotFound(
            f"stream {key} has no column {missing[0]!r}; stored columns: "
            + (", ".join(sorted(stored)) or "none (the stream holds no data)"))
    return list(dict.fromkeys(names))
