"""The JSON API through a real ``stream-engine serve`` on loopback: the real OOI request bodies,
values equal to what the same server's DAP endpoint serves, streaming, and error statuses."""

from __future__ import annotations

import netCDF4
import numpy as np
import orjson
import pytest
from json_api_data import (
    CTD_FILL_AT,
    CTD_TIMES,
    NUTNR,
    fill_demo_folder,
    fill_samples_folder,
    post,
    stream_entry,
)
from live_server import start_server

from stream_engine import demo
from stream_engine.errors import STORE_TROUBLE_MESSAGE


@pytest.fixture(scope="module", params=["embedded", pytest.param("cassandra", marks=pytest.mark.cassandra)])
def demo_server(request, tmp_path_factory):
    """The demo streams served from the embedded store, and from a Cassandra keyspace."""
    root = tmp_path_factory.mktemp("json_api_demo")
    env = {}
    if request.param == "cassandra":
        node = request.getfixturevalue("cassandra_node")
        env = fill_demo_keyspace(node)
    else:
        fill_demo_folder(root / "data", root / "logs")
    server = start_server(root / "data", root / "logs", threads=2, extra_env=env)
    yield server
    server.stop()


def fill_demo_keyspace(node) -> dict[str, str]:
    """The demo streams in a new keyspace laid out from the dictionary; the server's environment."""
    from stream_engine.config import load_settings
    from stream_engine.preload import default_preload
    from stream_engine.store.cassandra_admin import apply_schema

    preload = default_preload(load_settings(environ={}))
    with node.store() as store:
        apply_schema(store, preload)
        demo.fill_demo(store, preload)
        return node.settings_env(store.keyspace)


@pytest.fixture(scope="module")
def samples_server(tmp_path_factory, ooi_dir):
    root = tmp_path_factory.mktemp("json_api_samples")
    fill_samples_folder(root / "data", root / "logs", ooi_dir)
    server = start_server(root / "data", root / "logs", threads=2,
                          extra_env={"STREAM_ENGINE_PRELOAD": str(ooi_dir / "preload")})
    yield server
    server.stop()


def test_particles_equal_what_dap_serves_for_the_same_records(demo_server):
    body = {"streams": [stream_entry(demo.CTD, [])], "require_deployment": False}
    status, headers, raw = post(demo_server.url + "/particles", body)
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert "Content-Length" not in headers  # streamed as it is computed
    particles = orjson.loads(raw)
    with netCDF4.Dataset(f"{demo_server.url}/dap/{demo.CTD.path}") as dap:
        assert len(particles) == len(dap["time"]) > 40000
        np.testing.assert_array_equal([p["time"] for p in particles], dap["time"][:])
        for name in ("sea_water_practical_salinity", "sea_water_density", "sea_water_temperature",
                     "sea_water_pressure", "temperature", "conductivity"):
            variable = dap[name]
            variable.set_auto_mask(False)
            served = variable[:]
            got = np.array([np.nan if p[name] is None else p[name] for p in particles]).astype(served.dtype)
            np.testing.assert_array_equal(got, served, err_msg=name)


@pytest.mark.parametrize(("body", "status"), [
    (b"not json", 400),
    ({"streams": [stream_entry(demo.CTD, [424242])]}, 400),
    ({"streams": [stream_entry(demo.CTD, [])], "limit": 50000}, 413),
    ({"streams": [stream_entry(demo.CTD, [])], "start": 3.5e9, "stop": 3.5e9 + 10}, 404),
])
def test_errors_have_their_status_and_a_json_body(demo_server, body, status):
    got, headers, raw = post(demo_server.url + "/particles", body)
    assert got == status
    error = orjson.loads(raw)
    assert error["code"] == status and error["requestUUID"] == headers["X-Request-ID"]
    assert "Traceback" not in raw.decode()


