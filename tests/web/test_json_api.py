"""The JSON API in-process on the demo mooring: /particles (both forms, limit, nulls),
/estimate, /needs, and every error class as a JSON body with its status."""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import orjson
import pytest
from json_api_data import fill_demo_folder, stream_entry
from webob import Request

from stream_engine import demo
from stream_engine.engine.compute import compute
from stream_engine.engine.resolve import resolve
from stream_engine.errors import STORE_TROUBLE_MESSAGE, StoreUnavailable
from stream_engine.store.base import TimeRange
from stream_engine.store.wrapper import WrapperStore
from stream_engine.web.app import create_app

DEP2 = demo.DEPLOYMENTS[1]
START, STOP = DEP2.start, DEP2.start + 6 * 3600.0
SALINITY, DENSITY, PORT_TIMESTAMP = 13, 5, 10


@pytest.fixture(scope="module")
def demo_settings(tmp_path_factory):
    root = tmp_path_factory.mktemp("json_api")
    return fill_demo_folder(root / "data", root / "logs")


@pytest.fixture
def app(demo_settings):
    application = create_app(demo_settings)
    yield application
    application.context.close()


def _body(parameters=(SALINITY, DENSITY), **extra):
    return {"streams": [stream_entry(demo.CTD, list(parameters))], "start": START, "stop": STOP, **extra}


def _post(app, path, body):
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    return Request.blank(path, method="POST", body=data, content_type="application/json").get_response(app)


def _engine(app, parameters):
    store, preload = app.context.store, app.context.preload
    plan = resolve(store, preload, demo.CTD, parameters, TimeRange(START, np.nextafter(STOP, np.inf)),
                   settings=app.context.settings)
    return compute(store, preload, plan, settings=app.context.settings)


def test_particles_are_the_engines_values_with_a_pk_block(app):
    response = _post(app, "/particles", _body(requestUUID="my-request-1"))
    assert response.status_code == 200 and response.content_type == "application/json"
    assert response.headers["X-Request-ID"] == "my-request-1"
    particles = orjson.loads(response.body)
    expected = _engine(app, [SALINITY, DENSITY])
    assert len(particles) == len(expected.time) > 300
    assert list(particles[0]) == ["time", "sea_water_practical_salinity", "sea_water_density", "lat", "lon", "pk"]
    assert particles[0]["pk"] == {"subsite": "CE07SHSM", "node": "MFD37", "sensor": "03-CTDBPC000",
                                  "method": "recovered_inst", "stream": "ctdbp_cdef_instrument_recovered",
                                  "time": particles[0]["time"], "deployment": 2}
    np.testing.assert_array_equal([p["time"] for p in particles], expected.time)
    np.testing.assert_array_equal(np.array([p["sea_water_practical_salinity"] for p in particles], np.float32),
                                  expected["practical_salinity"])
    np.testing.assert_array_equal(np.array([p["sea_water_density"] for p in particles], np.float32),
                                  expected["density"])
    assert 1020 < particles[0]["sea_water_density"] < 1030
    for name, where in (("lat", demo.LAT), ("lon", demo.LON)):  # the deployment location, per record
        np.testing.assert_array_equal([p[name] for p in particles], expected[name])
        assert (expected[name] == where).all()


def test_missing_values_are_null(app):
    particles = orjson.loads(_post(app, "/particles", _body([SALINITY, PORT_TIMESTAMP])).body)
    assert all(p["port_timestamp"] is None for p in particles)  # the CTD stores no port timestamp
    assert all(isinstance(p["sea_water_practical_salinity"], float) for p in particles)


def test_provenance_and_annotations_give_the_object_form(app):
    body = _body(include_provenance=True, include_annotations=True, requestUUID="prov-1")
    document = orjson.loads(_post(app, "/particles", body).body)
    assert list(document) == ["data", "provenance", "computed_provenance", "instrument_provenance",
                              "query_parameter_provenance", "annotations", "provenance_messages",
                              "requestUUID"]
    assert document["requestUUID"] == "prov-1" and document["annotations"] == []
    assert len(document["data"]) == len(_engine(app, [SALINITY]).time)
    calculations = document["computed_provenance"]["calculations"]
    assert calculations["practical_salinity"]["status"] == "ok"
    assert calculations["practical_salinity"]["function"].endswith("ctd_pracsal")
    assert document["computed_provenance"]["deployments"] == [2]
    events = document["instrument_provenance"][demo.CTD.refdes]
    assert [e["deploymentNumber"] for e in events] == [2]
    query = document["query_parameter_provenance"]
    assert (query["begin"], query["end"], query["query_uuid"]) == (START, STOP, "prov-1")


