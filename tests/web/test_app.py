"""The WSGI app in-process: /version, routing errors, the one exception handler."""

from __future__ import annotations

import re
import threading
import uuid
from importlib import metadata

import orjson
import pytest
from webob import Request, Response

import stream_engine.store
from stream_engine.config import REPO_ROOT
from stream_engine.errors import StoreUnavailable, TooLarge
from stream_engine.logs import error_log_path
from stream_engine.web.app import create_app
from stream_engine.web.routes import ROUTES, Route
from stream_engine.web.views.base import View, json_response


def _release_notes_version() -> str:
    text = (REPO_ROOT / "RELEASE_NOTES.md").read_text(encoding="utf-8")
    return re.search(r"^##\s+.*?Release\s+(\d+\.\d+\.\d+)", text, re.MULTILINE).group(1)


def _json(response: Response) -> dict:
    assert response.content_type == "application/json"
    return orjson.loads(response.body)


def test_version_reports_engine_dependencies_store_and_preload(settings) -> None:
    response = Request.blank("/version").get_response(create_app(settings))
    assert response.status_code == 200
    body = _json(response)
    assert body["name"] == "stream-engine"
    assert body["version"] == _release_notes_version()
    assert body["store"] == "embedded"
    assert body["preload"] == str(REPO_ROOT / "preload_database")
    assert body["python"] == ".".join(map(str, __import__("sys").version_info[:3]))
    deps = body["dependencies"]
    for name in ("numpy", "xarray", "netCDF4", "pydap", "webob", "gunicorn", "gsw", "numexpr",
                 "cassandra-driver", "orjson"):
        assert deps[name] == metadata.version(name), name
    assert "pytest" not in deps


def test_version_reads_the_installed_packages_once_per_process(settings, monkeypatch) -> None:
    from stream_engine.web.views import version

    reads = []
    monkeypatch.setattr(version, "installed_version", lambda name: reads.append(name) or f"1.{len(reads)}")
    app = create_app(settings)
    version.dependency_versions.cache_clear()
    try:
        first, second = (_json(Request.blank("/version").get_response(app))["dependencies"] for _ in range(2))
    finally:
        version.dependency_versions.cache_clear()  # the other tests read the real versions
    assert first == second
    assert sorted(reads) == sorted(first)  # each dependency read once, by the first request
    assert first["numpy"].startswith("1.")


def test_version_head_has_no_body(settings) -> None:
    response = Request.blank("/version", method="HEAD").get_response(create_app(settings))
    assert response.status_code == 200
    assert response.body == b""


def test_unknown_route_is_404_json_with_request_id(settings) -> None:
    response = Request.blank(
        "/no/such/thing", headers={"Accept": "application/json"}
    ).get_response(create_app(settings))
    assert response.status_code == 404
    body = _json(response)
    assert body["code"] == 404
    assert "/no/such/thing" in body["message"]
    assert body["requestUUID"] == response.headers["X-Request-ID"]
    assert uuid.UUID(body["requestUUID"]).version == 4


def test_unknown_json_path_is_404_json(settings) -> None:
    response = Request.blank("/no/such/thing.json").get_response(create_app(settings))
    assert response.status_code == 404
    assert _json(response)["code"] == 404


def test_unknown_path_in_a_browser_is_an_html_page_linking_to_the_catalog(settings) -> None:
    response = Request.blank(
        "/no/such/<thing>", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    ).get_response(create_app(settings))
    assert response.status_code == 404
    assert response.content_type == "text/html"
    page = response.text
    assert "/no/such/&lt;thing&gt;" in page and "<thing>" not in page
    assert '<a href="/">catalog' in page
    assert response.headers["X-Request-ID"] in page


def test_unknown_dap_path_gets_a_dap_error(settings) -> None:
    response = Request.blank("/dap/A/B/C-D/telemetered/x.dds").get_response(create_app(settings))
    assert response.status_code == 404
    assert response.body.startswith(b"Error {\n    code = 404;\n    message = \"")
    assert response.body.endswith(b"\";\n};\n")


def test_wrong_method_is_405_with_allow(settings) -> None:
    response = Request.blank("/version", method="POST").get_response(create_app(settings))
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET, HEAD"
    body = _json(response)
    assert body["code"] == 405
    assert "POST" in body["message"]


class _Boom(View):
    def get(self, request):
        raise RuntimeError("secret internals /etc/passwd")


class _Engine(View):
    def get(self, request, kind):
        raise {"big": TooLarge("request would return 9e9 values; ask for less"),
               "down": StoreUnavailable("store is down; try later")}[kind]


class _Echo(View):
    def get(self, request, name, rest):
        return json_response({"name": name, "rest": rest})

    def post(self, request, name, rest):
        return json_response({"posted": name}, status=201)


@pytest.fixture
def test_app(settings):
    extra = (Route("/boom", _Boom), Route("/engine/{kind}", _Engine),
             Route("/echo/{name}/{rest:path}", _Echo))
    return create_app(settings, routes=ROUTES + extra)


def test_unexpected_error_is_500_without_traceback_and_logged(test_app, settings) -> None:
    response = Request.blank("/boom").get_response(test_app)
    assert response.status_code == 500
    body = _json(response)
    assert body == {"message": "Unexpected internal error", "requestUUID": body["requestUUID"], "code": 500}
    assert b"Traceback" not in response.body and b"secret" not in response.body
    log = error_log_path(settings).read_text()
    assert "Traceback (most recent call last)" in log
    assert "RuntimeError: secret internals /etc/passwd" in log
    assert body["requestUUID"] in log


@pytest.mark.parametrize(("kind", "status", "text"), [("big", 413, "ask for less"), ("down", 503, "data store is unavailable")])
def test_engine_errors_keep_status_and_message(test_app, kind, status, text) -> None:
    response = Request.blank(f"/engine/{kind}").get_response(test_app)
    assert response.status_code == status
    body = _json(response)
    assert body["code"] == status
    assert text in body["message"]


def test_placeholders_reach_the_view(test_app) -> None:
    response = Request.blank("/echo/ctd/a/b/c.nc").get_response(test_app)
    assert _json(response) == {"name": "ctd", "rest": "a/b/c.nc"}
    response = Request.blank("/echo/ctd/x", method="POST").get_response(test_app)
    assert response.status_code == 201
    response = Request.blank("/echo/ctd/x", method="DELETE").get_response(test_app)
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET, HEAD, POST"


def test_store_opened_once_per_process_and_shared(settings, monkeypatch) -> None:
    opened = []

    class FakeStore:
        def close(self) -> None:
            opened.append("closed")

    def fake_open(s, *, create=True):
        assert create is False, "a server must never create its store"
        opened.append(s)
        return FakeStore()

    monkeypatch.setattr(stream_engine.store, "open_store", fake_open)
    app = create_app(settings)
    assert opened == []
    seen = []
    threads = [threading.Thread(target=lambda: seen.append(app.context.store)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert opened == [settings]
    assert len({id(s) for s in seen}) == 1
    app.context.close()
    assert opened[-1] == "closed"
