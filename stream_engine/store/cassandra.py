"""The Cassandra backend: the OOI keyspace layout behind the :class:`~stream_engine.store.base.Store` interface.

Layout (``cassandra_schema.py``): one table per stream, one row per record, partition key
``(subsite, node, sensor, bin)`` and clustering ``method, time, deployment, id``; the partition
index, stream columns, assets and change generations in tables of their own.

Reads take the bins the partition index selects and query them concurrently with a prepared
statement naming only the columns asked for (and, for a time range, the clustering range), and
decode every page straight into numpy (``cassandra_columnar.py``). Writes read the keys already
in each bin touched (``time, deployment, id``: one fixed-width page each), reuse the ``id`` of a
record they replace so an upsert by ``(time, deployment)`` never duplicates a row, send the rows
as unlogged batches to one partition each (atomic and isolated per partition, so a record is
never half-written), and only then update the partition index and the stream's generation. An
interrupted write is resumed by writing the same records again: the ids are the same and the
index of each bin is recomputed from the keys stored.

Unlike the embedded store, a write spanning several bins is not atomic as a whole: after a
failure some bins may hold the new records before the partition index counts them.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
from cassandra.query import BatchStatement, BatchType, BoundStatement, PreparedStatement

from stream_engine.errors import NotFound
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
    asset_events_json,
)
from stream_engine.store.cassandra_schema import (
    KEY_COLUMNS,
    METADATA_TABLES,
    TableSpec,
    check_identifier,
    cql_type,
    keyspace_cql,
    metadata_cql,
    quote,
    stream_table_cql,
)
from stream_engine.store.cassandra_session import CassandraConnection
from stream_engine.store.cassandra_snapshot import CassandraSnapshot
from stream_engine.store.cassandra_values import NIL_UUID, column_from_pages, serialize, uuids
from stream_engine.store.records import (
    DEPLOYMENT_INFO,
    TIME_INFO,
    conform,
    fill_array,
    normalize,
    to_output,
)

__all__ = ["CassandraStore", "from_settings"]

_UUID_EPOCH = 0x01B21DD213814000  # 1970-01-01 in 100 ns intervals since 1582-10-15 (the UUID clock)
_KEY = "subsite=? AND node=? AND sensor=? AND method=? AND stream=?"
_ROW_KEY = "subsite=? AND node=? AND sensor=? AND bin=? AND method=?"


def _key_params(key: StreamKey) -> tuple[str, str, str, str, str]:
    if not isinstance(key, StreamKey):
        raise TypeError(f"key must be a StreamKey, got {key!r}")
    return key.subsite, key.node, key.sensor, key.method, key.stream


def _column_info(name: str, dtype: str, width: int | None) -> ColumnInfo:
    return ColumnInfo(name, dtype, () if width is None else (width,))


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
    """

    backend = "cassandra"

    def __init__(self, connection: CassandraConnection, *, replication: Mapping[str, Any] | None = None,
                 batch_rows: int = 500) -> None:
        self.conn = connection
        self.keyspace = check_identifier(connection.keyspace, "keyspace")
        self.replication = dict(replication or {"class": "SimpleStrategy", "replication_factor": 1})
        self.batch_rows = int(batch_rows)
        self._ready = False
        self._schema_lock = threading.Lock()

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
        with self._schema_lock, self.conn.errors("create the keyspace"):
            meta = self.conn.cluster.metadata.keyspaces.get(self.keyspace)
            if meta is None or any(name not in meta.tables for name in METADATA_TABLES):
                session = self.conn.session()
                session.execute(keyspace_cql(self.keyspace, self.replication))
                for statement in metadata_cql(self.keyspace):
                    session.execute(statement)
            self._ready = True

    def _table(self, name: str) -> Any:
        meta = self.conn.cluster.metadata.keyspaces.get(self.keyspace)
        return None if meta is None else meta.tables.get(name)

    def _ensure_table(self, key: StreamKey, infos: Mapping[str, ColumnInfo]) -> None:
        """Create the stream's table, or add columns it lacks; ``ValueError`` (before any change)
        if a column exists with another CQL type than ``infos`` needs."""
        name = check_identifier(key.stream, "stream name")
        if name in METADATA_TABLES:
            raise ValueError(f"stream name {name!r} is one of the store's own tables; choose another")
        wanted = {c: cql_type(i) for c, i in infos.items() if c not in (TIME, DEPLOYMENT)}
        clash = [c for c in wanted if c in KEY_COLUMNS]
        if clash:
            raise ValueError(f"column {clash[0]!r} is a key column of the OOI layout; rename it")
        with self._schema_lock, self.conn.errors(f"update the table of stream {key}"):
            table = self._table(name)
            if table is None:
                self.conn.session().execute(stream_table_cql(self.keyspace, TableSpec(name, wanted)))
                self.conn.forget_prepared()
                return
            have = {c: str(m.cql_type).lower() for c, m in table.columns.items()}
            for column, kind in wanted.items():
                if column in have and have[column] != kind:
                    raise ValueError(
                        f"column {column!r} of stream table {self.keyspace}.{name} is {have[column]}; "
                        f"cannot store {infos[column].dtype} values in it (they need {kind})"
                    )
            missing = [c for c in wanted if c not in have]
            for column in missing:
                self.conn.session().execute(
                    f"ALTER TABLE {self.keyspace}.{name} ADD {quote(column)} {wanted[column]}")
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
        params = _key_params(key)
        self.ensure_schema()
        rows = self.conn.execute(
            self._q(f"SELECT bin, count, first, last FROM {{ks}}.partition_metadata WHERE {_KEY}"),
            params, doing=f"read the partition index of {key}")
        return [Partition(int(b), int(c), f, la) for b, c, f, la in rows if c]

    def _stored(self, key: StreamKey) -> tuple[int | None, dict[str, ColumnInfo]]:
        params = _key_params(key)
        self.ensure_schema()
        found = self.conn.execute(
            self._q(f"SELECT bin_seconds FROM {{ks}}.stream_metadata WHERE {_KEY}"), params,
            doing=f"read the metadata of {key}")
        if not found:
            return None, {}
        rows = self.conn.execute(
            self._q(f"SELECT name, dtype, width FROM {{ks}}.stream_columns WHERE {_KEY}"), params,
            doing=f"read the columns of {key}")
        return int(found[0][0]), {n: _column_info(n, d, w) for n, d, w in rows}

    def columns(self, key: StreamKey) -> dict[str, ColumnInfo]:
        # docstring inherited
        return self._stored(key)[1]

    def generation(self, key: StreamKey) -> Any:
        """The stream's write generation (a ``timeuuid`` every write sets), ``None`` before any write."""
        self.ensure_schema()
        rows = self.conn.execute(
            self._q(f"SELECT generation FROM {{ks}}.stream_metadata WHERE {_KEY}"), _key_params(key),
            doing=f"read the generation of {key}")
        return rows[0][0] if rows else None

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
        return self.read_with(key, columns, self.partitions(key), self._stored(key)[1],
                              time_range=time_range, index_range=index_range)

    def read_with(
        self,
        key: StreamKey,
        columns: Sequence[str] | None,
        parts: list[Partition],
        stored: dict[str, ColumnInfo],
        *,
        time_range: TimeRange | None = None,
        index_range: IndexRange | None = None,
    ) -> dict[str, np.ndarray]:
        """:meth:`read` with the partition index and stored columns already known (snapshots)."""
        if time_range is not None and index_range is not None:
            raise ValueError("give at most one of time_range and index_range")
        if isinstance(columns, str):
            raise TypeError(f"columns must be a sequence of names, not the string {columns!r}")
        wanted = _wanted(key, stored, columns)
        if not stored:
            return {TIME: np.empty(0, np.float64), DEPLOYMENT: np.empty(0, np.int32)}
        infos = [stored[name] for name in wanted]
        if index_range is not None:
            bins, skip = _index_bins(parts, index_range)
            out = self._read_bins(key, bins, infos, None)
            stop = index_range.stop - skip
            picked = slice(index_range.start - skip, max(stop, 0), index_range.step)
            out = {n: v[picked] for n, v in out.items()}
        else:
            bins = [p.bin for p in parts if time_range is None or time_range.overlaps(p.first, p.last)]
            out = self._read_bins(key, bins, infos, time_range)
        return {name: to_output(out[name]) for name in wanted}

    def _read_bins(self, key: StreamKey, bins: list[int], infos: list[ColumnInfo],
                   time_range: TimeRange | None) -> dict[str, np.ndarray]:
        names = ", ".join(quote(i.name) if i.name not in KEY_COLUMNS else i.name for i in infos)
        cql = f"SELECT {names} FROM {self.keyspace}.{key.stream} WHERE {_ROW_KEY}"
        base = (key.subsite, key.node, key.sensor)
        params: list[tuple[Any, ...]]
        if time_range is not None:
            cql += " AND time >= ? AND time < ?"
            params = [(*base, b, key.method, float(time_range.start), float(time_range.stop)) for b in bins]
        else:
            params = [(*base, b, key.method) for b in bins]
        if not bins:
            return {i.name: fill_array(i, 0) for i in infos}
        with self.conn.errors(f"read {key}"):
            statement = self.conn.prepare(cql, columnar=True)
        pages = [p for per_bin in self.conn.column_pages(statement, params, doing=f"read {key}") for p in per_bin]
        out = {i.name: column_from_pages([p[i.name] for p in pages], i) for i in infos}
        time, dep = out[TIME], out[DEPLOYMENT]
        if len(time) > 1:
            dup = (time[1:] == time[:-1]) & (dep[1:] == dep[:-1])
            if dup.any():  # one key stored under two ids (written by another tool): keep the first
                keep = np.concatenate([[True], ~dup])
                out = {n: v[keep] for n, v in out.items()}
        return out

    # -- writing -----------------------------------------------------------------------------------

    def write(self, key: StreamKey, records: Mapping[str, np.ndarray], *, bin_seconds: int) -> WriteResult:
        # docstring inherited
        if isinstance(bin_seconds, bool) or not isinstance(bin_seconds, int | np.integer) or bin_seconds < 1:
            raise ValueError(f"bin_seconds must be a positive integer number of seconds, got {bin_seconds!r}")
        params = _key_params(key)
        batch = normalize(records)
        if not len(batch):
            return WriteResult()
        bin_seconds = int(bin_seconds)
        stored_bins, stored = self._stored(key)
        if stored_bins is not None and stored_bins != bin_seconds:
            raise ValueError(
                f"stream {key} is stored in bins of {stored_bins} s; cannot write with bin_seconds="
                f"{bin_seconds} (use {stored_bins})")
        columns = dict(batch.columns)
        infos = {**batch.infos, TIME: TIME_INFO, DEPLOYMENT: DEPLOYMENT_INFO}
        after = dict(stored)
        for name in columns:
            if name in stored:
                columns[name] = conform(name, columns[name], infos[name], stored[name], f"stream {key}")
                if infos[name].shape and infos[name].shape[0] > stored[name].shape[0]:
                    after[name] = ColumnInfo(name, stored[name].dtype, infos[name].shape)
            else:
                after[name] = infos[name]
        self._ensure_table(key, after)
        self._record_columns(key, bin_seconds, stored, after)
        bins = (np.floor(columns[TIME] / bin_seconds) * bin_seconds).astype(np.int64)
        edges = [0, *(np.flatnonzero(bins[1:] != bins[:-1]) + 1).tolist(), len(bins)]
        segments = [(int(bins[lo]), lo, hi) for lo, hi in zip(edges[:-1], edges[1:], strict=True)]
        existing = self._existing_keys(key, [b for b, _, _ in segments])
        insert = self._insert_statement(key, list(after))
        batches, index_rows = [], []
        inserted = replaced = 0
        for (bin_, lo, hi), (old_t, old_d, old_ids) in zip(segments, existing, strict=True):
            t, d = columns[TIME][lo:hi], columns[DEPLOYMENT][lo:hi]
            ids, n_replaced = _record_ids(t, d, old_t, old_d, old_ids)
            inserted += hi - lo - n_replaced
            replaced += n_replaced
            values = [serialize(columns[n][lo:hi] if n in columns else fill_array(after[n], hi - lo), after[n])
                      for n in after if n not in (TIME, DEPLOYMENT)]
            prefix = (*(v.encode() for v in (key.subsite, key.node, key.sensor)),
                      int(bin_).to_bytes(8, "big", signed=True), key.method.encode())
            rows = zip(serialize(t, TIME_INFO), serialize(d, DEPLOYMENT_INFO), [u.bytes for u in ids], *values,
                       strict=True)
            batches.extend(_batches(insert, [prefix + row for row in rows], self.batch_rows,
                                    self.conn.consistency))
            first = min(float(t[0]), float(old_t.min())) if len(old_t) else float(t[0])
            last = max(float(t[-1]), float(old_t.max())) if len(old_t) else float(t[-1])
            index_rows.append((*params, bin_, len(old_t) + hi - lo - n_replaced, first, last))
        self.conn.concurrent_statements(batches, doing=f"write {key}")
        index = self._q(f"UPDATE {{ks}}.partition_metadata SET count=?, first=?, last=? WHERE {_KEY} AND bin=?")
        with self.conn.errors(f"update the partition index of {key}"):
            statement = self.conn.prepare(index)
        self.conn.concurrent(statement, [(c, f, la, *p, b) for *p, b, c, f, la in index_rows],
                             doing=f"update the partition index of {key}")
        self._bump(params, key)
        return WriteResult(inserted, replaced, tuple(b for b, _, _ in segments))

    def _record_columns(self, key: StreamKey, bin_seconds: int, stored: dict[str, ColumnInfo],
                        after: dict[str, ColumnInfo]) -> None:
        params = _key_params(key)
        self.conn.execute(self._q(f"UPDATE {{ks}}.stream_metadata SET bin_seconds=? WHERE {_KEY}"),
                          (bin_seconds, *params), doing=f"record stream {key}")
        changed = [(pos, info) for pos, (name, info) in enumerate(after.items()) if stored.get(name) != info]
        cql = self._q(f"UPDATE {{ks}}.stream_columns SET name=?, dtype=?, width=? WHERE {_KEY} AND position=?")
        with self.conn.errors(f"record the columns of {key}"):
            statement = self.conn.prepare(cql)
        self.conn.concurrent(statement, [(i.name, i.dtype, i.shape[0] if i.shape else None, *params, pos)
                                         for pos, i in changed], doing=f"record the columns of {key}")

    def _existing_keys(self, key: StreamKey, bins: list[int]) -> list[tuple[np.ndarray, np.ndarray, Any]]:
        cql = f"SELECT time, deployment, id FROM {self.keyspace}.{key.stream} WHERE {_ROW_KEY}"
        with self.conn.errors(f"read the keys of {key}"):
            statement = self.conn.prepare(cql, columnar=True)
        base = (key.subsite, key.node, key.sensor)
        found = self.conn.column_pages(statement, [(*base, b, key.method) for b in bins], doing=f"read the keys of {key}")
        out = []
        for pages in found:
            t = column_from_pages([p[TIME] for p in pages], TIME_INFO)
            d = column_from_pages([p[DEPLOYMENT] for p in pages], DEPLOYMENT_INFO)
            ids = [u for p in pages for u in uuids(p["id"])]
            out.append((t, d, ids))
        return out

    def _insert_statement(self, key: StreamKey, names: list[str]) -> Any:
        data = [n for n in names if n not in (TIME, DEPLOYMENT)]
        cols = ", ".join([*KEY_COLUMNS, *(quote(n) for n in data)])
        marks = ", ".join("?" * (len(KEY_COLUMNS) + len(data)))
        with self.conn.errors(f"prepare the insert of {key}"):
            return self.conn.prepare(f"INSERT INTO {self.keyspace}.{key.stream} ({cols}) VALUES ({marks})")

    def _bump(self, params: tuple[str, ...], key: StreamKey) -> None:
        self.conn.execute(self._q(f"UPDATE {{ks}}.stream_metadata SET generation=now() WHERE {_KEY}"), params,
                          doing=f"record the write to {key}")
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
        self.conn.execute(self._q("UPDATE {ks}.store_state SET generation=now() WHERE id=0"),
                          doing="record the commit")
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


