"""The OOI rows written in the background (``CASSANDRA_ROWS = "background"``): a default ingest
leaves them pending, the row deriver writes exactly the rows a with-ingest write gives, one
deriver at a time under a lease, taken over when its holder dies, resumable, and following
ingests that rewrite a bin while it is derived; ``"off"`` writes none and reports them pending."""

from __future__ import annotations

import time

import numpy as np
import pytest
from cassandra_node import CassandraNode
from store_suite import DAY, KEY, T0
from test_cassandra import empty_keyspace
from test_cassandra_chunks import _assert_same, _mixed_records, _row_count, _rows

from stream_engine.store.cassandra import CassandraStore
from stream_engine.store.cassandra_deriver import RowDeriver
from stream_engine.store.cassandra_rows import pending_bins

pytestmark = pytest.mark.cassandra


def _store(node: CassandraNode, keyspace: str, rows: str) -> CassandraStore:
    store = node.store(keyspace, rows=rows)
    store.ensure_schema()
    empty_keyspace(store)
    return store


def _ingest(store: CassandraStore, seed: int = 0) -> None:
    """Two writes: 600 records over three bins, then 250 upserts and new records over two."""
    store.write(KEY, _mixed_records(600, seed=seed), bin_seconds=DAY)
    store.write(KEY, _mixed_records(250, start=T0 + DAY / 2, seed=seed + 1), bin_seconds=DAY)


def _keys_and_ids(store: CassandraStore) -> list[tuple[float, int, object]]:
    return sorted(tuple(r) for r in store.conn.session().execute(
        f"SELECT time, deployment, id FROM {store.keyspace}.{KEY.stream}"))


def _derive_all(deriver: RowDeriver, limit: int = 10_000) -> int:
    """Turns until the deriver finds nothing to do; how many turns did something."""
    for done in range(limit):
        if not deriver.step():
            return done
    raise AssertionError("the deriver never ran out of work")


@pytest.fixture
def background(cassandra_node: CassandraNode):
    store = _store(cassandra_node, "rows_background", "background")
    yield store
    store.close()


def test_default_ingest_serves_at_once_and_the_deriver_writes_the_rows_a_with_ingest_write_gives(
        background: CassandraStore, cassandra_node: CassandraNode) -> None:
    _ingest(background)
    served = background.read(KEY)
    assert len(served["time"]) == background.coverage(KEY).count > 600  # served from the chunks at once
    assert _row_count(background) == 0
    pending = pending_bins(background)
    assert [p.state.bin for p in pending] == [s.bin for s in background.bin_states(KEY)]
    assert sum(p.state.partition.count for p in pending) == len(served["time"])
    deriver = RowDeriver(background, batch=97, lease_seconds=30, poll_seconds=0.1)
    turns = _derive_all(deriver)
    assert turns >= len(served["time"]) // 97  # bounded slices, not whole bins
    status = deriver.status()
    assert (status["pending_bins"], status["pending_records"], status["this_process_derives"]) == (0, 0, True)
    assert deriver.rows_written == len(served["time"])
    assert not pending_bins(background)
    deriver.stop()
    with_ingest = _store(cassandra_node, "rows_with_ingest", "with-ingest")
    try:
        _ingest(with_ingest)
        _assert_same(_rows(background), _rows(with_ingest))  # values, every column
        _assert_same(_rows(background), served)
        assert _keys_and_ids(background) == _keys_and_ids(with_ingest)  # same ids, no duplicates
        assert _row_count(background) == _row_count(with_ingest) == len(served["time"])
    finally:
        with_ingest.close()


def test_a_bin_rewritten_while_it_is_derived_ends_at_its_newest_version(background: CassandraStore) -> None:
    background.write(KEY, _mixed_records(900, seed=3), bin_seconds=DAY)
    deriver = RowDeriver(background, batch=50, poll_seconds=0.1)
    for _ in range(4):  # part of the first bin has rows, from the version before the next write
        assert deriver.step()
    assert 0 < _row_count(background) < 900
    changed = _mixed_records(900, seed=3)
    changed["temp"] = changed["temp"] + 100.0  # every record upserted with new values
    background.write(KEY, changed, bin_seconds=DAY)
    background.write(KEY, _mixed_records(40, start=T0 + 0.5, seed=9), bin_seconds=DAY)
    _derive_all(deriver)
    deriver.stop()
    expected = background.read(KEY)
    assert np.all(expected["temp"][np.isin(expected["time"], changed["time"])] > 50)
    _assert_same(_rows(background), expected)
    assert _row_count(background) == len(expected["time"]) == len(set(_keys_and_ids(background)))


