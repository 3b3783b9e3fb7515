"""Bad URLs, long constraints, the per-client bound, /health and aborted bodies (in-process)."""

from __future__ import annotations

import json

import pytest
from live_server import ensure_store
from webob import Request

from stream_engine import demo
from stream_engine.config import REPO_ROOT, load_settings
from stream_engine.preload import load_preload
from stream_engine.store.embedded import EmbeddedStore
from stream_engine.web.app import create_app
from stream_engine.web.connections import BODY_STATE
from stream_engine.web.errors import MAX_REQUEST_TARGET


@pytest.fixture(scope="module")
def settings(tmp_path_factory):
    folder = tmp_path_factory.mktemp("connections")
    ensure_store(folder / "data")
    with EmbeddedStore(folder / "data") as store:
        demo.fill_demo(store, load_preload(REPO_ROOT / "preload_database"))
    return load_settings(environ={"STREAM_ENGINE_LOG_DIR": str(folder / "logs"),
                                  "STREAM_ENGINE_DATA_DIR": str(folder / "data"),
                                  "STREAM_ENGINE_MAX_CLIENT_REQUESTS": "2"})


def _call(app, path: str, query: str = "", remote: str | None = None):
    """Run the WSGI app like a server: returns status, headers, the body iterable, environ."""
    environ = Request.blank("/").environ
    environ.update(PATH_INFO=path, QUERY_STRING=query, RAW_URI=path + ("?" + query if query else ""))
    if remote:
        environ["REMOTE_ADDR"] = remote
    seen = {}

    def start_response(status, headers, exc_info=None):
        seen["status"], seen["headers"] = int(status.split()[0]), dict(headers)

    body = app(environ, start_response)
    return seen["status"], seen["headers"], body, environ


def _read(body) -> bytes:
    try:
        return b"".join(body)
    finally:
        body.close()


@pytest.mark.parametrize("path", ["/dap/%ff/x.dds", "/version\xff", "/dap/A/B/C/D/\xc3\x28.dds"])
def test_invalid_utf8_in_the_path_is_400(settings, path) -> None:
    app = create_app(settings)
    status, headers, body, _ = _call(app, path)
    text = _read(body).decode()
    assert "Traceback" not in text
    if "%" in path:  # a percent-escape in PATH_INFO is literal text: no such dataset
        assert status == 404 and text.startswith("Error {")
        return
    assert status == 400 and "UTF-8" in text
    if path.startswith("/dap/"):
        assert text.startswith("Error {"), "DAP errors under /dap/"


def test_overlong_request_line_is_414_in_the_interface_format(settings) -> None:
    app = create_app(settings)
    query = "time," * (MAX_REQUEST_TARGET // 5 + 10)
    status, _, body, _ = _call(app, f"/dap/{demo.CTD.path}.dds", query)
    text = _read(body).decode()
    assert status == 414 and text.startswith("Error {") and "fewer variables" in text
    status, _, body, _ = _call(app, "/version", "x=" + "y" * MAX_REQUEST_TARGET)
    assert status == 414 and json.loads(_read(body))["code"] == 414


def test_a_constraint_of_more_than_8_kb_works(settings) -> None:
    app = create_app(settings)
    names = ["time", "temperature", "conductivity", "pressure"]
    # a client that names every variable with its hyperslab, repeatedly (repeats are allowed)
    query = ",".join(f"{names[i % len(names)]}[0:1:99]" for i in range(500))
    assert len(query) > 8192
    status, _, body, _ = _call(app, f"/dap/{demo.CTD.path}.dds", query)
    text = _read(body).decode()
    assert status == 200, text[:300]
    assert "temperature" in text


def test_a_client_gets_429_beyond_its_bound_and_health_still_answers(settings) -> None:
    app = create_app(settings)
    held = [_call(app, f"/dap/{demo.CTD.path}.dods", "time", remote="10.0.0.7") for _ in range(2)]
    assert [h[0] for h in held] == [200, 200]
    status, headers, body, _ = _call(app, f"/dap/{demo.CTD.path}.dds", remote="10.0.0.7")
    assert status == 429 and headers["Retry-After"] and _read(body).startswith(b"Error {")
    status, _, body, _ = _call(app, "/health", remote="10.0.0.7")
    assert status == 200 and json.loads(_read(body))["status"] == "ok"
    status, _, body, _ = _call(app, f"/dap/{demo.CTD.path}.dds", remote="10.0.0.8")
    assert status == 200, "other clients are served"
    _read(body)
    for _, _, body, _ in held:
        body.close()
    status, _, body, _ = _call(app, f"/dap/{demo.CTD.path}.dds", remote="10.0.0.7")
    assert status == 200, "closing the responses gives the slots back"
    _read(body)


def test_body_state_tells_complete_from_cut_short(settings) -> None:
    app = create_app(settings)
    status, _, body, environ = _call(app, f"/dap/{demo.CTD.path}.dods", "time")
    assert status == 200
    _read(body)
    assert environ[BODY_STATE] == "complete"
    status, _, body, environ = _call(app, f"/dap/{demo.CTD.path}.dods", "time")
    next(iter(body))
    body.close()  # the client went away after the first chunk
    assert environ[BODY_STATE] == "incomplete"
    log = (settings.path("LOG_DIR") / "stream_engine.error.log").read_text()
    assert "cut short" in log and environ["stream_engine.request_id"] in log
