"""Two real servers over one keyspace with the default ``CASSANDRA_ROWS = "background"``: data
ingested is served at once, the OOI rows follow without any command, exactly one server derives
them, and when that server is killed (SIGKILL) the other takes over."""

from __future__ import annotations

import json
import os
import signal
import time

import netCDF4
import pytest
from live_server import http, start_server
from test_cassandra_chunks import _assert_same, _row_count, _rows

from stream_engine.store.cassandra_rows import pending_bins

pytestmark = pytest.mark.cassandra

LEASE_SECONDS = 3


@pytest.fixture(scope="module")
def two_servers(cassandra_node, tmp_path_factory):
    from stream_engine.config import load_settings
    from stream_engine.preload import default_preload
    from stream_engine.store.cassandra_admin import apply_schema

    preload = default_preload(load_settings(environ={}))
    store = cassandra_node.store()  # writes as the default ingest does: chunks, rows pending
    apply_schema(store, preload)
    env = {**cassandra_node.settings_env(store.keyspace),
           "STREAM_ENGINE_CASSANDRA_ROWS_LEASE_SECONDS": str(LEASE_SECONDS),
           "STREAM_ENGINE_CASSANDRA_ROWS_POLL_SECONDS": "0.3"}
    root = tmp_path_factory.mktemp("deriver_servers")
    servers = [start_server(root / f"data{i}", root / f"logs{i}", threads=2, extra_env=env) for i in range(2)]
    try:
        yield store, preload, servers
    finally:
        for server in servers:
            server.stop()
        store.close()


def _rows_status(server) -> dict:
    status, _, body = http(server.url + "/health")
    assert status == 200, body
    answer = json.loads(body)
    return {**answer["store"]["ooi_rows"], "pid": answer["worker"]["pid"]}


def _wait_until_rows_caught_up(store, servers, timeout: float = 600.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = [_rows_status(s) for s in servers]
        if not pending_bins(store) and any(s["this_process_derives"] and s["pending_records"] == 0 for s in states):
            return states
        time.sleep(0.5)
    raise AssertionError(f"OOI rows still pending after {timeout} s: {states}")


def test_rows_follow_a_default_ingest_by_one_server_and_another_takes_over(two_servers) -> None:
    from stream_engine.demo import CTD, fill_demo

    store, preload, servers = two_servers
    keys = fill_demo(store, preload)  # the ingest returns with the chunks written
    count = store.coverage(CTD).count
    with netCDF4.Dataset(f"{servers[1].url}/dap/{CTD.path}") as dap:  # served at once
        assert len(dap["time"]) == count == 40320
    states = _wait_until_rows_caught_up(store, servers)  # no command run: the servers derive
    assert [s["this_process_derives"] for s in states].count(True) == 1  # one deriver of two
    assert states[0]["deriver"] == states[1]["deriver"] is not None
    for key in keys:
        expected = store.read(key)
        _assert_same(_rows(store, key), expected)
        assert _row_count(store, key) == len(expected["time"])  # no duplicate rows

    # the deriving server dies (worker and master killed); new records come in
    dead = next(i for i, s in enumerate(states) if s["this_process_derives"])
    dead_holder = states[dead]["deriver"]
    os.kill(states[dead]["pid"], signal.SIGKILL)
    servers[dead].stop(signal.SIGKILL)
    alive = servers[1 - dead]
    more = {name: values[:500] for name, values in store.read(CTD).items()}
    more["time"] = more["time"] + 40 * 86400.0  # new bins
    more["temperature"] = more["temperature"] + 1  # raw counts (int32)
    store.write(CTD, more, bin_seconds=store.stored(CTD)[0])
    states = _wait_until_rows_caught_up(store, [alive])
    assert states[0]["this_process_derives"] and states[0]["deriver"] not in (None, dead_holder)
    expected = store.read(CTD)
    assert len(expected["time"]) == count + 500
    _assert_same(_rows(store, CTD), expected)
    assert _row_count(store, CTD) == count + 500
