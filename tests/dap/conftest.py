"""Fixtures of the DAP layer: a loopback server around ``handle_dap``."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from wsgiref.simple_server import WSGIServer, make_server

import pytest
from dap_fixtures import DapTestServer, QuietHandler, sample_dataset


@pytest.fixture(scope="session")
def dap_server() -> Iterator[DapTestServer]:
    app = DapTestServer(sample_dataset())
    server: WSGIServer = make_server("127.0.0.1", 0, app, handler_class=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    app.url = f"http://127.0.0.1:{server.server_port}/dap/{app.dataset.name}"
    yield app
    server.shutdown()
    server.server_close()
