"""The Cassandra store: the conformance suite on a real node, plus what only Cassandra does."""

from __future__ import annotations

import numpy as np
import pytest
from cassandra_node import CassandraNode
from store_suite import DAY, KEY, T0, StoreSuite, frame

from stream_engine.errors import StoreError, StoreUnavailable
from stream_engine.store.base import IndexRange, TimeRange
from stream_engine.store.cassandra import CassandraStore
from stream_engine.store.cassandra_schema import METADATA_TABLES
from stream_engine.store.cassandra_session import CassandraConnection

pytestmark = pytest.mark.cassandra


def empty_keyspace(store: CassandraStore) -> None:
    """Drop the stream tables and delete every row of the store's own tables (cheaper than
    TRUNCATE or a new keyspace, which are schema operations on every node)."""
    session = store.conn.session()
    tables = store.conn.cluster.metadata.keyspaces[store.keyspace].tables
    for name, table in list(tables.items()):
        if name not in METADATA_TABLES:
            session.execute(f"DROP TABLE {store.keyspace}.{name}")
            continue
        keys = [c.name for c in table.partition_key]
        where = " AND ".join(f"{k}=?" for k in keys)
        delete = session.prepare(f"DELETE FROM {store.keyspace}.{name} WHERE {where}")
        for row in session.execute(f"SELECT DISTINCT {', '.join(keys)} FROM {store.keyspace}.{name}"):
            session.execute(delete, row)
    store.conn.forget_prepared()


class TestCassandraStore(StoreSuite):
    @pytest.fixture
    def store(self, cassandra_node: CassandraNode):
        store = cassandra_node.store("suite")
        store.ensure_schema()
        empty_keyspace(store)
        yield store
        store.close()

    def test_snapshot_sees_one_state_while_others_write(self, store) -> None:
        """Cassandra keeps no old versions for long: a view whose stream was written meanwhile
        keeps its index and token, serves what it already fetched of its own state (small bins come
        whole), and refuses to read anything else (503, retry) rather than mix two states."""
        store.write(KEY, frame(T0 + np.arange(10), a=np.zeros(10), b=np.zeros(10)), bin_seconds=DAY)
        with store.snapshot() as view:
            token = view.stream_token(KEY)
            assert view.read(KEY, ["a"])["a"].tolist() == [0.0] * 10
            store.write(KEY, frame(T0 + np.arange(20), a=np.ones(20), b=np.ones(20)), bin_seconds=DAY)
            assert view.coverage(KEY).count == 10 and view.stream_token(KEY) == token
            for column in ("a", "b"):
                try:
                    assert view.read(KEY, [column])[column].tolist() == [0.0] * 10  # its own state...
                except StoreUnavailable as exc:
                    assert "retry" in str(exc)  # ... or nothing
        with store.snapshot() as view:
            assert view.read(KEY, ["a"])["a"].tolist() == [1.0] * 20
            assert view.stream_token(KEY) > token

    def test_change_token_moves_on_with_every_commit(self, store) -> None:
        super().test_change_token_moves_on_with_every_commit(store)
        before = store.change_token()
        store.put_asset_events("CE01ISSM-MFD37-03-CTDBPC000", [])
        assert store.change_token() != before


def test_small_batches_and_pages_cross_their_ends(cassandra_node: CassandraNode) -> None:
    conn = CassandraConnection(cassandra_node.hosts, cassandra_node.port, keyspace="suite_small",
                               consistency="ONE", fetch_size=3, concurrency=2)
    with CassandraStore(conn, batch_rows=2) as store:
        store.ensure_schema()
        empty_keyspace(store)
        times = T0 - DAY + np.arange(61) * 3600.0
        text = np.array([f"r{i}" for i in range(61)], dtype=object)
        assert store.write(KEY, frame(times, v=np.arange(61.0), s=text), bin_seconds=DAY).inserted == 61
        got = store.read(KEY)
        assert got["v"].tolist() == list(range(61)) and got["s"].tolist() == text.tolist()
        part = store.read(KEY, ["v"], time_range=TimeRange(times[10], times[40]))
        assert part["v"].tolist() == list(range(10, 40))
        assert store.read(KEY, ["s"], index_range=IndexRange(5, 55, 4))["s"].tolist() == text[5:55:4].tolist()
        again = store.write(KEY, frame(times[::2], v=-np.arange(61.0)[::2]), bin_seconds=DAY)
        assert (again.inserted, again.replaced) == (0, 31)
        assert store.read(KEY)["v"].tolist() == [-i if i % 2 == 0 else i for i in range(61)]


