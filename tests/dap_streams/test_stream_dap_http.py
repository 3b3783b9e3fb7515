"""The /dap/ routes over HTTP (a real server) and in-process: listing, responses, every error
class with its status and DAP body, conditional requests, HEAD, CORS, Content-Length."""

from __future__ import annotations

import json
import re
import time

import pytest
from live_server import http
from stream_servers import SIZE_CAP, dap_url, in_process_app
from webob import Request

from stream_engine import demo

OPTODE_URL_PATH = f"/dap/{demo.OPTODE.path}"


def test_index_lists_every_stream_with_links(live, engine_store):
    status, headers, body = http(live.url + "/dap/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    page = body.decode()
    for coverage in engine_store.streams():
        assert f'href="{live.url}/dap/{coverage.key.path}.html"' in page
        assert f"{coverage.count:,}" in page
    assert headers["Link"] == f'<{live.url}/dap.json>; rel="alternate"; type="application/json"'
    status, _, body = http(live.url + "/dap.json")
    listed = json.loads(body)["datasets"]
    assert status == 200
    assert [d["url"] for d in listed] == [dap_url(live.url, c.key) for c in engine_store.streams()]
    optode = next(d for d in listed if d["stream"] == demo.OPTODE.stream)
    assert optode["count"] == engine_store.coverage(demo.OPTODE).count
    assert optode["time_coverage_start"] == "2019-05-01T00:00:20.698Z"


def test_index_escapes_html(tmp_path, engine_store, curated):
    app = in_process_app(engine_store, curated, tmp_path, BASE_URL='http://x/"><b>')
    page = Request.blank("/dap/").get_response(app).text
    assert '"><b>' not in page and "&#34;&gt;&lt;b&gt;" in page


def test_responses_of_a_stream(live, engine_store):
    url = dap_url(live.url, demo.OPTODE)
    count = engine_store.coverage(demo.OPTODE).count
    status, headers, body = http(url + ".dds")
    assert status == 200 and headers["Content-Description"] == "dods_dds"
    dds = body.decode()
    assert dds.startswith(f"Dataset {{\n    Float64 time[obs = {count}];\n    Int32 deployment")
    assert f"    String serial_number[obs = {count}];" in dds
    assert f"    Float32 dissolved_oxygen[obs = {count}];" in dds
    assert int(headers["Content-Length"]) == len(body)
    assert headers["Access-Control-Allow-Origin"] == "*"
    for suffix, kind in ((".html", "text/html"), ("", "text/html"), (".info", "text/html"),
                         (".ver", "application/json"), (".das", "text/plain")):
        status, headers, body = http(url + suffix)
        assert status == 200 and headers["Content-Type"].startswith(kind), suffix
    assert b"dissolved_oxygen" in http(url)[2]
    status, headers, body = http(url + ".ascii?dissolved_oxygen%5B0:1:2%5D")
    assert status == 200
    assert body.decode().split("\n")[-3].count(",") == 2
    status, headers, body = http(url + ".dods?time[0:9],dissolved_oxygen[0:9]")
    assert status == 200 and int(headers["Content-Length"]) == len(body)
    assert body.index(b"Data:\n") > 0


def test_head_sends_headers_only(live):
    url = dap_url(live.url, demo.CTD)
    status, headers, body = http(url + ".das", method="HEAD")
    assert status == 200 and body == b""
    assert int(headers["Content-Length"]) == len(http(url + ".das")[2])


def test_conditional_get(live):
    url = dap_url(live.url, demo.CTD) + ".das"
    status, headers, _ = http(url)
    etag, last_modified = headers["ETag"], headers["Last-Modified"]
    assert http(url)[1]["ETag"] == etag
    assert last_modified == "Mon, 03 Jun 2019 00:00:00 GMT" or last_modified.endswith("GMT")
    status, headers, body = http(url, {"If-None-Match": etag})
    assert status == 304 and body == b"" and headers["ETag"] == etag
    assert http(url, {"If-None-Match": '"stale"'})[0] == 200
    assert http(dap_url(live.url, demo.OPTODE) + ".das")[1]["ETag"] != etag


def _dap_error(body: bytes) -> tuple[int, str]:
    match = re.fullmatch(rb'Error \{\n    code = (\d+);\n    message = "(.*)";\n\};\n', body, re.S)
    assert match, body
    return int(match.group(1)), match.group(2).decode()


@pytest.mark.parametrize(
    ("query", "status", "code", "words"),
    [
        ("time[", 400, 1005, "malformed hyperslab"),
        ("time[0:40320]", 400, 1005, "out of range"),
        ("sea_water_density[5:2]", 400, 1005, "starts after it stops"),
        ("time&pressure>3", 400, 1005, "only time can be selected by value"),
        ("no_such_thing", 404, 1004, "no variable 'no_such_thing'"),
        ("", 413, 413, "e.g. about"),
    ],
)
def test_errors_have_status_and_dap_body(live, query, status, code, words):
    url = dap_url(live.url, demo.CTD) + ".dods" + (f"?{query}" if query else "")
    got, headers, body = http(url)
    assert got == status
    assert headers["Content-Description"] == "dods_error"
    assert _dap_error(body)[0] == code and words in _dap_error(body)[1]
    if status == 413:
        assert f"exceeds the limit of {SIZE_CAP / 1e6:.1f} MB" in _dap_error(body)[1]


def test_unknown_stream_and_bad_paths(live):
    status, headers, body = http(f"{live.url}/dap/CE07SHSM/MFD37/03-CTDBPC000/recovered_inst/nothing.dds")
    assert status == 404
    code, message = _dap_error(body)
    assert code == 404 and "no stream 'CE07SHSM/MFD37/03-CTDBPC000/recovered_inst/nothing'" in message
    status, _, body = http(dap_url(live.url, demo.CTD) + ".nc")
    assert status == 404 and _dap_error(body)[0] == 1003


def test_access_log_records_dap_requests(live):
    http(dap_url(live.url, demo.FLUOROMETER) + ".dds")
    pattern = re.compile(rf'"GET /dap/{re.escape(demo.FLUOROMETER.path)}\.dds HTTP/1\.1" 200 \d+')
    for _ in range(50):  # gunicorn writes the line after the response is sent
        if pattern.search((live.log_dir / "stream_engine.access.log").read_text()):
            break
        time.sleep(0.1)
    assert pattern.search((live.log_dir / "stream_engine.access.log").read_text())


def test_in_process_routes(tmp_path, engine_store, curated):
    app = in_process_app(engine_store, curated, tmp_path)
    response = Request.blank(OPTODE_URL_PATH + ".dds").get_response(app)
    assert response.status_int == 200 and "Float32 dissolved_oxygen" in response.text
    response = Request.blank(OPTODE_URL_PATH + ".dods?nope").get_response(app)
    assert response.status_int == 404 and "code = 1004" in response.text
    response = Request.blank("/dap/a/b/c/d/e.das").get_response(app)
    assert response.status_int == 404 and response.text.startswith("Error {")
    assert Request.blank("/dap").get_response(app).status_int == 200
    small = in_process_app(engine_store, curated, tmp_path, DAP_MAX_RESPONSE_BYTES=1000)
    response = Request.blank(OPTODE_URL_PATH + ".dods?time").get_response(small)
    assert response.status_int == 413 and "time[0:" in response.text
