"""Legacy QC in ``/particles``: the samples' ``qc.json`` run on the nitrate sample, given in the
request body (``qcParameters``) or stored (``stream-engine qc load``)."""

from __future__ import annotations

import json

import numpy as np
import orjson
import pytest
from json_api_data import NUTNR, fill_samples_folder, stream_entry
from webob import Request

from stream_engine.quality.legacy_qc import load_qc
from stream_engine.quality.qc_algorithms import (
    global_range,
    gradient,
    local_range,
    poly_trend,
    spike,
    stuck_value,
)
from stream_engine.store import open_store
from stream_engine.store.base import StreamKey
from stream_engine.web.app import create_app

NITRATE = 315
NAME = "nitrate_concentration"


@pytest.fixture(scope="module")
def app(tmp_path_factory, ooi_dir):
    root = tmp_path_factory.mktemp("json_legacy_qc")
    application = create_app(fill_samples_folder(root / "data", root / "logs", ooi_dir))
    yield application
    application.context.close()


def _post(app, **extra):
    body = {"streams": [stream_entry(NUTNR, [NITRATE])], "start": 3.0e9, "stop": 4.0e9, **extra}
    return Request.blank("/particles", method="POST", body=orjson.dumps(body),
                         content_type="application/json").get_response(app)


def _expected(particles):
    times = np.array([p["time"] for p in particles])
    values = np.array([np.nan if p[NAME] is None else p[NAME] for p in particles], dtype=np.float64)
    results = (global_range(values, 0, 40).astype(np.uint8) * 1 + spike(values, 0.5, 10, 15) * 4
               + poly_trend(values, times, 1, 0) * 8 + stuck_value(values, 0.5, 20) * 16)
    return results


def test_request_qc_parameters_and_stored_records(app, samples_dir):
    records = json.loads((samples_dir / "qc.json").read_text())
    plain = _post(app)
    assert plain.status_code == 200 and f"{NAME}_qc_results" not in orjson.loads(plain.body)[0]
    response = _post(app, qcParameters=records)
    assert response.status_code == 200, response.body
    particles = orjson.loads(response.body)
    assert len(particles) > 20
    assert all(p[f"{NAME}_qc_executed"] == 0b11101 for p in particles)
    np.testing.assert_array_equal([p[f"{NAME}_qc_results"] for p in particles], _expected(particles))
    assert {p[f"{NAME}_qc_results"] & 1 for p in particles} == {1}  # the sample lies in [0, 40]
    with open_store(app.context.settings) as store:
        load_qc(store, records)
    stored = orjson.loads(_post(app).body)
    assert [p[f"{NAME}_qc_results"] for p in stored] == [p[f"{NAME}_qc_results"] for p in particles]


def test_bad_qc_parameters_are_400(app):
    response = _post(app, qcParameters=[{"qcParameterPK": {"qcId": "dataqc_nothing", "parameter": "x",
                                                           "streamParameter": NAME}, "valueType": "FLOAT",
                                         "value": "1"}])
    assert response.status_code == 400
    assert orjson.loads(response.body)["message"].startswith("qcParameters[0]")


TEMP_INTERIOR = 320


def _qc(function, argument, value, kind="VECTOR", parameter=NAME):
    return {"qcParameterPK": {"qcId": function, "parameter": argument, "streamParameter": parameter,
                              "refDes": {"subsite": NUTNR.subsite, "node": NUTNR.node, "sensor": NUTNR.sensor}},
            "valueType": kind, "value": value}


def _naming_records(temperatures):
    """Local range by (temp_interior, month), gradient over time, and propagate of temp_interior's
    own global range: arguments naming a parameter the request does not ask for."""
    lo, hi = float(np.nanmin(temperatures)), float(np.nanmax(temperatures))
    table_z = [lo - 1, 10, hi + 1, 11]  # (temp, month) points: [lo-1, 10] and [hi+1, 11]
    table = [[lo - 1, 0], [0, 11]]
    return [
        _qc("dataqc_localrangetest_wrapper", "dat", "data"),
        _qc("dataqc_localrangetest_wrapper", "dims", "[temp_interior]", "LIST"),
        _qc("dataqc_localrangetest_wrapper", "datlimz", f"[{lo - 1} {hi + 1}]", "LIST"),
        _qc("dataqc_localrangetest_wrapper", "datlim", json.dumps([[0, 20], [15, 40]]), "LIST"),
        _qc("dataqc_gradienttest_wrapper", "dat", "data"),
        _qc("dataqc_gradienttest_wrapper", "x", "time"),
        _qc("dataqc_gradienttest_wrapper", "ddatdx", "0.05", "FLOAT"),
        _qc("dataqc_gradienttest_wrapper", "toldat", "0.5", "FLOAT"),
        _qc("dataqc_globalrangetest_minmax", "dat", "data", parameter="temp_interior"),
        _qc("dataqc_globalrangetest_minmax", "dat_min", str((lo + hi) / 2), "FLOAT", parameter="temp_interior"),
        _qc("dataqc_globalrangetest_minmax", "dat_max", "100", "FLOAT", parameter="temp_interior"),
        _qc("dataqc_propagateflags_wrapper", "a", "temp_interior_qc_results"),
    ], (table_z, table)