def test_estimate_and_needs_answer_over_http(demo_server):
    body = {"streams": [stream_entry(demo.CTD, [13])], "start": demo.DEPLOYMENTS[0].start,
            "stop": demo.DEPLOYMENTS[0].stop}
    status, _, raw = post(demo_server.url + "/estimate", body)
    assert status == 200 and orjson.loads(raw)["records"] > 19000
    status, _, raw = post(demo_server.url + "/needs", body)
    assert status == 200 and orjson.loads(raw)["streams"][0]["plan"]["products"][-1]["name"] == "practical_salinity"


def test_the_single_stream_sample_body_returns_the_files_records(samples_server, samples_dir):
    raw_body = (samples_dir / "parameter_request.json").read_bytes()
    status, _, raw = post(samples_server.url + "/particles", raw_body)
    assert status == 200
    particles = orjson.loads(raw)
    request = orjson.loads(raw_body)
    with netCDF4.Dataset(samples_dir / "nutnr_a_sample.nc") as ds:
        times = ds["time"][:]
        inside = (times >= request["start"]) & (times <= request["stop"])
        assert [p["time"] for p in particles] == times[inside].tolist()
        for name in ("nutnr_voltage_int", "nutnr_current_main", "nutnr_fit_base_1"):
            np.testing.assert_array_equal(np.array([p[name] for p in particles], np.float32),
                                          ds[name][:][inside].astype(np.float32))
    assert particles[0]["pk"]["stream"] == NUTNR.stream and particles[0]["pk"]["deployment"] == 2


def test_the_multiple_stream_sample_body_interpolates_onto_the_first_stream(samples_server, samples_dir):
    status, _, raw = post(samples_server.url + "/particles",
                          (samples_dir / "multiple_stream_request.json").read_bytes())
    assert status == 200
    particles = orjson.loads(raw)
    assert [p["time"] for p in particles] == [t for t in CTD_TIMES.tolist()
                                              if 3653423999.775322 <= t <= 3653424024.525519]
    first = particles[0]
    assert set(first) == {"time", "ext_volt0", "echo_sounding-hpies_ies_timestamp",
                          "nutnr_a_sample-nutnr_voltage_int", "nutnr_a_sample-nutnr_current_main",
                          "nutnr_a_sample-nutnr_fit_base_1", "lat", "lon", "pk"}
    volts = {p["time"]: p["ext_volt0"] for p in particles}
    assert volts[CTD_TIMES[CTD_FILL_AT]] is None  # the stored fill value is null
    assert volts[CTD_TIMES[6]] == 1060
    # the HPIES file's clock is broken (times near 1900): nothing to interpolate from
    assert all(p["echo_sounding-hpies_ies_timestamp"] is None for p in particles)
    with netCDF4.Dataset(samples_dir / "nutnr_a_sample.nc") as ds:
        times, volts_in = ds["time"][:], ds["nutnr_voltage_int"][:].astype(np.float64)
    for p in particles:
        expected = np.interp(p["time"], times, volts_in) if p["time"] >= times[0] - 3600 else None
        got = p["nutnr_a_sample-nutnr_voltage_int"]
        assert (got is None and expected is None) or np.float32(got) == np.float32(expected)


@pytest.mark.parametrize(("name", "field"), [
    ("multiple_stream_request_bad_parameter.json", "streams[1].parameters[0]"),
    ("multiple_stream_request_no_parameter.json", "streams[1].parameters"),
])
def test_the_invalid_sample_bodies_are_400_naming_the_field(samples_server, samples_dir, name, field):
    status, _, raw = post(samples_server.url + "/particles", (samples_dir / name).read_bytes())
    assert status == 400 and orjson.loads(raw)["message"].startswith(field)


def test_a_store_that_cannot_be_opened_is_503_on_every_route(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the data folder's parent should be")
    server = start_server(blocker / "data", tmp_path / "logs", threads=1, create_store=False)
    try:
        body = {"streams": [stream_entry(demo.CTD, [13])]}
        for route in ("/particles", "/estimate", "/needs"):
            status, headers, raw = post(server.url + route, body)
            assert status == 503, route
            error = orjson.loads(raw)
            assert error["code"] == 503 and error["message"] == STORE_TROUBLE_MESSAGE  # no paths
            assert error["requestUUID"] == headers["X-Request-ID"]
    finally:
        server.stop()
