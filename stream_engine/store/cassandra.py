"""The Cassandra backend: the OOI keyspace layout behind the :class:`~stream_engine.store.base.Store` interface.

Layout (``cassandra_schema.py``): one table per stream, one row per record, partition key
``(subsite, node, sensor, bin)`` and clustering ``method, time, deployment, id``; the partition
index, stream columns, assets and change generations in tables of their own.

Beside the OOI rows, every bin Stream Engine writes is kept as **column chunks**
(``cassandra_chunks.py``): a few large cells per column, made visible by switching the bin's
partition-index row to the new chunk version. Reads use the chunks where a bin has them and the
rows elsewhere (a keyspace written by OOI's tools), so either kind of keyspace is served as it is.

This module holds the store class: the partition index, columns, change tokens and snapshots,
assets. Its helpers live beside it, one job each: ``cassandra_tables.py`` (stream tables created
on demand, row keys, row batches, index bins), ``cassandra_writes.py`` (checking a write, then
the bulk path of ``cassandra_bulk.py``: merge, chunk version, rows, switch), ``cassandra_chunk_reads.py``
(per-bin dispatch), ``cassandra_reads.py`` (row bins queried concurrently into numpy),
``cassandra_snapshot.py`` (the one-state view), ``cassandra_session.py`` (the connection),
``cassandra_jobs.py`` (export-job records, lightweight transactions), ``cassandra_quality.py``
(annotations, QARTOD tests, QC records), ``cassandra_msgpack.py`` (OOI's msgpack array blobs),
``cassandra_reindex.py`` (indexing a keyspace written by OOI's tools), ``cassandra_rows.py``
(the OOI rows of chunk bins: which lag, writing them) and ``cassandra_deriver.py`` (the server's
background row deriver, one per cluster under a lease).

A write spanning several bins makes them visible together: their new versions are switched in
one conditional batch on the stream's partition-index partition, which Cassandra applies whole
and in isolation, so a reader sees every bin of the write or none, and after a failure either
all of them show the new records or none does (writing the same records again completes it).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from stream_engine.store.base import (
    QUALITY_KINDS,
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
)
from stream_engine.store.cassandra_chunk_reads import read_stream
from stream_engine.store.cassandra_chunks import INDEX_COLUMNS, BinCache, BinState
from stream_engine.store.cassandra_jobs import CassandraJobTable
from stream_engine.store.cassandra_msgpack import column_info
from stream_engine.store.cassandra_quality import CassandraQualityTables
from stream_engine.store.cassandra_rows import (
    ROWS_BACKGROUND,
    ROWS_MODES,
    ROWS_WITH_INGEST,
    derive_rows,
)
from stream_engine.store.cassandra_schema import (
    METADATA_TABLES,
    check_identifier,
    keyspace_cql,
    metadata_cql,
)
from stream_engine.store.cassandra_session import CassandraConnection
from stream_engine.store.cassandra_snapshot import CassandraSnapshot, token_of
from stream_engine.store.cassandra_tables import KEY_WHERE, generation_update, key_params
from stream_engine.store.cassandra_writes import write_records

__all__ = ["CassandraStore", "from_settings"]


class CassandraStore(Store):
    """A :class:`~stream_engine.store.base.Store` in a Cassandra keyspace (see the module docstring).

    Parameters
    ----------
    connection
        The cluster connection (contact points, keyspace, consistency, timeouts, paging).
    replication
        Replication map used when the keyspace has to be created.
    batch_rows
        Most rows in one unlogged batch (all to one partition).
    rows
        When the OOI rows of written records are written (``CASSANDRA_ROWS``, see
        :mod:`~stream_engine.store.cassandra_rows`): ``"background"`` and ``"off"`` leave them
        pending (derived by the server's row deriver, or :meth:`derive_rows`), ``"with-ingest"``
        writes them in the same write. Reads use the column chunks either way.
    """

    backend = "cassandra"

    def __init__(self, connection: CassandraConnection, *, replication: Mapping[str, Any] | None = None,
                 batch_rows: int = 500, rows: str = ROWS_BACKGROUND) -> None:
        if rows not in ROWS_MODES:
            raise ValueError(f"rows must be one of {', '.join(map(repr, ROWS_MODES))}, not {rows!r}")
        self.conn = connection
        self.keyspace = check_identifier(connection.keyspace, "keyspace")
        self.replication = dict(replication or {"class": "SimpleStrategy", "replication_factor": 1})
        self.batch_rows = int(batch_rows)
        self.rows = rows
        #: Whether a write upserts its records' OOI rows itself.
        self.write_rows = rows == ROWS_WITH_INGEST
        self._ready = False
        self.schema_lock = threading.Lock()  # table creation and changes, one at a time
        self._jobs = CassandraJobTable(connection, self.keyspace)
        self._quality = CassandraQualityTables(connection, self.keyspace)

    def __repr__(self) -> str:
        return f"CassandraStore({self.conn.describe()!r}, keyspace={self.keyspace!r})"

    def close(self) -> None:
        # docstring inherited
        self.conn.close()

    # -- schema ------------------------------------------------------------------------------------

    def _q(self, cql: str) -> str:
        return cql.replace("{ks}", self.keyspace)

    def ensure_schema(self) -> None:
        """Create the keyspace and the store's own tables if any is missing (once per process)."""
        if self._ready:
            return
        with self.schema_lock, self.conn.errors("create the keyspace"):
            meta = self.conn.cluster.metadata.keyspaces.get(self.keyspace)
            if meta is None or any(name not in meta.tables for name in METADATA_TABLES):
                session = self.conn.session()
                session.execute(keyspace_cql(self.keyspace, self.replication))
                for statement in metadata_cql(self.keyspace):
                    session.execute(statement)
            self.add_missing_index_columns()
            self._ready = True
        self._adopt_quality_asset_events()

    def _adopt_quality_asset_events(self) -> None:
        """Move data-quality records an earlier version kept as the asset events ``@quality:<kind>``
        into their tables (once per process: three single-row reads when there are none)."""
        for kind in QUALITY_KINDS:
            name = f"@quality:{kind}"
            records = self.asset_events(name)
            if records:
                self._quality.add(kind, records)
            if records or name in self._asset_rows(name):
                self.conn.execute(self._q("DELETE FROM {ks}.asset_events WHERE refdes=?"), (name,),
                                  doing=f"remove the moved records {name}")
                self._record_commit()

    def _asset_rows(self, refdes: str) -> list[str]:
        rows = self.conn.execute(self._q("SELECT refdes FROM {ks}.asset_events WHERE refdes=?"), (refdes,),
                                 doing=f"read the asset record {refdes}")
        return [r[0] for r in rows]

    def add_missing_index_columns(self) -> None:
        """Add the chunk-version columns to a ``partition_metadata`` made before they existed."""
        with self.conn.errors("update the partition index table"):
            self.conn.cluster.refresh_table_metadata(self.keyspace, "partition_metadata")
            meta = self.conn.cluster.metadata.keyspaces[self.keyspace].tables["partition_metadata"]
            missing = [c for c in INDEX_COLUMNS if c not in meta.columns]
            for column in missing:
                self.conn.session().execute(
                    f"ALTER TABLE {self.keyspace}.partition_metadata ADD {column} {INDEX_COLUMNS[column]}")
            if missing:
                self.conn.forget_prepared()

    # -- streams and the partition index -----------------------------------------------------------

    def streams(self) -> list[StreamCoverage]:
        # docstring inherited
        self.ensure_schema()
        rows = self.conn.execute(
            self._q("SELECT subsite, node, sensor, method, stream, count, first, last FROM {ks}.partition_metadata"),
            doing="list the streams")
        totals: dict[StreamKey, list[float]] = {}
        for *fields, count, first, last in rows:
            if not count:
                continue
            entry = totals.setdefault(StreamKey(*fields), [0, first, last])
            entry[0] += count
            entry[1], entry[2] = min(entry[1], first), max(entry[2], last)
        return sorted((StreamCoverage(k, int(c), f, la) for k, (c, f, la) in totals.items()), key=lambda s: s.key)

    def partitions(self, key: StreamKey) -> list[Partition]:
        # docstring inherited
        return [s.partition for s in self.bin_states(key)]

    def bin_states(self, key: StreamKey) -> list[BinState]:
        """The partition index of ``key`` with each bin's chunk versions (one single-partition read)."""
        return self.index_state(key)[1]

    def index_state(self, key: StreamKey) -> tuple[Any, list[BinState]]:
        """The generation the partition index of ``key`` holds (``None``: not written since the
        index kept one) and the index itself, from one single-partition read: a write switches
        its bins and moves that generation in one batch, so the two always belong together."""
        params = key_params(key)
        self.ensure_schema()
        rows = self.conn.execute(
            self._q("SELECT bin, count, first, last, chunk_version, rows_version, generation "
                    f"FROM {{ks}}.partition_metadata WHERE {KEY_WHERE}"),
            params, doing=f"read the partition index of {key}")
        generation = rows[0][-1] if rows else None
        return generation, [BinState(Partition(int(b), int(c), f, la), v, r) for b, c, f, la, v, r, _ in rows if c]

    def stored(self, key: StreamKey) -> tuple[int | None, dict[str, ColumnInfo]]:
        """The stream's bin size (``None`` before its first write) and its stored columns."""
        params = key_params(key)
        self.ensure_schema()
        found = self.conn.execute(
            self._q(f"SELECT bin_seconds FROM {{ks}}.stream_metadata WHERE {KEY_WHERE}"), params,
            doing=f"read the metadata of {key}")
        if not found:
            return None, {}
        rows = self.conn.execute(
            self._q(f"SELECT name, dtype, width FROM {{ks}}.stream_columns WHERE {KEY_WHERE}"), params,
            doing=f"read the columns of {key}")
        return int(found[0][0]), {n: column_info(n, d, w) for n, d, w in rows}

    def columns(self, key: StreamKey) -> dict[str, ColumnInfo]:
        # docstring inherited
        return self.stored(key)[1]

    def generation(self, key: StreamKey) -> Any:
        """The stream's write generation (a ``timeuuid`` every write sets), ``None`` before any write:
        the one its partition index holds (see :meth:`index_state`), or for a stream not written
        since the index kept one, the one in ``stream_metadata``."""
        self.ensure_schema()
        for table in ("partition_metadata", "stream_metadata"):
            rows = self.conn.execute(
                self._q(f"SELECT generation FROM {{ks}}.{table} WHERE {KEY_WHERE} LIMIT 1"), key_params(key),
                doing=f"read the generation of {key}")
            if rows and rows[0][0] is not None:
                return rows[0][0]
        return None

    def stream_token(self, key: StreamKey) -> ChangeToken:
        """The stream's write generation as a :class:`ChangeToken` (one single-row read)."""
        return token_of(self.generation(key))

    def asset_token(self, refdes: str) -> ChangeToken:
        """The generation of a reference designator's asset events as a :class:`ChangeToken`."""
        self.ensure_schema()
        rows = self.conn.execute(self._q("SELECT generation FROM {ks}.asset_events WHERE refdes=?"), (refdes,),
                                 doing=f"read the asset generation of {refdes}")
        return token_of(rows[0][0] if rows else None)

    def change_token(self) -> Any:
        """The ``timeuuid`` of the last commit to the keyspace by any process (one single-row read)."""
        self.ensure_schema()
        rows = self.conn.execute(self._q("SELECT generation FROM {ks}.store_state WHERE id=0"),
                                 doing="read the change token")
        return ("cassandra", rows[0][0] if rows else None)

    @contextmanager
    def snapshot(self) -> Iterator[Store]:
        """A view reading each stream's partition index and generation once; a stream written
        during the response makes its reads fail (503, retry) rather than mix two states."""
        yield CassandraSnapshot(self)

    # -- reading -----------------------------------------------------------------------------------

    def read(
        self,
        key: StreamKey,
        columns: Sequence[str] | None = None,
        *,
        time_range: TimeRange | None = None,
        index_range: IndexRange | None = None,
    ) -> dict[str, np.ndarray]:
        # docstring inherited
        return self.read_with(key, columns, self.bin_states(key), self.stored(key)[1],
                              time_range=time_range, index_range=index_range)

    def read_with(
        self,
        key: StreamKey,
        columns: Sequence[str] | None,
        states: list[BinState],
        stored: dict[str, ColumnInfo],
        *,
        time_range: TimeRange | None = None,
        index_range: IndexRange | None = None,
        cache: BinCache | None = None,
    ) -> dict[str, np.ndarray]:
        """:meth:`read` with the partition index and stored columns already known, and the bins
        a response already read in ``cache`` (snapshots)."""
        return read_stream(self.conn, self.keyspace, key, columns, states, stored,
                           time_range=time_range, index_range=index_range, cache=cache)

    # -- writing -----------------------------------------------------------------------------------

    def write(self, key: StreamKey, records: Mapping[str, np.ndarray], *, bin_seconds: int) -> WriteResult:
        # docstring inherited
        return write_records(self, key, records, bin_seconds=bin_seconds)

    def derive_rows(self, key: StreamKey) -> int:
        """Write the OOI rows of every bin of ``key`` whose rows lag its chunks (written with
        ``rows`` other than ``"with-ingest"``); returns how many records got their rows."""
        return derive_rows(self, key)

    def record_write(self, key: StreamKey, *, switched: bool = False) -> None:
        """Move the stream's generation and the keyspace's change token on (after a write's rows and
        index). ``switched``: the batch that switched the write's bins already moved the
        generation the partition index holds (the stream's token); only ``stream_metadata``'s,
        which older versions of Stream Engine read, and the change token move here."""
        tables = ("stream_metadata",) if switched else ("partition_metadata", "stream_metadata")
        for table in tables:
            self.conn.execute(generation_update(self.keyspace, table), key_params(key),
                              doing=f"record the write to {key}")
        self._record_commit()

    def _record_commit(self) -> None:
        self.conn.execute(self._q("UPDATE {ks}.store_state SET generation=now() WHERE id=0"),
                          doing="record the commit")

    # -- assets ------------------------------------------------------------------------------------

    def put_asset_events(self, refdes: str, events: Iterable[Mapping[str, Any]]) -> int:
        # docstring inherited
        events = list(events)
        text = asset_events_json(refdes, events)
        self.ensure_schema()
        self.conn.execute(self._q("INSERT INTO {ks}.asset_events (refdes, events, generation) VALUES (?, ?, now())"), (refdes, text),
                          doing=f"store the asset events of {refdes}")
        self._record_commit()
        return len(events)

    def asset_events(self, refdes: str) -> list[dict[str, Any]]:
        # docstring inherited
        self.ensure_schema()
        rows = self.conn.execute(self._q("SELECT events FROM {ks}.asset_events WHERE refdes=?"), (refdes,),
                                 doing=f"read the asset events of {refdes}")
        events: list[dict[str, Any]] = json.loads(rows[0][0]) if rows else []
        return events

    def asset_refdeses(self) -> list[str]:
        # docstring inherited
        self.ensure_schema()
        rows = self.conn.execute(self._q("SELECT refdes FROM {ks}.asset_events"), doing="list the asset records")
        return sorted(r[0] for r in rows)

    # -- data-quality records ------------------------------------------------------------------------
    # One table per kind (cassandra_quality.py). Adding records moves the keyspace's change token
    # but no stream's: a response's version digests the records that apply to its streams.

    def add_quality_records(self, kind: str, records: Iterable[Mapping[str, Any]]) -> list[int]:
        # docstring inherited
        self.ensure_schema()
        ids = self._quality.add(kind, records)
        self._record_commit()
        return ids

    def quality_records(self, kind: str) -> list[dict[str, Any]]:
        # docstring inherited
        self.ensure_schema()
        return self._quality.records(kind)

    # -- export jobs -------------------------------------------------------------------------------
    # In the async_jobs table, changed by lightweight transactions (cassandra_jobs.py); they never
    # move the change token.

    def put_job(self, job_id: str, record: Mapping[str, Any]) -> None:
        # docstring inherited
        self.ensure_schema()
        self._jobs.put(job_id, record)

    def job(self, job_id: str) -> dict[str, Any] | None:
        # docstring inherited
        self.ensure_schema()
        return self._jobs.get(job_id)

    def update_job(self, job_id: str, changes: Mapping[str, Any]) -> dict[str, Any] | None:
        # docstring inherited
        self.ensure_schema()
        return self._jobs.update(job_id, changes)

    def jobs(self) -> list[dict[str, Any]]:
        # docstring inherited
        self.ensure_schema()
        return self._jobs.all()

    def delete_job(self, job_id: str) -> bool:
        # docstring inherited
        self.ensure_schema()
        return self._jobs.delete(job_id)

    def claim_job(self, limit: int, changes: Mapping[str, Any]) -> dict[str, Any] | None:
        # docstring inherited
        self.ensure_schema()
        return self._jobs.claim(limit, changes)


def from_settings(settings: Any) -> CassandraStore:
    """The store the settings name (``CASSANDRA_*``); connects on first use."""
    connection = CassandraConnection(
        settings.CASSANDRA_HOSTS,
        settings.CASSANDRA_PORT,
        keyspace=settings.CASSANDRA_KEYSPACE,
        consistency=settings.CASSANDRA_CONSISTENCY,
        protocol_version=settings.CASSANDRA_PROTOCOL_VERSION,
        connect_timeout=settings.CASSANDRA_CONNECT_TIMEOUT,
        query_timeout=settings.CASSANDRA_QUERY_TIMEOUT,
        concurrency=settings.CASSANDRA_CONCURRENCY,
        fetch_size=settings.CASSANDRA_FETCH_SIZE,
    )
    return CassandraStore(connection, replication=settings.CASSANDRA_REPLICATION,
                          batch_rows=settings.CASSANDRA_BATCH_ROWS, rows=settings.CASSANDRA_ROWS)
