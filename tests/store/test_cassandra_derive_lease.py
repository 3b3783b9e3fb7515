"""One row deriver at a time, by hand too: ``stream-engine cassandra derive-rows`` takes the
servers' lease (refuses, or waits with ``--wait``, while a server holds it), and a holder whose
lease ran out under it cannot leave stale rows in a bin marked complete."""

from __future__ import annotations

import os
import subprocess
import time

import numpy as np
import pytest
from cassandra_node import CassandraNode
from live_server import stream_engine_command
from store_suite import DAY, KEY, T0
from test_cassandra_chunks import _assert_same, _mixed_records, _row_count, _rows
from test_cassandra_deriver import _derive_all, _store

from stream_engine.store.cassandra import CassandraStore
from stream_engine.store.cassandra_deriver import LeaseKeeper, LeaseLost, RowDeriver, RowLease
from stream_engine.store.cassandra_rows import pending_bins

pytestmark = pytest.mark.cassandra


@pytest.fixture
def background(cassandra_node: CassandraNode):
    store = _store(cassandra_node, "rows_lease", "background")
    yield store
    store.close()


def _command(cassandra_node: CassandraNode, keyspace: str, tmp_path, *args: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAM_ENGINE_")}
    env.update(cassandra_node.settings_env(keyspace), STREAM_ENGINE_LOG_DIR=str(tmp_path),
               STREAM_ENGINE_CASSANDRA_ROWS_POLL_SECONDS="0.2")
    return subprocess.Popen([*stream_engine_command(), "cassandra", "derive-rows", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _lease_row(store: CassandraStore) -> dict | None:
    return RowLease(store, "", 1).read()


def test_derive_rows_refuses_while_a_server_derives_and_waits_with_wait(
        background: CassandraStore, cassandra_node: CassandraNode, tmp_path) -> None:
    background.write(KEY, _mixed_records(600, seed=5), bin_seconds=DAY)
    # a long lease: this deriver has no thread renewing it between the test's steps
    server = RowDeriver(background, batch=50, lease_seconds=600, poll_seconds=0.1)
    try:
        assert server.step()  # a server's deriver holds the lease, one slice written
        before = _row_count(background)
        assert before == 50

        refused = _command(cassandra_node, background.keyspace, tmp_path)
        out, err = refused.communicate(timeout=600)
        assert refused.returncode == 1, (out, err)
        assert server.holder in err and "Nothing was written here" in err and "--wait SECONDS" in err, err
        assert _row_count(background) == before
        assert _lease_row(background)["holder"] == server.holder  # the server's lease untouched

        # --wait: the server writes everything pending meanwhile -> nothing to do, exit 0
        waiting = _command(cassandra_node, background.keyspace, tmp_path, "--wait", "600")
        assert "waiting up to" in waiting.stderr.readline()  # it is waiting now
        _derive_all(server)
        out, err = waiting.communicate(timeout=600)
        assert waiting.returncode == 0, (out, err)
        assert f"no OOI rows pending; {server.holder} holds the row deriver's lease and wrote them" in out
        assert _row_count(background) == 600

        # --wait: the server lets the lease go (stops) -> the command takes it and writes the rest
        background.write(KEY, _mixed_records(70, start=T0 + 20 * DAY, seed=6), bin_seconds=DAY)
        waiting = _command(cassandra_node, background.keyspace, tmp_path, "--wait", "600")
        assert "waiting up to" in waiting.stderr.readline()
        server.stop()
        out, err = waiting.communicate(timeout=600)
        assert waiting.returncode == 0, (out, err)
        assert f"{KEY}: OOI rows written for 70 records" in out
        assert not pending_bins(background)
        _assert_same(_rows(background), background.read(KEY))
        assert _lease_row(background) is None  # released at the end
    finally:
        server.stop()


def test_derive_rows_derives_everything_when_no_server_runs(background: CassandraStore,
                                                             cassandra_node: CassandraNode, tmp_path) -> None:
    records = _mixed_records(400, seed=7)
    background.write(KEY, records, bin_seconds=DAY)
    done = _command(cassandra_node, background.keyspace, tmp_path)
    out, err = done.communicate(timeout=600)
    assert done.returncode == 0, (out, err)
    assert "OOI rows written for 400 records" in out
    _assert_same(_rows(background), background.read(KEY))
    assert not pending_bins(background) and _lease_row(background) is None


def test_a_command_holding_the_lease_keeps_servers_out_and_stops_when_it_loses_it(
        background: CassandraStore) -> None:
    background.write(KEY, _mixed_records(300, seed=8), bin_seconds=DAY)
    lease = RowLease(background, "derive-rows@test", 3)
    server = RowDeriver(background, batch=50, lease_seconds=600, poll_seconds=0.1)
    assert lease.claim()
    claimed = _lease_row(background)["updated"]
    with LeaseKeeper(lease) as keeper:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and _lease_row(background)["updated"] == claimed:
            time.sleep(0.1)
        assert _lease_row(background)["updated"] != claimed  # renewed while it works
        for _ in range(3):  # servers only report
            assert not server.step()
        assert server.status()["deriver"] == "derive-rows@test" and _row_count(background) == 0
        keeper.check()  # still held
        lease.release()  # as if the lease ran out under a stalled command ...
        assert server.step()  # ... and a server took over
        deadline = time.monotonic() + 60
        while not keeper.lost and time.monotonic() < deadline:  # the next renewal finds another holder
            time.sleep(0.1)
        with pytest.raises(LeaseLost, match="derive-rows@test lost"):
            keeper.check()
    assert _lease_row(background)["holder"] == server.holder  # leaving did not release the server's lease
    server.stop()


def test_a_slice_landing_after_the_lease_ran_out_cannot_leave_stale_rows(
        cassandra_node: CassandraNode, background: CassandraStore) -> None:
    """A deriver stalls with a slice of version V in flight; its lease runs out; an ingest rewrites
    the bin (V2) and another deriver derives and completes V2; then the stale slice lands."""
    original = _mixed_records(900, seed=3)
    background.write(KEY, original, bin_seconds=DAY)
    other = cassandra_node.store(background.keyspace)
    slow = RowDeriver(background, batch=50, lease_seconds=30, poll_seconds=0.1)
    taker = RowDeriver(other, batch=100, lease_seconds=30, poll_seconds=0.1)
    try:
        assert slow.step()  # claims the lease, writes the first slice of V
        in_flight = slow._current  # the slow deriver's version V of the first bin, read
        assert in_flight is not None and in_flight.done == 50
        changed = _mixed_records(900, seed=3)
        changed["temp"] = changed["temp"] + 100.0  # every record upserted with new values: V2
        background.write(KEY, changed, bin_seconds=DAY)
        background.conn.session().execute(  # the slow holder's lease runs out
            f"DELETE FROM {background.keyspace}.store_leases WHERE name='row-deriver'")
        _derive_all(taker)  # takes the lease, derives V2, marks every bin complete
        assert not pending_bins(background)

        assert in_flight.write(50) == 50  # the stalled slice of V lands now
        in_flight.write()  # and the rest of V (the slow deriver would go on if it did not look)
        assert not in_flight.finish()  # V is not the bin's version: not marked complete
        _derive_all(slow)  # until its next renewal it believes it holds the lease: nothing left to do
        assert not slow.lease.renew(None, None, 0)  # that renewal fails: it stops deriving

        expected = background.read(KEY)
        assert np.all(expected["temp"] > 50)  # V2's values are served
        assert not pending_bins(background)  # the bins are complete ...
        _assert_same(_rows(background), expected)  # ... and their rows are V2's, not the late slice's
        assert _row_count(background) == 900
    finally:
        taker.stop()
        slow.stop()
        other.close()