def test_arguments_naming_other_parameters(app):
    both = orjson.loads(_post(app, streams=[stream_entry(NUTNR, [NITRATE, TEMP_INTERIOR])]).body)
    temperatures = np.array([p["temp_interior"] for p in both], dtype=np.float64)
    records, _ = _naming_records(temperatures)
    response = _post(app, qcParameters=records)
    assert response.status_code == 200, response.body
    particles = orjson.loads(response.body)
    assert "temp_interior" not in particles[0]  # read for the tests only
    values = np.array([p[NAME] for p in particles], dtype=np.float64)
    times = np.array([p["time"] for p in particles])
    assert len(values) == len(temperatures) > 20
    lo, hi = np.nanmin(temperatures), np.nanmax(temperatures)
    local = local_range(values, temperatures, np.array([[0, 20], [15, 40]]), np.array([lo - 1, hi + 1]))
    grad = gradient(values, times, (-0.05, 0.05), np.nan, np.nan, 0.5)
    propagate = global_range(temperatures, (lo + hi) / 2, 100)
    for flags in (local, grad, propagate):  # each test gives both outcomes on the sample
        assert set(flags.tolist()) >= {0, 1}, flags
    mine = 2 + 32 + 128  # the module's first test stored qc.json's records (bits 1, 4, 8, 16) too
    assert all(p[f"{NAME}_qc_executed"] & mine == mine for p in particles)
    expected = local * 2 + (grad == 1) * 32 + propagate.astype(int) * 128
    np.testing.assert_array_equal([p[f"{NAME}_qc_results"] & mine for p in particles], expected)
    temperature_flags = orjson.loads(_post(app, qcParameters=records,
                                           streams=[stream_entry(NUTNR, [NITRATE, TEMP_INTERIOR])]).body)
    assert [p["temp_interior_qc_results"] for p in temperature_flags] == propagate.tolist()


def test_argument_naming_no_parameter_is_400_in_the_request_and_skipped_when_stored(app):
    records = [_qc("dataqc_gradienttest_wrapper", "dat", "data"), _qc("dataqc_gradienttest_wrapper", "x", "depth_nope"),
               _qc("dataqc_gradienttest_wrapper", "ddatdx", "1", "FLOAT"),
               _qc("dataqc_gradienttest_wrapper", "toldat", "1", "FLOAT")]
    response = _post(app, qcParameters=records)
    assert response.status_code == 400
    body = orjson.loads(response.body)
    assert body["message"].startswith("qcParameters[1]: x of dataqc_gradienttest_wrapper names 'depth_nope'")
    assert "Traceback" not in body["message"]
    stored = [{**r, "qcParameterPK": {**r["qcParameterPK"], "streamParameter": "nutnr_bromide_trace"}} for r in records]
    with open_store(app.context.settings) as store:
        load_qc(store, stored)
    response = _post(app, streams=[stream_entry(NUTNR, [NITRATE, 2323])], include_provenance=True)
    assert response.status_code == 200, response.body
    document = orjson.loads(response.body)
    assert {p["nutnr_bromide_trace_qc_executed"] for p in document["data"]} == {0}  # not run, not executed
    assert ("nutnr_bromide_trace: dataqc_gradienttest_wrapper not run: x names 'depth_nope', which the dataset "
            "does not hold") in document["provenance_messages"]


#: A synthetic stream of two deployments: the first a steady rise, the second level noise.
SYNTHETIC = StreamKey("CE07SHSM", "MFD37", "03-CTDBPC099", "recovered_inst", "ctdbp_cdef_instrument_recovered")
SYNTHETIC_TIMES = 3.7e9 + 60.0 * np.arange(1200)


def _synthetic_values():
    rng = np.random.default_rng(11)
    values = np.empty(1200)
    values[:600] = 1000 + 2.0 * np.arange(600) + rng.normal(0, 5, 600)
    values[600:] = 1600 + rng.normal(0, 5, 600)
    values[900] += 400  # a jump the gradient test fails (then recovers)
    return np.round(values).astype(np.int32)


