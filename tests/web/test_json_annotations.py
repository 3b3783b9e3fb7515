"""Exclusion annotations in ``/particles``: records of a stream-wide exclusion are dropped,
parameters named by one are null, ``include_annotations`` returns the records."""

from __future__ import annotations

import numpy as np
import orjson
import pytest
from json_api_data import fill_demo_folder, stream_entry
from webob import Request

from stream_engine import demo
from stream_engine.assets import NTP_UNIX_OFFSET
from stream_engine.quality.annotations import load_annotations
from stream_engine.store import open_store
from stream_engine.web.app import create_app

DEP2 = demo.DEPLOYMENTS[1]
START, STOP = DEP2.start, DEP2.start + 6 * 3600.0
SALINITY, DENSITY = 13, 5
CUT_FROM, CUT_TO = START + 3600.0, START + 5400.0       # excluded, whole CTD
NULL_FROM, NULL_TO = START + 7200.0, START + 9000.0     # excluded, salinity only


def ms(ntp):
    return (ntp - NTP_UNIX_OFFSET) * 1000.0


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    root = tmp_path_factory.mktemp("json_annotations")
    settings = fill_demo_folder(root / "data", root / "logs")
    application = create_app(settings)
    yield application
    application.context.close()


def _particles(app, **extra):
    body = {"streams": [stream_entry(demo.CTD, [SALINITY, DENSITY])], "start": START, "stop": STOP, **extra}
    response = Request.blank("/particles", method="POST", body=orjson.dumps(body),
                             content_type="application/json").get_response(app)
    assert response.status_code == 200, response.body
    return orjson.loads(response.body)


def test_exclusions_drop_records_and_null_named_parameters(app):
    before = _particles(app)
    times = np.array([p["time"] for p in before])
    with open_store(app.context.settings) as store:
        ids = load_annotations(store, [
            {"subsite": demo.CTD.subsite, "node": demo.CTD.node, "sensor": demo.CTD.sensor, "method": None,
             "stream": None, "beginDT": ms(CUT_FROM), "endDT": ms(CUT_TO), "annotation": "pump off",
             "exclusionFlag": True, "qcFlag": "fail", "parameters": []},
            {"subsite": demo.CTD.subsite, "node": None, "sensor": None, "method": None, "stream": None,
             "beginDT": ms(NULL_FROM), "endDT": ms(NULL_TO), "annotation": "conductivity cell fouled",
             "exclusionFlag": True, "qcFlag": "suspect", "parameters": [SALINITY]},
            {"subsite": demo.CTD.subsite, "beginDT": ms(START), "endDT": None, "annotation": "note only",
             "exclusionFlag": False},
            {"subsite": "CE02SHSM", "beginDT": ms(START), "annotation": "elsewhere", "exclusionFlag": True},
        ])
    document = _particles(app, include_annotations=True)
    after = document["data"]
    cut = (times >= CUT_FROM) & (times <= CUT_TO)
    assert 20 < cut.sum() < len(times)
    np.testing.assert_array_equal([p["time"] for p in after], times[~cut])
    nulled = (times[~cut] >= NULL_FROM) & (times[~cut] <= NULL_TO)
    assert nulled.sum() > 20
    salinity = [p["sea_water_practical_salinity"] for p in after]
    assert all(salinity[i] is None for i in np.flatnonzero(nulled))
    assert all(isinstance(salinity[i], float) for i in np.flatnonzero(~nulled))
    kept = [p for p, c in zip(before, cut, strict=True) if not c]
    assert [p["sea_water_density"] for p in after] == [p["sea_water_density"] for p in kept]
    assert [a["id"] for a in document["annotations"]] == ids[:3]
    assert f"annotation {ids[0]} (exclusion) removed {cut.sum()} records" in document["provenance_messages"]
    assert f"annotation {ids[1]} (exclusion) made {nulled.sum()} values missing" in document["provenance_messages"]