def _batches(insert: PreparedStatement, rows: list[tuple[bytes, ...]], size: int, consistency: int) -> list[BatchStatement]:
    """Unlogged batches of at most ``size`` rows (of one partition) of already serialized values."""
    out = []
    for start in range(0, len(rows), size):
        batch = BatchStatement(batch_type=BatchType.UNLOGGED, consistency_level=consistency)
        batch.is_idempotent = True  # the same rows with the same ids: safe to send again
        first = BoundStatement(insert)
        first.values = list(rows[start])
        batch.add(first)  # sets the routing key (the partition) from the first row
        for row in rows[start + 1 : start + size]:
            batch._add_statement_and_params(True, insert.query_id, row)
        out.append(batch)
    return out


def _wanted(key: StreamKey, stored: dict[str, ColumnInfo], columns: Sequence[str] | None) -> list[str]:
    if columns is None:
        return list(stored) if stored else [TIME, DEPLOYMENT]
    names = [TIME, DEPLOYMENT, *(c for c in columns if c not in (TIME, DEPLOYMENT))]
    missing = [c for c in names if c not in stored and c not in (TIME, DEPLOYMENT)]
    if missing:
        raise NotFound(
            f"stream {key} has no column {missing[0]!r}; stored columns: "
            + (", ".join(sorted(stored)) or "none (the stream holds no data)"))
    return list(dict.fromkeys(names))


