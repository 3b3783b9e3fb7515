"""``run_qartod`` in ``/particles``: flags equal ioos_qc run directly on the returned values over
the whole range, whatever the chunking (chunk edges get the window tests' context)."""

from __future__ import annotations

import json
import warnings

import numpy as np
import orjson
import pytest
from json_api_data import fill_demo_folder, stream_entry
from webob import Request

from stream_engine import demo
from stream_engine.assets import NTP_UNIX_OFFSET
from stream_engine.quality.qartod import load_qartod
from stream_engine.store import open_store
from stream_engine.web.app import create_app

DEP2 = demo.DEPLOYMENTS[1]
START, STOP = DEP2.start, DEP2.start + 12 * 3600.0
SALINITY = 13
NAME = "sea_water_practical_salinity"


def config_for(times, values):
    """Thresholds from the data's own spread, so that every test flags some records."""
    jumps = np.abs(np.diff(values))
    return {"qartod": {
        "gross_range_test": {"suspect_span": list(np.nanpercentile(values, [10, 90])),
                             "fail_span": list(np.nanpercentile(values, [2, 98]))},
        "spike_test": {"suspect_threshold": float(np.nanpercentile(jumps, 90)),
                       "fail_threshold": float(np.nanpercentile(jumps, 99))},
        "rate_of_change_test": {"threshold": float(np.nanpercentile(jumps / np.diff(times), 95))},
        "flat_line_test": {"tolerance": float(np.nanpercentile(jumps, 5)), "suspect_threshold": 180,
                           "fail_threshold": 300}}}


@pytest.fixture(scope="module", params=[65536, 97])
def app(request, tmp_path_factory):
    root = tmp_path_factory.mktemp("json_qartod")
    settings = fill_demo_folder(root / "data", root / "logs").replace(QUERY_CHUNK_RECORDS=request.param)
    application = create_app(settings)
    yield application
    application.context.close()


def _particles(app, **extra):
    body = {"streams": [stream_entry(demo.CTD, [SALINITY])], "start": START, "stop": STOP, **extra}
    if body["start"] is None:
        del body["start"], body["stop"]
    response = Request.blank("/particles", method="POST", body=orjson.dumps(body),
                             content_type="application/json").get_response(app)
    assert response.status_code == 200, response.body
    return orjson.loads(response.body)


def test_run_qartod_flags_equal_ioos_qc_directly(app):
    from ioos_qc.config import QcConfig

    plain = _particles(app, start=None)  # the whole stream
    times = np.array([p["time"] for p in plain])
    values = np.array([np.nan if p[NAME] is None else p[NAME] for p in plain], dtype=np.float32)
    config = config_for(times, values.astype(np.float64))
    with open_store(app.context.settings) as store:
        load_qartod(store, [{"refDes": f"{demo.CTD.subsite}-{demo.CTD.node}-{demo.CTD.sensor}", "stream": None,
                             "parameters": {"inp": "practical_salinity", "tinp": "time"},
                             "qcConfig": json.dumps(config)}])
    particles = _particles(app, run_qartod=True, start=None)
    assert len(particles) == len(plain) > 2000
    stamps = ((times - NTP_UNIX_OFFSET) * 1e6).astype("datetime64[us]")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        direct = QcConfig(config).run(inp=np.ma.masked_invalid(values.astype(np.float64)), tinp=stamps)["qartod"]
    flags = np.vstack([np.ma.filled(f, 9).astype(np.uint8) for f in direct.values()])
    np.testing.assert_array_equal([p[f"{NAME}_qartod_results"] for p in particles], flags.max(axis=0))
    np.testing.assert_array_equal([p[f"{NAME}_qartod_executed"] for p in particles],
                                  ["".join(map(str, column)) for column in flags.T])
    for row in flags:  # every test gives more than one flag on this data
        assert len(np.unique(row)) > 1
    part = _particles(app, run_qartod=True)  # a range: the records around it are its context
    first = int(np.searchsorted(times, part[0]["time"]))
    assert first > 0 and [p["time"] for p in part] == times[first:first + len(part)].tolist()
    for name in (f"{NAME}_qartod_results", f"{NAME}_qartod_executed"):
        assert [p[name] for p in part] == [p[name] for p in particles[first:first + len(part)]]
    assert f"{NAME}_qartod_results" not in _particles(app)[0]
