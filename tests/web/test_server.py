"""The app behind gunicorn, started by `stream-engine serve` on a loopback port."""

from __future__ import annotations

import json
import re
import signal

import pytest

from stream_engine import __version__


def test_serve_answers_logs_and_stops_on_sigint(live_server, http_get) -> None:
    status, headers, body = http_get(live_server.url + "/version")
    assert status == 200
    assert headers["Content-Type"] == "application/json"
    info = json.loads(body)
    assert info["version"] == __version__
    assert info["store"] == "embedded"
    request_id = headers["X-Request-ID"]

    status, headers, body = http_get(live_server.url + "/nowhere.json")
    assert status == 404
    assert json.loads(body)["requestUUID"] == headers["X-Request-ID"]

    code, out = live_server.stop(signal.SIGINT)
    assert code == 0
    assert f"Stream Engine serving at {live_server.url}/ (DAP datasets at /dap/)" in out

    access = (live_server.log_dir / "stream_engine.access.log").read_text()
    line = next(line for line in access.splitlines() if request_id in line)
    assert re.search(r'"GET /version HTTP/1\.1" 200 \d+ ', line)
    assert re.search(r'"GET /nowhere\.json HTTP/1\.1" 404 \d+ ', access)
    errors = (live_server.log_dir / "stream_engine.error.log").read_text()
    assert "Using worker: stream_engine.web.worker.StreamEngineWorker" in errors


def test_serve_stops_on_sigterm(live_server, http_get) -> None:
    code, _ = live_server.stop(signal.SIGTERM)
    assert code == 0
    with pytest.raises(OSError):
        http_get(live_server.url + "/version", timeout=2)
