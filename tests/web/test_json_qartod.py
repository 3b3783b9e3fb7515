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


TEMPERATURE, PRESSURE, OXYGEN = 2819, 2820, 940
CTD_PRESSURE_COLUMN = f"{demo.CTD.stream}-sea_water_pressure"


def _climatology(values, depths):
    """Two depth layers with different value spans (each from its layer's own values, so both
    flags occur in each), so the flags depend on ``zinp``."""
    middle = float(np.nanmedian(depths))
    shallow, deep = values[depths <= middle], values[depths > middle]
    span = [float(np.nanmin(values)) - 1, float(np.nanmax(values)) + 1]
    return {"qartod": {"climatology_test": {"config": [
        {"tspan": [0, 13], "period": "month", "vspan": [float(np.nanpercentile(shallow, 40)), span[1]],
         "zspan": [float(np.nanmin(depths)) - 1, middle]},
        {"tspan": [0, 13], "period": "month", "vspan": [span[0], float(np.nanpercentile(deep, 60))],
         "zspan": [middle, float(np.nanmax(depths)) + 1]},
    ]}}}


def _direct(config, times, values, depths):
    from ioos_qc.config import QcConfig

    stamps = ((np.asarray(times) - NTP_UNIX_OFFSET) * 1e6).astype("datetime64[us]")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = QcConfig(config).run(inp=np.ma.masked_invalid(np.asarray(values, dtype=np.float64)), tinp=stamps,
                                   zinp=np.ma.masked_invalid(np.asarray(depths, dtype=np.float64)))
    return np.vstack([np.ma.filled(f, 9).astype(np.uint8) for tests in out.values() for f in tests.values()])


def _column(particles, name):
    return np.array([np.nan if p[name] is None else p[name] for p in particles], dtype=np.float64)


def test_zinp_from_the_stream_and_from_the_co_located_ctd(app):
    ctd = _particles(app, streams=[stream_entry(demo.CTD, [TEMPERATURE, PRESSURE])])
    times, depths = _column(ctd, "time"), _column(ctd, "sea_water_pressure")
    temperature = _column(ctd, "sea_water_temperature").astype(np.float32)
    own = _climatology(temperature, depths)

    optode = _particles(app, streams=[stream_entry(demo.OPTODE, [OXYGEN]), stream_entry(demo.CTD, [PRESSURE])])
    optode_times, oxygen = _column(optode, "time"), _column(optode, "estimated_oxygen_concentration")
    interpolated = _column(optode, CTD_PRESSURE_COLUMN)  # as the engine interpolates a product's input
    assert np.isfinite(interpolated).sum() > 100
    external = _climatology(oxygen.astype(np.float32), interpolated)
    refdes = f"{demo.CTD.subsite}-{demo.CTD.node}-"
    with open_store(app.context.settings) as store:
        load_qartod(store, [
            {"refDes": refdes + demo.CTD.sensor, "stream": demo.CTD.stream, "qcConfig": own,
             "parameters": {"inp": "ctdbp_seawater_temperature", "tinp": "time", "zinp": "sea_water_pressure"}},
            {"refDes": refdes + demo.OPTODE.sensor, "stream": None, "qcConfig": external,
             "parameters": {"inp": "estimated_oxygen_concentration", "tinp": "time",
                            "zinp": f"{demo.CTD.stream}-ctdbp_seawater_pressure"}},
            {"refDes": refdes + demo.OPTODE.sensor, "stream": None, "qcConfig": external,
             "parameters": {"inp": "optode_temperature", "tinp": "time", "zinp": "no_such_pressure"}},
        ])
    tested = _particles(app, run_qartod=True, streams=[stream_entry(demo.CTD, [TEMPERATURE])])
    assert "sea_water_pressure" not in tested[0]  # read for the test only
    expected = _direct(own, times, temperature, depths)
    assert len(np.unique(expected)) > 1
    np.testing.assert_array_equal([p["sea_water_temperature_qartod_results"] for p in tested], expected.max(axis=0))
    document = _particles(app, run_qartod=True, include_provenance=True,
                          streams=[stream_entry(demo.OPTODE, [OXYGEN, 942])])
    flags = document["data"]
    assert [p["time"] for p in flags] == optode_times.tolist()
    expected = _direct(external, optode_times, oxygen.astype(np.float32), interpolated)
    assert len(np.unique(expected)) > 1
    np.testing.assert_array_equal([p["estimated_oxygen_concentration_qartod_results"] for p in flags],
                                  expected.max(axis=0))
    assert {p["optode_temperature_qartod_results"] for p in flags} == {2}  # not run: not evaluated
    assert any("not run: no zinp ('no_such_pressure')" in m for m in document["provenance_messages"])


@pytest.fixture(scope="module")
def samples_app(tmp_path_factory, ooi_dir):
    from json_api_data import fill_samples_folder

    root = tmp_path_factory.mktemp("json_qartod_2d")
    application = create_app(fill_samples_folder(root / "data", root / "logs", ooi_dir))
    yield application
    application.context.close()


def test_2d_parameter_column_by_column(samples_app):
    from json_api_data import NUTNR

    def particles(**extra):
        body = {"streams": [stream_entry(NUTNR, [332])], "start": 3.0e9, "stop": 4.0e9, **extra}
        response = Request.blank("/particles", method="POST", body=orjson.dumps(body),
                                 content_type="application/json").get_response(samples_app)
        assert response.status_code == 200, response.body
        return orjson.loads(response.body)

    plain = particles()
    times = np.array([p["time"] for p in plain])
    spectra = np.array([p["spectral_channels"] for p in plain], dtype=np.float64)
    config = {"qartod": {"gross_range_test": {"suspect_span": np.percentile(spectra, [20, 80], axis=0).T.tolist(),
                                              "fail_span": [0, 65000]}}}
    with open_store(samples_app.context.settings) as store:
        load_qartod(store, [{"refDes": f"{NUTNR.subsite}-{NUTNR.node}-{NUTNR.sensor}", "stream": NUTNR.stream,
                             "parameters": {"inp": "spectral_channels", "tinp": "time"}, "qcConfig": config}])
    flags = np.array([p["spectral_channels_qartod_results"] for p in particles(run_qartod=True)])
    assert flags.shape == spectra.shape
    for column in (0, 17, 128, 255):
        spec = {"suspect_span": config["qartod"]["gross_range_test"]["suspect_span"][column], "fail_span": [0, 65000]}
        direct = _direct({"qartod": {"gross_range_test": spec}}, times, spectra[:, column], np.full(len(times), np.nan))
        np.testing.assert_array_equal(flags[:, column], direct[0])
    assert {1, 3} <= set(np.unique(flags))
