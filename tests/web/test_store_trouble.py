"""A missing, deleted or damaged store is a 503 the operator sees, never a new empty store."""

from __future__ import annotations

import json
import os

import pytest
from webob import Request

from stream_engine import demo
from stream_engine.config import REPO_ROOT, load_settings
from stream_engine.logs import error_log_path
from stream_engine.preload import load_preload
from stream_engine.store.embedded import FILENAME, EmbeddedStore
from stream_engine.web.app import create_app


@pytest.fixture
def settings(tmp_path):
    return load_settings(environ={"STREAM_ENGINE_LOG_DIR": str(tmp_path / "logs"),
                                  "STREAM_ENGINE_DATA_DIR": str(tmp_path / "data")})


def _filled(settings) -> None:
    with EmbeddedStore(settings.path("DATA_DIR")) as store:
        demo.fill_demo(store, load_preload(REPO_ROOT / "preload_database"))


def _check_reported(settings, response, kind: str) -> None:
    """503, no path in the body, and an ERROR line in the log naming the request id."""
    assert response.status_code == 503
    body = response.body.decode()
    assert str(settings.path("DATA_DIR")) not in body and FILENAME not in body
    assert "data store is unavailable" in body
    if kind == "json":
        assert json.loads(body)["code"] == 503
    else:
        assert body.startswith("Error {")
    request_id = response.headers["X-Request-ID"]
    log = error_log_path(settings).read_text()
    lines = [line for line in log.splitlines() if request_id in line]
    assert lines and "[ERROR]" in lines[0], log[-2000:]
    assert str(settings.path("DATA_DIR")) in log, "the operator's log names the file"


def test_missing_store_is_503_and_is_not_created(settings) -> None:
    app = create_app(settings)
    response = Request.blank("/dap.json").get_response(app)
    _check_reported(settings, response, "json")
    response = Request.blank(f"/dap/{demo.CTD.path}.dds").get_response(app)
    _check_reported(settings, response, "dap")
    assert not (settings.path("DATA_DIR") / FILENAME).exists()


def test_store_deleted_under_the_server_is_503_and_not_recreated(settings) -> None:
    _filled(settings)
    app = create_app(settings)
    assert Request.blank(f"/dap/{demo.CTD.path}.dds").get_response(app).status_code == 200
    for suffix in ("", "-wal", "-shm"):
        path = settings.path("DATA_DIR") / (FILENAME + suffix)
        if path.exists():
            os.unlink(path)
    response = Request.blank(f"/dap/{demo.CTD.path}.dods?time[0:9]").get_response(app)
    _check_reported(settings, response, "dap")
    _check_reported(settings, Request.blank("/dap.json").get_response(app), "json")
    assert not (settings.path("DATA_DIR") / FILENAME).exists()


def test_damaged_store_is_503_without_path(settings) -> None:
    _filled(settings)
    path = settings.path("DATA_DIR") / FILENAME
    size = path.stat().st_size
    with open(path, "r+b") as damaged:  # keep the header and the first pages (schema), ruin data
        damaged.seek(size // 3)
        damaged.write(b"\xa5" * (size // 3))
    app = create_app(settings)
    response = Request.blank(f"/dap/{demo.CTD.path}.dods").get_response(app)
    if response.status_code == 200:
        body = b"".join(response.app_iter)
        pytest.fail(f"a damaged store answered 200 ({len(body)} bytes)")
    _check_reported(settings, response, "dap")
