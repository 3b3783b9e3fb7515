"""Keyspace administration: the CQL of the whole layout, creating what is missing, checking it.

Used by ``stream-engine cassandra schema [--apply | --check]`` and by ``stream-engine serve``,
which refuses to start on a keyspace whose layout does not match the preload dictionary.
"""

from __future__ import annotations

from typing import Any

from stream_engine.store.cassandra import CassandraStore
from stream_engine.store.cassandra_schema import dictionary_tables, schema_cql, schema_differences

__all__ = ["apply_schema", "schema_problems", "schema_statements"]


def schema_statements(store: CassandraStore, preload: Any) -> list[str]:
    """Every CQL statement of the layout for ``preload`` (keyspace, store tables, stream tables)."""
    return schema_cql(store.keyspace, store.replication, dictionary_tables(preload))


def schema_problems(store: CassandraStore, preload: Any) -> list[str]:
    """How the cluster's keyspace differs from the layout (empty when it matches)."""
    with store.conn.errors("read the schema"):
        store.conn.cluster.refresh_schema_metadata()
        meta = store.conn.cluster.metadata.keyspaces.get(store.keyspace)
    return schema_differences(meta, store.keyspace, dictionary_tables(preload))


def apply_schema(store: CassandraStore, preload: Any) -> list[str]:
    """Create the keyspace and every missing table; returns the statements run (``IF NOT EXISTS``,
    so tables that exist are left as they are, differences included)."""
    statements = schema_statements(store, preload)
    with store.conn.errors("create the schema"):
        store.conn.cluster.refresh_schema_metadata()
        meta = store.conn.cluster.metadata.keyspaces.get(store.keyspace)
        have = set(meta.tables) if meta is not None else set()
        run = [s for s in statements if meta is None or _table_name(s) not in (None, *have)]
        session = store.conn.session()
        for statement in run:
            session.execute(statement, timeout=max(store.conn.query_timeout, 60.0))
    store.add_missing_index_columns()  # a partition index made before the chunk versions
    store.conn.forget_prepared()
    return run


def _table_name(statement: str) -> str | None:
    words = statement.split()
    if words[:2] != ["CREATE", "TABLE"]:
        return None
    return words[5].split(".", 1)[1].split("(")[0]
