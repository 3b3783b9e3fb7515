"""Several server processes over one Cassandra keyspace serve the same data, byte for byte,
and the same bytes as a server over the embedded store holding the same records."""

from __future__ import annotations

import pytest
from live_server import http, start_server
from stream_servers import dap_url

from stream_engine import demo

pytestmark = pytest.mark.cassandra


def test_two_servers_over_one_cluster_serve_the_same_data(cassandra_filled, data_dir, tmp_path):
    node, store = cassandra_filled
    servers = [start_server(data_dir, tmp_path / f"logs{i}", extra_env=node.settings_env(store.keyspace))
               for i in range(2)]
    embedded = start_server(data_dir, tmp_path / "logs_embedded")
    try:
        assert len({s.url for s in servers}) == 2
        for key in (demo.CTD, demo.OPTODE):
            for suffix in (".das", ".dods"):  # every raw and computed variable
                answers = [http(dap_url(s.url, key) + suffix) for s in (*servers, embedded)]
                assert [a[0] for a in answers] == [200, 200, 200], [a[2][:300] for a in answers]
                bodies = [_timeless(a[2]) for a in answers]
                assert bodies[0] == bodies[1] == bodies[2], (key, suffix)
                assert len(answers[0][2]) > 10_000 if suffix == ".dods" else True
        index = [http(s.url + "/dap.json")[2].replace(s.url.encode(), b"BASE") for s in (*servers, embedded)]
        assert index[0] == index[1] == index[2]
    finally:
        for server in (*servers, embedded):
            server.stop()


def _timeless(body: bytes) -> bytes:
    """A DAP response without the lines stamped with the time it was computed."""
    lines = body.split(b"\n")
    return b"\n".join(line for line in lines if b"date_created" not in line and b"String history" not in line)