def _index_bins(parts: list[Partition], index_range: IndexRange) -> tuple[list[int], int]:
    """Bins holding records ``index_range`` selects, and the index of the first record of the first one."""
    bins, skip, offset = [], None, 0
    for p in parts:
        if offset + p.count > index_range.start and offset < index_range.stop:
            bins.append(p.bin)
            skip = offset if skip is None else skip
        offset += p.count
    return bins, (skip or 0)


def _record_ids(t: np.ndarray, d: np.ndarray, old_t: np.ndarray, old_d: np.ndarray,
                old_ids: list[Any]) -> tuple[list[Any], int]:
    """The ``id`` of each record to write: the stored one where the key exists, else the nil UUID."""
    ids: list[Any] = [NIL_UUID] * len(t)
    if not len(old_t):
        return ids, 0
    stored = {(a, b): i for a, b, i in zip(old_t.tolist(), old_d.tolist(), old_ids, strict=True)}
    replaced = 0
    for j, k in enumerate(zip(t.tolist(), d.tolist(), strict=True)):
        found = stored.get(k)
        if found is not None:
            ids[j] = found
            replaced += 1
    return ids, replaced


def token_of(generation: Any) -> ChangeToken:
    """A ``timeuuid`` generation as a :class:`ChangeToken` (its 100 ns clock; ``None``: never written)."""
    if generation is None:
        return NEVER_WRITTEN
    return ChangeToken(int(generation.time), (generation.time - _UUID_EPOCH) / 1e7)


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
                          batch_rows=settings.CASSANDRA_BATCH_ROWS)
