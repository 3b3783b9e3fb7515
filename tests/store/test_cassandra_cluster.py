"""A 2-node Cassandra cluster with replication 2 under a running server: one node killed, then
both stopped, then both back, without restarting the server.

The nodes listen on 127.0.0.2 and 127.0.0.3 (same CQL and storage ports, as a cluster needs),
apart from the session's node on 127.0.0.1.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from cassandra_node import CassandraNode, start_node
from cassandra_postmortem import keep_node_logs
from live_server import http, start_server

from stream_engine.errors import STORE_TROUBLE_MESSAGE, StoreUnavailable
from stream_engine.store.base import StreamKey
from stream_engine.store.cassandra import CassandraStore
from stream_engine.store.cassandra_session import CassandraConnection

pytestmark = [pytest.mark.cassandra, pytest.mark.slow]

KEY = StreamKey("CE02SHSM", "SBD11", "06-METBKA000", "telemetered", "metbk_a_dcl_instrument")
ADDRESSES = ("127.0.0.2", "127.0.0.3")
T0 = 3_913_056_000.0


def _free_port(addr: str) -> int:
    with socket.socket() as sock:
        sock.bind((addr, 0))
        return int(sock.getsockname()[1])


def _pid(node: CassandraNode) -> int:
    assert node.folder is not None
    return int((node.folder / "cassandra.pid").read_text())


@pytest.fixture(scope="module")
def cluster(request):
    # The session's node (started here or given by TEST_STREAM_ENGINE_CASSANDRA_HOSTS) is not used:
    # this cluster is the test's own, on other addresses. Starting it needs Java on this machine;
    # a suite pointed at a given cluster may run where there is none, and then says so.
    if os.environ.get("TEST_STREAM_ENGINE_CASSANDRA_HOSTS") and not (shutil.which("java") or os.environ.get("JAVA_HOME")):
        pytest.skip("this test starts its own 2-node cluster on 127.0.0.2/127.0.0.3 and needs Java for it; "
                    "the cluster given by TEST_STREAM_ENGINE_CASSANDRA_HOSTS cannot stand in for it")
    folder = Path(tempfile.mkdtemp(prefix="stream-engine-cluster-"))
    port, storage = _free_port(ADDRESSES[0]), _free_port(ADDRESSES[0])
    seeds = f"{ADDRESSES[0]}:{storage}"
    nodes: list[CassandraNode] = []
    failed_before = request.session.testsfailed
    try:
        for i, addr in enumerate(ADDRESSES):
            nodes.append(start_node(folder / f"node{i + 1}", addr=addr, port=port, storage_port=storage,
                                    seeds=seeds, heap="256M"))
        _wait_until_formed(port, seconds=180)
        yield nodes, (port, storage, seeds)
    finally:
        for node in nodes:
            node.stop()
            # the test kills nodes on purpose: only a failure makes their logs worth keeping
            keep_node_logs(request.config, node.folder, died=False, failed=request.session.testsfailed > failed_before)
        shutil.rmtree(folder, ignore_errors=True)


def _wait_until_formed(port: int, seconds: float) -> None:
    """Wait until each node lists the other as a peer holding tokens, with one schema version.

    A node answers CQL once it has joined, but the seed may not have heard of the second node by
    gossip yet: a keyspace created then warns "replication factor 2 ... higher than the number of
    nodes 1" and the next statement, run on the other node, finds no keyspace there.
    """
    from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
    from cassandra.policies import WhiteListRoundRobinPolicy

    deadline = time.monotonic() + seconds
    while True:
        formed = True
        for addr in ADDRESSES:
            other = next(a for a in ADDRESSES if a != addr)
            alone = ExecutionProfile(load_balancing_policy=WhiteListRoundRobinPolicy([addr]))
            cluster = Cluster([addr], port=port, protocol_version=5, connect_timeout=5,
                              execution_profiles={EXEC_PROFILE_DEFAULT: alone})
            try:
                session = cluster.connect()
                mine = session.execute("SELECT schema_version FROM system.local").one().schema_version
                peers = {str(row.peer): row for row in session.execute("SELECT peer, tokens, schema_version FROM system.peers")}
                peer = peers.get(other)
                formed &= peer is not None and bool(peer.tokens) and peer.schema_version == mine
            except Exception:  # noqa: BLE001 - not up yet: try again until the deadline
                formed = False
            finally:
                cluster.shutdown()
        if formed:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"the 2-node cluster on {ADDRESSES} did not form in {seconds:.0f} s", pytrace=False)
        time.sleep(1)


def _store(port: int, consistency: str) -> CassandraStore:
    conn = CassandraConnection([f"{a}:{port}" for a in ADDRESSES], port, keyspace="cluster_test", protocol_version=5,
                               consistency=consistency, connect_timeout=5, query_timeout=10)
    return CassandraStore(conn, replication={"class": "SimpleStrategy", "replication_factor": 2})


def _wait_for(url: str, status: int, seconds: float) -> tuple[int, bytes]:
    deadline = time.monotonic() + seconds
    while True:
        code, _, body = http(url, timeout=30)
        if code == status or time.monotonic() > deadline:
            return code, body
        time.sleep(1)


def test_node_loss_cluster_loss_and_recovery(cluster, tmp_path) -> None:
    nodes, (port, storage, seeds) = cluster
    times = T0 + np.arange(500) * 60.0
    records = {"time": times, "deployment": np.ones(500, np.int32), "sea_surface_temperature": np.linspace(10, 12, 500)}
    env = {"STREAM_ENGINE_STORE": "cassandra", "STREAM_ENGINE_CASSANDRA_HOSTS": ",".join(ADDRESSES),
           "STREAM_ENGINE_CASSANDRA_PORT": str(port), "STREAM_ENGINE_CASSANDRA_KEYSPACE": "cluster_test",
           "STREAM_ENGINE_CASSANDRA_CONSISTENCY": "ONE", "STREAM_ENGINE_CASSANDRA_CONNECT_TIMEOUT": "5",
           "STREAM_ENGINE_CASSANDRA_QUERY_TIMEOUT": "10"}
    from stream_engine.config import REPO_ROOT
    from stream_engine.preload import load_preload
    from stream_engine.store.cassandra_admin import apply_schema

    with _store(port, "ALL") as store:  # both replicas hold every record before a node is lost
        apply_schema(store, load_preload(REPO_ROOT / "preload_database"))
        store.write(KEY, records, bin_seconds=86400)
    server = start_server(tmp_path / "data", tmp_path / "logs", extra_env=env)
    try:
        url = f"{server.url}/dap/{KEY.path}.ascii?time"
        code, _, body = http(url)
        assert code == 200, body
        expected = body
        assert b"time[obs = 500]" in body and b"3913085940.0" in body  # the last record

        os.kill(_pid(nodes[1]), signal.SIGKILL)  # one replica gone: reads at ONE go on
        code, _, body = http(url, timeout=60)
        assert (code, body) == (200, expected)

        nodes[0].stop()  # the whole cluster gone: a clear 503 on every interface
        code, body = _wait_for(url, 503, 60)
        assert code == 503, body
        # clients get the one store-trouble message (no hosts); the log names the cluster
        assert STORE_TROUBLE_MESSAGE.encode() in body
        assert "the Cassandra cluster at" in (tmp_path / "logs" / "stream_engine.error.log").read_text()
        assert http(f"{server.url}/dap/", timeout=60)[0] == 503

        for i, node in enumerate(nodes):  # both back: the same server answers again
            assert node.folder is not None
            start_node(node.folder, addr=ADDRESSES[i], port=port, storage_port=storage, seeds=seeds, heap="256M")
        code, body = _wait_for(url, 200, 120)
        assert (code, body) == (200, expected)
    finally:
        server.stop()


def test_unreachable_cluster_is_store_unavailable() -> None:
    conn = CassandraConnection(["127.0.0.9"], _free_port("127.0.0.1"), keyspace="nowhere", connect_timeout=2)
    with CassandraStore(conn) as store, pytest.raises(StoreUnavailable, match="127.0.0.9.*could not"):
        store.partitions(KEY)