@pytest.fixture(scope="module", params=[65536, 500])
def demo_app(request, tmp_path_factory):
    from json_api_data import fill_demo_folder

    root = tmp_path_factory.mktemp("json_legacy_qc_demo")
    settings = fill_demo_folder(root / "data", root / "logs").replace(QUERY_CHUNK_RECORDS=request.param)
    with open_store(settings) as store:
        store.write(SYNTHETIC, {"time": SYNTHETIC_TIMES, "deployment": np.repeat(np.int32([1, 2]), 600),
                                "temperature": _synthetic_values()}, bin_seconds=86400)
    application = create_app(settings)
    yield application
    application.context.close()


def test_trend_and_gradient_judge_each_deployment_of_the_request(demo_app):
    chunk = demo_app.context.settings["QUERY_CHUNK_RECORDS"]
    ref = {"subsite": SYNTHETIC.subsite, "node": SYNTHETIC.node, "sensor": SYNTHETIC.sensor}

    def qc(function, argument, value, kind="VECTOR"):
        return {"qcParameterPK": {"qcId": function, "parameter": argument, "streamParameter": "temperature",
                                  "refDes": ref}, "valueType": kind, "value": value}

    records = [qc("dataqc_polytrendtest_wrapper", "dat", "data"), qc("dataqc_polytrendtest_wrapper", "t", "time"),
               qc("dataqc_polytrendtest_wrapper", "ord_n", "1", "FLOAT"),
               qc("dataqc_polytrendtest_wrapper", "nstd", "3", "FLOAT"),
               qc("dataqc_gradienttest_wrapper", "dat", "data"), qc("dataqc_gradienttest_wrapper", "x", "time"),
               qc("dataqc_gradienttest_wrapper", "ddatdx", "2", "FLOAT"),
               qc("dataqc_gradienttest_wrapper", "toldat", "30", "FLOAT")]
    body = {"streams": [stream_entry(SYNTHETIC, [193])], "qcParameters": records, "require_deployment": False}
    response = Request.blank("/particles", method="POST", body=orjson.dumps(body),
                             content_type="application/json").get_response(demo_app)
    assert response.status_code == 200, response.body
    particles = orjson.loads(response.body)
    times = np.array([p["time"] for p in particles])
    values = np.array([p["temperature"] for p in particles], dtype=np.float64)
    np.testing.assert_array_equal(times, SYNTHETIC_TIMES)
    numbers = np.repeat([1, 2], 600)
    results = np.array([p["temperature_qc_results"] for p in particles])
    assert all(p["temperature_qc_executed"] == 8 + 32 for p in particles)
    expected = np.zeros(len(times), dtype=np.int64)
    for number in (1, 2):  # each deployment of the request on its own, whatever the chunks (500 or more)
        sel = np.flatnonzero(numbers == number)
        expected[sel] = (poly_trend(values[sel], times[sel], 1, 3) * 8
                         + (gradient(values[sel], times[sel], (-2, 2), np.nan, np.nan, 30) == 1) * 32)
    np.testing.assert_array_equal(results, expected)
    # deployment 1 rises (trend: bit clear), deployment 2 is level (bit set)
    assert set((results[:600] & 8).tolist()) == {0} and set((results[600:] & 8).tolist()) == {8}
    assert (results[900] & 32) == 0 and (results[899] & 32) == 32 and (results[901] & 32) == 32
    assert chunk in (500, 65536)
    # a sub-range is a request of its own: its deployments' records judged on their own
    part = dict(body, start=float(times[650]), stop=float(times[1100]))
    response = Request.blank("/particles", method="POST", body=orjson.dumps(part),
                             content_type="application/json").get_response(demo_app)
    sub = orjson.loads(response.body)
    lo = int(np.searchsorted(times, sub[0]["time"]))
    sel = np.arange(lo, lo + len(sub))
    assert 400 < len(sub) and numbers[sel].tolist() == [2] * len(sub)
    np.testing.assert_array_equal([p["temperature_qc_results"] for p in sub],
                                  poly_trend(values[sel], times[sel], 1, 3) * 8
                                  + (gradient(values[sel], times[sel], (-2, 2), np.nan, np.nan, 30) == 1) * 32)
    thinned = orjson.loads(Request.blank("/particles", method="POST", body=orjson.dumps(dict(body, limit=10)),
                                         content_type="application/json").get_response(demo_app).body)
    assert 0 < len(thinned) <= 10  # thinned records come with flags too
    assert all(p["temperature_qc_executed"] == 40 for p in thinned)