def test_one_deriver_holds_the_lease_and_another_takes_over_when_it_dies(cassandra_node: CassandraNode,
                                                                         background: CassandraStore) -> None:
    other = cassandra_node.store(background.keyspace)
    first = RowDeriver(background, batch=100, lease_seconds=2, poll_seconds=0.1)
    second = RowDeriver(other, batch=100, lease_seconds=2, poll_seconds=0.1)
    try:
        _ingest(background)
        assert first.step()  # claims the lease, derives a slice
        for _ in range(3):
            assert not second.step()  # the lease is held: it only reports
        assert second.status()["deriver"] == first.holder and not second.status()["this_process_derives"]
        assert 0 < _row_count(background) < background.coverage(KEY).count
        # the first deriver dies half-way through a bin (no release); its lease runs out
        time.sleep(2.5)
        _derive_all(second)
        assert second.status()["this_process_derives"] and second.status()["pending_records"] == 0
        assert not first.step() or first.status()["deriver"] == second.holder  # the dead one is out
        expected = background.read(KEY)
        _assert_same(_rows(background), expected)  # the half-derived bin was derived again: same rows
        assert _row_count(background) == len(expected["time"]) == len(set(_keys_and_ids(background)))
    finally:
        second.stop()
        first.stop()
        other.close()


def test_rows_off_writes_none_and_reports_them_pending(cassandra_node: CassandraNode) -> None:
    store = _store(cassandra_node, "rows_off", "off")
    try:
        _ingest(store)
        count = store.coverage(KEY).count
        watcher = RowDeriver(store, mode="off", poll_seconds=0.1)
        for _ in range(3):
            assert not watcher.step()
        status = watcher.status()
        assert (status["mode"], status["deriver"], status["this_process_derives"]) == ("off", None, False)
        assert (status["pending_bins"], status["pending_records"]) == (len(store.partitions(KEY)), count)
        assert _row_count(store) == 0
        assert store.derive_rows(KEY) == count  # on demand (the CLI's derive-rows)
        _assert_same(_rows(store), store.read(KEY))
        store.write(KEY, _mixed_records(5, start=T0 + 10 * DAY), bin_seconds=DAY)
        watcher.step()  # the change token moved: it looks again
        assert watcher.status()["pending_records"] == 5
    finally:
        store.close()


def test_reindex_after_a_background_ingest_keeps_every_record_and_drops_emptied_bins(
        cassandra_node: CassandraNode) -> None:
    from stream_engine.config import load_settings
    from stream_engine.demo import CTD, fill_demo
    from stream_engine.preload import default_preload
    from stream_engine.store.cassandra_reindex import reindex

    preload = default_preload(load_settings(environ={}))
    store = _store(cassandra_node, "rows_reindex", "background")
    try:
        fill_demo(store, preload)
        before, bins = store.read(CTD), store.partitions(CTD)
        assert _row_count(store, CTD) == 0 and len(bins) > 2  # rows pending
        (report,) = reindex(store, preload, [CTD.stream])  # writes the pending rows first
        assert report.records == len(before["time"]) == 40320
        assert all(s.version is None for s in store.bin_states(CTD))  # now served from the rows
        _assert_same(store.read(CTD), before)
        last = bins[-1]  # OOI's tools delete every row of the last bin
        store.conn.session().execute(
            f"DELETE FROM {store.keyspace}.{CTD.stream} WHERE subsite=%s AND node=%s AND sensor=%s AND bin=%s",
            (CTD.subsite, CTD.node, CTD.sensor, last.bin))
        token, seen = store.stream_token(CTD), []
        execute = store.conn.execute

        def execute_then_read(cql, params=(), *, doing):
            found = execute(cql, params, doing=doing)
            if doing.startswith("update the partition index"):  # a response right after the index moved
                with store.snapshot() as view:
                    seen.append((view.partitions(CTD), view.stream_token(CTD)))
            return found

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(store.conn, "execute", execute_then_read)
            reindex(store, preload, [CTD.stream])
        assert [parts for parts, _ in seen] == [bins[:-1]]  # the new index whole, in one statement
        assert seen[0][1] != token  # ... under a token of its own
        assert store.partitions(CTD) == bins[:-1]
        assert store.coverage(CTD).count == 40320 - last.count
        kept = before["time"] < last.first
        _assert_same(store.read(CTD), {name: values[kept] for name, values in before.items()})
    finally:
        store.close()


def test_an_append_to_a_derived_bin_derives_only_the_records_it_wrote(background: CassandraStore) -> None:
    from store_suite import frame

    original = _mixed_records(600)
    background.write(KEY, original, bin_seconds=DAY)
    deriver = RowDeriver(background, batch=1000, poll_seconds=0.1)
    _derive_all(deriver)
    assert deriver.rows_written == 600
    first_bin = original["time"] < T0 + DAY
    changed = {name: values[first_bin][:3].copy() for name, values in original.items()}
    changed["temp"] = changed["temp"] + 50.0  # three stored records get new values
    background.write(KEY, changed, bin_seconds=DAY)
    background.write(KEY, frame(T0 + 0.5 + np.arange(7), temp=np.arange(7.0)), bin_seconds=DAY)  # seven new
    _derive_all(deriver)
    assert deriver.rows_written == 600 + 3 + 7  # not the whole bin again
    expected = background.read(KEY)
    _assert_same(_rows(background), expected)
    assert _row_count(background) == len(expected["time"]) == 607
    deriver.stop()
