"""The Cassandra store: the conformance suite on a real node, plus what only Cassandra does."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from cassandra_node import CassandraNode
from store_suite import DAY, KEY, T0, StoreSuite, frame

from stream_engine.errors import StoreUnavailable
from stream_engine.store.base import IndexRange, StreamKey, TimeRange
from stream_engine.store.cassandra import CassandraStore
from stream_engine.store.cassandra_schema import METADATA_TABLES
from stream_engine.store.cassandra_session import CassandraConnection

pytestmark = pytest.mark.cassandra


def empty_keyspace(store: CassandraStore) -> None:
    """Drop the stream tables and truncate the store's own tables (faster than a new keyspace)."""
    session = store.conn.session()
    tables = store.conn.cluster.metadata.keyspaces[store.keyspace].tables
    for name in list(tables):
        if name in METADATA_TABLES:
            session.execute(f"TRUNCATE {store.keyspace}.{name}")
        else:
            session.execute(f"DROP TABLE {store.keyspace}.{name}")
    store.conn.forget_prepared()


class TestCassandraStore(StoreSuite):
    @pytest.fixture
    def store(self, cassandra_node: CassandraNode):
        store = cassandra_node.store("suite")
        store.ensure_schema()
        empty_keyspace(store)
        yield store
        store.close()

    def test_change_token_moves_on_with_every_commit(self, store) -> None:
        super().test_change_token_moves_on_with_every_commit(store)
        before = store.change_token()
        store.put_asset_events("CE01ISSM-MFD37-03-CTDBPC000", [])
        assert store.change_token() != before


class TestCassandraStoreSmallBatchesAndPages(TestCassandraStore):
    """The same suite with 2-row batches and 3-row pages, so every path crosses batch and page ends."""

    @pytest.fixture
    def store(self, cassandra_node: CassandraNode):
        conn = CassandraConnection(cassandra_node.hosts, cassandra_node.port, keyspace="suite_small",
                                   consistency="ONE", fetch_size=3, concurrency=2)
        store = CassandraStore(conn, batch_rows=2)
        store.ensure_schema()
        empty_keyspace(store)
        yield store
        store.close()
