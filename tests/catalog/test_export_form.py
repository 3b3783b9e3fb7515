"""The stream page's request form: the request body it builds, and how it is run."""

from __future__ import annotations

import json

import orjson
import pytest
from html_checks import validate
from live_server import http
from webob import Request, Response
from webob.multidict import MultiDict

import stream_engine.web.routes as routes
from stream_engine import demo
from stream_engine.errors import BadRequest
from stream_engine.web.app import create_app
from stream_engine.web.routes import Route
from stream_engine.web.views.base import View, json_response
from stream_engine.web.views.export import request_body

KEY = demo.CTD


def _form(**fields) -> MultiDict:
    form = MultiDict()
    for name, value in fields.items():
        for item in value if isinstance(value, list) else [value]:
            form.add(name, item)
    return form


def test_json_records_body() -> None:
    target, body = request_body(_form(parameter=["13", "193"], start="2019-05-02", stop="2019-05-03T06:00:00Z",
                                      output="json", delivery="sync", limit="500",
                                      include_provenance="true"), KEY)
    assert target == "particles"
    assert body == {
        "streams": [{"subsite": KEY.subsite, "node": KEY.node, "sensor": KEY.sensor,
                     "method": KEY.method, "stream": KEY.stream, "parameters": [13, 193]}],
        "start": 3765744000.0, "stop": 3765744000.0 + 86400 + 6 * 3600, "limit": 500,
        "include_provenance": True,
    }
    assert body["start"] - 2208988800 == 1556755200  # 2019-05-02T00:00:00Z in Unix seconds


def test_file_and_job_bodies() -> None:
    assert request_body(_form(output="tab"), KEY) == ("tab", {
        "streams": [{"subsite": KEY.subsite, "node": KEY.node, "sensor": KEY.sensor,
                     "method": KEY.method, "stream": KEY.stream, "parameters": []}],
        "include_provenance": False})
    target, body = request_body(_form(output="tab", delivery="async"), KEY)
    assert target == "jobs" and body["format"] == "tsv"
    assert request_body(_form(output="netcdf", delivery="async"), KEY)[1]["format"] == "netcdf"


@pytest.mark.parametrize(
    ("fields", "words"),
    [({"output": "xml"}, "output must be one of"), ({"parameter": "PD13"}, "whole numbers"),
     ({"start": "soon"}, "neither an ISO 8601"), ({"start": "2019-05-03", "stop": "2019-05-02"}, "before start"),
     ({"output": "csv", "limit": "10"}, "JSON records only"), ({"limit": "-1"}, "above 0"),
     ({"delivery": "async"}, "answered at once")],
)
def test_bad_forms_are_refused(fields, words) -> None:
    with pytest.raises(BadRequest, match=words):
        request_body(_form(**fields), KEY)


class _Echo(View):
    def post(self, request: Request) -> Response:
        return json_response({"path": request.path, "body": orjson.loads(request.body),
                              "url": request.application_url})


def test_run_hands_the_body_to_the_api_route(monkeypatch, settings_for_app) -> None:
    monkeypatch.setattr(routes, "ROUTES", (Route("/particles", _Echo), *routes.ROUTES))
    app = create_app(settings_for_app)
    form = {"action": "run", "output": "json", "start": "2019-05-02", "parameter": "13"}
    response = Request.blank(f"/catalog/{KEY.path}/export", POST=form,
                             base_url="http://example.org/se").get_response(app)
    assert response.status_code == 200
    echoed = response.json
    assert echoed["path"] == "/se/particles" or echoed["path"] == "/particles"
    assert echoed["url"] == "http://example.org/se"
    assert echoed["body"]["streams"][0]["parameters"] == [13]


def test_show_and_unavailable_routes_over_http(catalog_server) -> None:
    url = f"{catalog_server.url}/catalog/{KEY.path}/export"
    data = "action=show&output=csv&start=2019-05-02&stop=2019-05-03&parameter=13&parameter=193"
    import urllib.request

    with urllib.request.urlopen(urllib.request.Request(url, data=data.encode())) as answer:
        page = answer.read().decode()
    checked = validate(url, page)
    shown = page.split('<code id="request-body">')[1].split("</code>")[0].replace("&#34;", '"')
    assert json.loads(shown)["streams"][0]["parameters"] == [13, 193]
    assert f"{catalog_server.url}/csv" in checked.text
    status, _, body = http(url)  # GET is not how the form is sent
    assert status == 405


def test_run_json_records_through_the_real_particles_route(catalog_server, catalog_store) -> None:
    if not any(r.match("/particles") is not None for r in routes.ROUTES):
        pytest.skip("POST /particles is not part of this build")
    import urllib.request

    url = f"{catalog_server.url}/catalog/{KEY.path}/export"
    data = "action=run&output=json&delivery=sync&start=2019-05-02T00:00:00&stop=2019-05-02T01:00:00"
    with urllib.request.urlopen(urllib.request.Request(url, data=data.encode())) as answer:
        assert answer.headers["Content-Type"].startswith("application/json")
        particles = json.loads(answer.read())
    assert len(particles) == 60  # one CTD record a minute
    assert particles[0]["pk"]["stream"] == KEY.stream
    assert 33 < particles[0]["sea_water_practical_salinity"] < 34.5


def test_download_hands_a_whole_stream_request_to_the_export_route(monkeypatch, settings_for_app) -> None:
    app = create_app(settings_for_app)
    status = Request.blank(f"/download/{KEY.path}").get_response(app)
    if not any(r.match("/netcdf") is not None for r in routes.ROUTES):
        assert status.status_code == 501 and "POST /netcdf" in status.text
    monkeypatch.setattr(routes, "ROUTES", (Route("/netcdf", _Echo), Route("/csv", _Echo),
                                           *routes.ROUTES))
    echoed = Request.blank(f"/download/{KEY.path}").get_response(app).json
    assert echoed["path"] == "/netcdf"
    assert echoed["body"] == {"streams": [{"subsite": KEY.subsite, "node": KEY.node,
                                           "sensor": KEY.sensor, "method": KEY.method,
                                           "stream": KEY.stream, "parameters": []}],
                              "include_provenance": False}
    echoed = Request.blank(f"/download/{KEY.path}?format=csv&start=2019-05-02").get_response(app).json
    assert echoed["path"] == "/csv" and echoed["body"]["start"] == 3765744000.0
    refused = Request.blank(f"/download/{KEY.path}?format=json").get_response(app)
    assert refused.status_code == 400 and "downloads are files" in refused.text


def test_unknown_job_page_is_an_html_404(catalog_server) -> None:
    if not any(r.match("/jobs/x") is not None for r in routes.ROUTES):
        pytest.skip("no export jobs in this build")
    status, headers, body = http(f"{catalog_server.url}/catalog/jobs/0123456789abcdef")
    assert status == 404 and headers["Content-Type"].startswith("text/html")
    assert "0123456789abcdef" in body.decode()
