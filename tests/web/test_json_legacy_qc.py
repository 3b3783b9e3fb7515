"""Legacy QC in ``/particles``: the samples' ``qc.json`` run on the nitrate sample, given in the
request body (``qcParameters``) or stored (``stream-engine qc load``)."""

from __future__ import annotations

import json

import numpy as np
import orjson
import pytest
from json_api_data import NUTNR, fill_samples_folder, stream_entry
from webob import Request

from stream_engine.quality.legacy_qc import global_range, load_qc, poly_trend, spike, stuck_value
from stream_engine.store import open_store
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
