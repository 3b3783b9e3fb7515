"""Property-based fuzzing of constraint expressions and URL paths: never a 500, never a
traceback, always a DAP error of the right class."""

from __future__ import annotations

import urllib.parse

import pytest
from dap_fixtures import sample_dataset
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from live_server import ensure_store
from webob import Request

from dap_handlers.app import handle_dap
from dap_handlers.constraints import apply_constraint
from dap_handlers.errors import ConstraintError, DapError, NoSuchVariable
from stream_engine.config import load_settings
from stream_engine.web.app import create_app

DATASET = sample_dataset()
NAMES = [v.name for v in DATASET.variables] + ["nope", "time.x", "spectra"]
#: The status each DAP error class must come with.
STATUSES = {ConstraintError: 400, NoSuchVariable: 404}

numbers = st.one_of(st.integers(-3, 60), st.just(2**63), st.sampled_from(["", "-1", "x", "1e3", " "]))
hyperslab = st.builds(
    lambda parts: "[" + ":".join(str(p) for p in parts) + "]",
    st.lists(numbers, min_size=0, max_size=4),
)
projection = st.builds(lambda name, slabs: name + "".join(slabs), st.sampled_from(NAMES),
                       st.lists(hyperslab, max_size=3))
selection = st.builds(lambda name, op, value: f"&{name}{op}{value}", st.sampled_from(NAMES),
                      st.sampled_from(["=", "!=", "<", "<=", ">", ">=", "=~", ""]),
                      st.one_of(st.integers(), st.floats(allow_nan=True), st.text(max_size=5)))
structured = st.builds(lambda ps, ss: ",".join(ps) + "".join(ss), st.lists(projection, max_size=5),
                       st.lists(selection, max_size=2))
constraints = st.one_of(
    structured,
    structured.map(urllib.parse.quote),
    st.text(max_size=60),
    st.binary(max_size=40).map(lambda b: urllib.parse.quote_from_bytes(b)),
)


@settings(max_examples=200, deadline=None)
@given(constraints)
def test_constraints_parse_or_raise_a_dap_error(query: str) -> None:
    try:
        apply_constraint(DATASET, query)
    except DapError as exc:
        kind = next((k for k in STATUSES if isinstance(exc, k)), None)
        assert kind is not None, f"{type(exc).__name__} is neither malformed nor unknown variable"
        assert exc.status == STATUSES[kind] and str(exc)


@settings(max_examples=100, deadline=None)
@given(constraints, st.sampled_from(["dds", "dods", "ascii", "das"]))
def test_responses_to_any_constraint_are_data_or_a_dap_error(query: str, kind: str) -> None:
    answer = handle_dap(DATASET, kind, query, max_response_bytes=10**7)
    body = b"".join(answer.body_iter)
    assert answer.status in (200, 400, 404, 413), (answer.status, body[:200])
    assert b"Traceback" not in body
    if answer.status != 200:
        assert body.startswith(b"Error {") and answer.header("Content-Description") == "dods_error"


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz")
    ensure_store(folder / "data")
    return create_app(load_settings(environ={"STREAM_ENGINE_LOG_DIR": str(folder / "logs"),
                                             "STREAM_ENGINE_DATA_DIR": str(folder / "data")}))


segment = st.one_of(
    st.text(min_size=1, max_size=12).filter(lambda s: "/" not in s and "?" not in s and "#" not in s),
    st.binary(min_size=1, max_size=8).map(lambda b: urllib.parse.quote_from_bytes(b, safe="")),
    st.sampled_from(["CE02SHSM", "..", ".", "%ff", "x.dods", "x.dds", "x.nope", "%00", "~"]),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(segment, min_size=0, max_size=7), st.sampled_from(["/dap/", "/", "/catalog/"]),
       st.text(max_size=30))
def test_any_url_path_is_answered_without_500(app, segments, root, query) -> None:
    path = root + "/".join(segments)
    raw = urllib.parse.unquote_to_bytes(path).decode("latin-1")  # as a server puts it in PATH_INFO
    environ = Request.blank("/").environ
    environ.update(PATH_INFO=raw, QUERY_STRING=urllib.parse.quote(query), RAW_URI=path)
    request = Request(environ)
    response = request.get_response(app)
    body = response.body
    assert response.status_code < 500, (path, response.status_code, body[:300])
    assert b"Traceback" not in body
    if raw.startswith("/dap/") and response.status_code >= 400 and raw.count("/") >= 6:
        assert body.startswith(b"Error {"), (path, body[:200])