def test_nodes_claiming_at_once_never_get_the_same_job(cassandra_node: CassandraNode) -> None:
    """Four stores (four connections, as four server nodes) claim queued jobs at the same time:
    every job is claimed exactly once, and job changes leave the change token alone."""
    import threading

    stores = [cassandra_node.store("suite_jobs") for _ in range(4)]
    stores[0].ensure_schema()
    empty_keyspace(stores[0])
    for i in range(12):
        stores[0].put_job(f"j{i:02d}", {"id": f"j{i:02d}", "state": "queued", "created": float(i)})
    token = stores[0].change_token()
    claimed: list[list[str]] = [[] for _ in stores]
    start = threading.Barrier(len(stores))

    def claim_all(n: int) -> None:
        start.wait()
        while (record := stores[n].claim_job(100, {"node": n})) is not None:
            assert record["node"] == n and record["state"] == "running"
            claimed[n].append(record["id"])

    threads = [threading.Thread(target=claim_all, args=(n,)) for n in range(len(stores))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    ids = sorted(i for got in claimed for i in got)
    assert ids == [f"j{i:02d}" for i in range(12)]
    for n, got in enumerate(claimed):
        assert all(stores[0].job(i)["node"] == n for i in got)
    assert stores[0].change_token() == token
    for store in stores:
        store.close()


def test_quality_records_kept_as_asset_events_by_an_earlier_version_move_to_their_table(cassandra_node: CassandraNode) -> None:
    old = {"id": 4, "subsite": "CE01ISSM", "annotation": "kept by the earlier fallback"}
    with cassandra_node.store("suite_adopt") as store:
        store.ensure_schema()
        empty_keyspace(store)
        store.put_asset_events("@quality:annotation", [old])  # what the asset-event fallback wrote
        store.put_asset_events(KEY.refdes, [])
    with cassandra_node.store("suite_adopt") as store:  # a new process of the new version
        assert store.quality_records("annotation") == [old]
        assert store.asset_refdeses() == [KEY.refdes]
        assert store.add_quality_records("annotation", [{"subsite": "X"}]) == [5]


def test_a_quality_load_larger_than_one_batch(cassandra_node: CassandraNode) -> None:
    """Cassandra refuses batches over 50 KiB: a large load goes in several, all of it stored."""
    from stream_engine.store.cassandra_quality import BATCH_BYTES

    records = [{"subsite": "CE01ISSM", "annotation": f"{i} " + "x" * 2000} for i in range(3 * BATCH_BYTES // 2000)]
    with cassandra_node.store("suite_big_quality") as store:
        store.ensure_schema()
        empty_keyspace(store)
        assert store.add_quality_records("annotation", records) == list(range(1, len(records) + 1))
        assert store.quality_records("annotation") == [{**r, "id": i} for i, r in enumerate(records, 1)]


def test_a_statement_the_cluster_refuses_is_an_error_not_unavailability(cassandra_node: CassandraNode) -> None:
    """A refused statement (here a column that does not exist) says so, and does not tell the
    data manager to retry when the cluster is reachable: it is reachable, and sending it again
    cannot help."""
    store = cassandra_node.store()
    try:
        store.ensure_schema()
        with pytest.raises(StoreError, match="refused to read the thing: InvalidRequest.*will not help") as got:
            store.conn.execute(f"SELECT no_such_column FROM {store.keyspace}.store_state", doing="read the thing")
        assert not isinstance(got.value, StoreUnavailable)
        assert got.value.status == 503 and "Cassandra" not in got.value.client_message()
    finally:
        cassandra_node.drop(store)


def test_a_column_another_server_just_added_is_not_an_error(cassandra_node: CassandraNode) -> None:
    """Two servers ingesting a new parameter at once both add its column; the one whose schema
    view is a moment behind finds it there instead of failing the ingest."""
    store = cassandra_node.store()
    try:
        store.write(KEY, frame([T0], a=[1.0]), bin_seconds=DAY)
        store.conn.session().execute(f"ALTER TABLE {store.keyspace}.{KEY.stream} ADD b double")  # the other server
        columns = store.conn.cluster.metadata.keyspaces[store.keyspace].tables[KEY.stream].columns
        columns.pop("b", None)  # this server has not heard of it yet
        store.write(KEY, frame([T0 + 1], a=[2.0], b=[3.0]), bin_seconds=DAY)
        got = store.read(KEY, ["a", "b"])
        assert got["a"].tolist() == [1.0, 2.0]
        assert got["b"][1] == 3.0 and np.isnan(got["b"][0])
    finally:
        cassandra_node.drop(store)
