"""handle_dap: statuses, headers, size cap, conditional GET, errors before any data."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
import pytest

from dap_handlers.app import handle_dap
from dap_handlers.model import DapDataset, DapVariable
from dap_handlers.responses.dods import dods_length
from stream_engine.errors import StoreUnavailable

LAST_MODIFIED = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


@pytest.fixture
def dataset() -> DapDataset:
    return DapDataset(
        "ctd",
        [
            DapVariable.from_array("time", np.arange(1000.0), ["obs"], {"units": "s"}),
            DapVariable.from_array(
                "temp", np.arange(1000.0) / 7, ["obs"], {"long_name": "<b>T</b>"}
            ),
        ],
        {"title": "CTD <script>"},
    )


def body(response) -> bytes:
    return b"".join(response.body_iter)


def call(dataset, suffix, query="", **kwargs):
    kwargs.setdefault("max_response_bytes", 10**6)
    return handle_dap(dataset, suffix, query, **kwargs)


@pytest.mark.parametrize(
    ("suffix", "content_type", "description"),
    [
        ("dds", "text/plain; charset=utf-8", "dods_dds"),
        (".das", "text/plain; charset=utf-8", "dods_das"),
        ("dods", "application/octet-stream", "dods_data"),
        ("ascii", "text/plain; charset=utf-8", "dods_ascii"),
        ("asc", "text/plain; charset=utf-8", "dods_ascii"),
        ("html", "text/html; charset=utf-8", "dods_form"),
        ("info", "text/html; charset=utf-8", "dods_info"),
        ("ver", "application/json", "dods_version"),
    ],
)
def test_headers_of_each_response(dataset, suffix, content_type, description):
    response = call(dataset, suffix, last_modified=LAST_MODIFIED, etag="abc")
    assert response.status == 200
    assert response.header("Content-Type") == content_type
    assert response.header("Content-Description") == description
    assert response.header("XDODS-Server") == "dods/2.0"
    assert response.header("XDAP") == "2.0"
    assert response.header("Access-Control-Allow-Origin") == "*"
    assert response.header("Last-Modified") == "Wed, 01 May 2024 12:00:00 GMT"
    assert response.header("ETag") == '"abc"'
    data = body(response)
    length = response.header("Content-Length")
    if suffix not in ("ascii", "asc"):
        assert int(length) == len(data)


def test_dods_content_length_is_exact(dataset):
    response = call(dataset, "dods", "temp[0:9]")
    data = body(response)
    assert int(response.header("Content-Length")) == len(data)
    np.testing.assert_array_equal(
        np.frombuffer(data.partition(b"Data:\n")[2][8:], ">f8"), np.arange(10.0) / 7
    )


@pytest.mark.parametrize(
    ("suffix", "query", "status", "code"),
    [
        ("dods", "time[0:1000]", 400, 1005),
        ("dds", "time[3:1]", 400, 1005),
        ("ascii", "time&time>3", 400, 1005),
        ("dods", "salinity", 404, 1004),
        ("nc", "", 404, 1003),
    ],
)
def test_errors_are_dap_error_bodies(dataset, suffix, query, status, code):
    response = call(dataset, suffix, query)
    text = body(response).decode()
    assert response.status == status
    assert response.header("Content-Description") == "dods_error"
    assert text.startswith(f'Error {{\n    code = {code};\n    message = "')
    assert text.endswith('";\n};\n')
    assert "Traceback" not in text


def test_too_large_is_413_with_a_hint(dataset):
    response = call(dataset, "dods", "", max_response_bytes=4000)
    text = body(response).decode()
    assert response.status == 413
    assert "code = 413" in text
    assert f"{dods_length(dataset):,} bytes for time, temp exceeds the limit of 4,000 bytes" in text
    assert "time[0:" in text
    rows = int(text.split("time[0:")[1].split("]")[0]) + 1
    ok = call(dataset, "dods", f"time[0:{rows - 1}],temp[0:{rows - 1}]", max_response_bytes=4000)
    assert ok.status == 200 and len(body(ok)) <= 4000


def test_conditional_get(dataset):
    by_etag = call(dataset, "das", etag="v7", request_headers={"If-None-Match": '"v7"'})
    assert by_etag.status == 304 and body(by_etag) == b""
    assert by_etag.header("ETag") == '"v7"'
    changed = call(dataset, "das", etag="v8", request_headers={"If-None-Match": '"v7"'})
    assert changed.status == 200
    since = {"If-Modified-Since": "Wed, 01 May 2024 12:00:00 GMT"}
    assert call(dataset, "dds", last_modified=LAST_MODIFIED, request_headers=since).status == 304
    older = {"If-Modified-Since": "Wed, 01 May 2024 11:59:59 GMT"}
    assert call(dataset, "dds", last_modified=LAST_MODIFIED, request_headers=older).status == 200


def test_bad_constraint_wins_over_conditional_get(dataset):
    response = call(dataset, "dods", "nope", etag="v7", request_headers={"If-None-Match": '"v7"'})
    assert response.status == 404


def test_failure_in_first_block_becomes_an_error_before_data():
    def unavailable(key):
        raise StoreUnavailable("store at 10.0.0.1 is unreachable; retry later")

    dataset = DapDataset("d", [DapVariable("x", "f8", (10,), ("obs",), unavailable)])
    response = call(dataset, "dods", request_id="r-42")
    assert response.status == 503
    text = body(response).decode()
    assert "data store is unavailable" in text and "(request r-42)" in text
    assert "10.0.0.1" not in text, "store internals (hosts, paths) stay in the log"


def test_unexpected_exception_is_500_without_internals(dataset):
    def broken(key):
        raise ZeroDivisionError("secret internal detail")

    response = call(DapDataset("d", [DapVariable("x", "f8", (3,), ("obs",), broken)]), "ascii")
    text = body(response).decode()
    assert response.status == 500
    assert "code = 1002" in text and "secret" not in text


def test_html_form_and_info_are_escaped(dataset):
    form = body(call(dataset, "html")).decode()
    assert 'value="temp"' in form and 'value="0:1:999"' in form
    assert "CTD &lt;script&gt;" in form and "<script>" not in form.split("<script>\n", 1)[0]
    assert "&lt;b&gt;T&lt;/b&gt;" in form
    info = body(call(dataset, "info")).decode()
    assert "Float64 time[obs = 1000];" in info and 'id="dap-form"' not in info


def test_version_and_help(dataset):
    assert json.loads(body(call(dataset, "ver")))["dap_protocol"] == "2.0"
    assert b"Constraint expressions" in body(call(dataset, "help"))


def test_das_ignores_the_constraint_and_dds_honours_it(dataset):
    das = call(dataset, "das", "temp[0:1]")
    assert das.status == 200 and b"    time {\n" in body(das)
    dds = body(call(dataset, "dds", "temp%5B0:2:4%5D"))
    assert dds == b"Dataset {\n    Float64 temp[obs = 3];\n} ctd;\n"