def test_limit_returns_that_many_particles_over_the_range(app):
    particles = orjson.loads(_post(app, "/particles", _body(limit=40)).body)
    times = [p["time"] for p in particles]
    assert len(particles) == 40 and times == sorted(times)
    assert times[0] - START < 3600 and STOP - times[-1] < 3600


def test_estimate_comes_from_the_index_and_reads_no_data(app):
    count = len(_engine(app, [SALINITY]).time)
    app.context._store = _ForbidReads(app.context.store)
    body = orjson.loads(_post(app, "/estimate", _body()).body)
    assert abs(body["records"] - count) <= 2
    assert body["bytes_per_record"] == 8 + 4 + 4 + 4  # time, deployment, two float32 products
    assert body["size"] == body["records"] * body["bytes_per_record"] and body["time"] > 0
    assert body["streams"] == [{"stream": demo.CTD.path, "records": body["records"]}]


def test_needs_is_the_resolved_plan_with_reasons(app):
    app.context._store = _ForbidReads(app.context.store)
    body = orjson.loads(_post(app, "/needs", _body([SALINITY, PORT_TIMESTAMP])).body)
    plan = body["streams"][0]["plan"]
    assert body["streams"][0]["primary"] is True
    assert [p["name"] for p in plan["products"]][-1] == "practical_salinity"
    assert {"temperature", "conductivity", "pressure"} <= set(plan["raw_columns"])
    assert body["unavailable"] == [{"stream": demo.CTD.path, "parameter_id": PORT_TIMESTAMP,
                                    "name": "port_timestamp",
                                    "reason": f"{demo.CTD.path} holds no column 'port_timestamp' (PD10)"}]


class _ForbidReads(WrapperStore):
    def read(self, *args, **kwargs):
        raise AssertionError("data read")


class _Unreachable(WrapperStore):
    @contextmanager
    def snapshot(self):
        raise StoreUnavailable("the store at /nowhere cannot be opened")
        yield self


_ERRORS = [
    (b'{"streams": [', 400, "not valid JSON"),
    (b"", 400, "empty"),
    ({"streams": [{**stream_entry(demo.CTD, []), "stream": "nope"}]}, 400, "streams[0].stream"),
    (_body([99999999]), 400, "streams[0].parameters[0]: unknown parameter PD99999999"),
    (_body([2327]), 400, "is not in stream 'ctdbp_cdef_instrument_recovered'"),
    ({**_body(), "start": STOP, "stop": START}, 400, "start: bad time range"),
    (_body(limit=-3), 400, "limit must be positive"),
    (_body(limit=20001), 413, "hard limit of 20000"),
]


@pytest.mark.parametrize("route", ["/particles", "/estimate", "/needs"])
@pytest.mark.parametrize(("body", "status", "words"), _ERRORS)
def test_every_bad_request_is_a_json_error_with_its_status(app, route, body, status, words):
    response = _post(app, route, body)
    assert response.status_code == status
    error = orjson.loads(response.body)
    assert set(error) == {"message", "requestUUID", "code"} and error["code"] == status
    assert words in error["message"]
    assert error["requestUUID"] == response.headers["X-Request-ID"]
    assert "Traceback" not in response.text


def test_no_data_in_range_is_404_and_the_body_request_uuid_is_echoed(app):
    response = _post(app, "/particles", _body(start=3_500_000_000.0, stop=3_500_000_100.0, requestUUID="r-404"))
    assert response.status_code == 404
    error = orjson.loads(response.body)
    assert error["requestUUID"] == "r-404" == response.headers["X-Request-ID"]
    assert error["message"].startswith(f"start: stream {demo.CTD.path} has no records between 2010-")


def test_an_unreachable_store_is_503(app):
    app.context._store = _Unreachable(app.context.store)
    for route in ("/particles", "/estimate", "/needs"):
        response = _post(app, route, _body())
        assert response.status_code == 503, route
        message = orjson.loads(response.body)["message"]
        assert message == STORE_TROUBLE_MESSAGE and "/nowhere" not in message, "paths stay in the log"


def test_the_routes_answer_post_only(app):
    response = Request.blank("/particles").get_response(app)
    assert response.status_code == 405 and response.headers["Allow"] == "POST"
    assert orjson.loads(response.body)["code"] == 405


def test_a_body_over_a_megabyte_is_413(app):
    body = orjson.dumps({**_body(), "padding": "x" * (1024 * 1024)})
    response = _post(app, "/particles", body)
    assert response.status_code == 413
    assert orjson.loads(response.body)["message"].startswith("body: the request body has")
