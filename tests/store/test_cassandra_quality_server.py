"""Annotations through a server on Cassandra: one stored through one server is listed by another,
and changes the ``ETag`` of exactly the streams it touches."""

from __future__ import annotations

import json
import urllib.request

import numpy as np
import pytest
from live_server import http, start_server

from stream_engine import demo
from stream_engine.assets import NTP_UNIX_OFFSET
from stream_engine.config import REPO_ROOT
from stream_engine.preload import load_preload
from stream_engine.store.cassandra_admin import apply_schema

pytestmark = pytest.mark.cassandra


@pytest.fixture(scope="module")
def servers(cassandra_node, tmp_path_factory):
    """Two servers over one small keyspace holding a few records of the demo CTD and optode."""
    curated = load_preload(REPO_ROOT / "preload_database")
    store = cassandra_node.store()
    apply_schema(store, curated)
    for key in (demo.CTD, demo.OPTODE):
        stored = [p for p in curated.stream_parameters(key.stream)
                  if not p.is_function and not p.is_array and p.dtype.kind == "f" and p.name != "time"]
        times = 3.7e9 + np.arange(20.0) * 60
        records = {"time": times, "deployment": np.ones(20, np.int32), stored[0].name: np.linspace(1, 2, 20)}
        store.write(key, records, bin_seconds=curated.stream(key.stream).bin_seconds)
    root = tmp_path_factory.mktemp("quality_server")
    env = cassandra_node.settings_env(store.keyspace)
    running = [start_server(root / "data", root / f"logs{i}", threads=2, extra_env=env) for i in range(2)]
    try:
        yield running
    finally:
        for server in running:
            server.stop()
        cassandra_node.drop(store)


def _etag(server, key) -> str:
    status, headers, body = http(f"{server.url}/dap/{key.path}.das")
    assert status == 200, body[:300]
    return headers["ETag"]


def test_an_annotation_changes_the_etag_of_the_streams_it_touches_only(servers):
    first, second = servers
    before = {key: _etag(first, key) for key in (demo.CTD, demo.OPTODE)}
    assert before == {key: _etag(second, key) for key in (demo.CTD, demo.OPTODE)}
    record = {"@class": ".AnnotationRecord", "subsite": demo.CTD.subsite, "node": demo.CTD.node,
              "sensor": demo.CTD.sensor, "method": None, "stream": None,
              "beginDT": (3.7e9 - NTP_UNIX_OFFSET) * 1000.0, "endDT": None, "annotation": "pump fouled",
              "exclusionFlag": False, "qcFlag": None, "parameters": [], "source": "tests"}
    request = urllib.request.Request(f"{second.url}/annotations", data=json.dumps(record).encode(),
                                     method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        assert response.status == 201 and json.loads(response.read())["ids"] == [1]
    listed = json.loads(http(f"{first.url}/annotations/{demo.CTD.path}")[2])
    assert [a["annotation"] for a in listed] == ["pump fouled"]  # stored through the other server
    assert json.loads(http(f"{first.url}/annotations/{demo.OPTODE.path}")[2]) == []
    after = {key: _etag(first, key) for key in (demo.CTD, demo.OPTODE)}
    assert after[demo.CTD] != before[demo.CTD]
    assert after[demo.OPTODE] == before[demo.OPTODE]
