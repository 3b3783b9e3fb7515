"""Stream tables of the Cassandra store: creating them on demand, row keys, row batches, upsert ids.

Helpers of :class:`~stream_engine.store.cassandra.CassandraStore` that know the OOI row layout
(``cassandra_schema.py``) but not the store: the ``WHERE`` clauses of a stream key and of one
partition, creating or widening a stream's table, the insert statement and its unlogged
single-partition batches of already serialized rows, and which bins an index range needs.
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Mapping

from cassandra import InvalidRequest
from cassandra.query import BatchStatement, BatchType, BoundStatement, PreparedStatement

from stream_engine.store.base import DEPLOYMENT, TIME, ColumnInfo, IndexRange, Partition, StreamKey
from stream_engine.store.cassandra_schema import (
    KEY_COLUMNS,
    METADATA_TABLES,
    TableSpec,
    check_identifier,
    cql_type,
    quote,
    stream_table_cql,
)
from stream_engine.store.cassandra_session import CassandraConnection

__all__ = [
    "KEY_WHERE",
    "ROW_WHERE",
    "ensure_stream_table",
    "generation_update",
    "index_bins",
    "insert_statement",
    "key_params",
    "row_batches",
    "write_timestamp",
]

#: A ``timeuuid``'s clock (100 ns ticks since 1582-10-15) at 1970-01-01.
_UUID_EPOCH = 0x01B21DD213814000

# The WHERE clause of one stream key in the store's own tables, and of one partition of a stream table.
KEY_WHERE = "subsite=? AND node=? AND sensor=? AND method=? AND stream=?"
ROW_WHERE = "subsite=? AND node=? AND sensor=? AND bin=? AND method=?"


def generation_update(keyspace: str, table: str = "partition_metadata") -> str:
    """The CQL moving one stream key's write generation on (bound with :func:`key_params`): the
    partition index's static ``generation``, or ``stream_metadata``'s."""
    return f"UPDATE {keyspace}.{table} SET generation=now() WHERE {KEY_WHERE}"


def key_params(key: StreamKey) -> tuple[str, str, str, str, str]:
    """The values :data:`KEY_WHERE` binds for ``key`` (``TypeError`` if it is not a :class:`StreamKey`)."""
    if not isinstance(key, StreamKey):
        raise TypeError(f"key must be a StreamKey, got {key!r}")
    return key.subsite, key.node, key.sensor, key.method, key.stream


def ensure_stream_table(conn: CassandraConnection, keyspace: str, key: StreamKey,
                        infos: Mapping[str, ColumnInfo]) -> None:
    """Create the stream's table, or add the columns it lacks.

    Raises
    ------
    ValueError
        Before any change, if the stream name or a column name cannot be used, or a column exists
        with another CQL type than ``infos`` needs.
    """
    name = check_identifier(key.stream, "stream name")
    if name in METADATA_TABLES:
        raise ValueError(f"stream name {name!r} is one of the store's own tables; choose another")
    wanted = {c: cql_type(i) for c, i in infos.items() if c not in (TIME, DEPLOYMENT)}
    clash = [c for c in wanted if c in KEY_COLUMNS]
    if clash:
        raise ValueError(f"column {clash[0]!r} is a key column of the OOI layout; rename it")
    with conn.errors(f"update the table of stream {key}"):
        meta = conn.cluster.metadata.keyspaces.get(keyspace)
        table = None if meta is None else meta.tables.get(name)
        if table is None:
            conn.session().execute(stream_table_cql(keyspace, TableSpec(name, wanted)))
            conn.forget_prepared()
            return
        have = {c: str(m.cql_type).lower() for c, m in table.columns.items()}
        for column, kind in wanted.items():
            if column in have and have[column] != kind:
                raise ValueError(
                    f"column {column!r} of stream table {keyspace}.{name} is {have[column]}; "
                    f"cannot store {infos[column].dtype} values in it (they need {kind})"
                )
        missing = [c for c in wanted if c not in have]
        for column in missing:
            try:
                conn.session().execute(f"ALTER TABLE {keyspace}.{name} ADD {quote(column)} {wanted[column]}")
            except InvalidRequest:  # another process may just have added it: then it is there
                conn.cluster.refresh_table_metadata(keyspace, name)
                if column not in conn.cluster.metadata.keyspaces[keyspace].tables[name].columns:
                    raise
        if missing:
            conn.forget_prepared()


def insert_statement(conn: CassandraConnection, keyspace: str, key: StreamKey, names: list[str], *,
                     timestamped: bool = False) -> PreparedStatement:
    """The prepared insert of one row of ``key``'s table: the key columns, then ``names`` (time and
    deployment among them are key columns); ``timestamped``: then the write timestamp (microseconds,
    serialized with :func:`write_timestamp`)."""
    data = [n for n in names if n not in (TIME, DEPLOYMENT)]
    cols = ", ".join([*KEY_COLUMNS, *(quote(n) for n in data)])
    marks = ", ".join("?" * (len(KEY_COLUMNS) + len(data)))
    using = " USING TIMESTAMP ?" if timestamped else ""
    with conn.errors(f"prepare the insert of {key}"):
        return conn.prepare(f"INSERT INTO {keyspace}.{key.stream} ({cols}) VALUES ({marks}){using}")


def write_timestamp(version: uuid.UUID) -> bytes:
    """The write timestamp (serialized bigint, microseconds since 1970) of a ``timeuuid``'s clock."""
    return struct.pack(">q", (version.time - _UUID_EPOCH) // 10)


def row_batches(insert: PreparedStatement, rows: list[tuple[bytes, ...]], size: int,
                consistency: int) -> list[BatchStatement]:
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



def index_bins(parts: list[Partition], index_range: IndexRange) -> tuple[list[int], int]:
    """Bins holding records ``index_range`` selects, and the index of the first record of the first one."""
    bins, skip, offset = [], None, 0
    for p in parts:
        if offset + p.count > index_range.start and offset < index_range.stop:
            bins.append(p.bin)
            skip = offset if skip is None else skip
        offset += p.count
    return bins, (skip or 0)
