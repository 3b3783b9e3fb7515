"""Legacy QC bitmasks over DAP: the samples' ``qc.json`` stored and run on the nitrate sample;
the windowed tests (spike, stuck value) flag a slice as the whole stream."""

from __future__ import annotations

import json
from collections.abc import Iterator

import numpy as np
import pytest
from stream_servers import InProcessServer, dap_url, in_process_app

from stream_engine.ingest import ingest_file
from stream_engine.quality.legacy_qc import load_qc
from stream_engine.quality.qc_algorithms import (
    global_range,
    local_range,
    poly_trend,
    spike,
    stuck_value,
)
from stream_engine.store.base import StreamKey
from stream_engine.store.embedded import EmbeddedStore

netCDF4 = pytest.importorskip("netCDF4")
NAME = "nitrate_concentration"


@pytest.fixture(scope="module")
def served(tmp_path_factory, curated, samples_dir) -> Iterator[tuple[InProcessServer, object]]:
    folder = tmp_path_factory.mktemp("dap_legacy_qc")
    with EmbeddedStore(folder / "data") as store:
        overrides = {"subsite": "CE04OSPS", "node": "SF01B", "sensor": "4A-NUTNRA102", "method": "streamed",
                     "stream": "nutnr_a_sample"}
        key = ingest_file(store, curated, samples_dir / "nutnr_a_sample.nc", overrides=overrides).key
        load_qc(store, json.loads((samples_dir / "qc.json").read_text()))
        server = InProcessServer(in_process_app(store, curated, folder))
        try:
            yield server, key
        finally:
            server.close()


def test_qc_json_on_the_nitrate_sample_over_dap(served):
    server, key = served
    with netCDF4.Dataset(dap_url(server.url, key)) as ds:
        values = np.ma.filled(ds[NAME][:].astype(np.float64), np.nan)
        executed = ds[f"{NAME}_qc_executed"][:]
        results = ds[f"{NAME}_qc_results"][:]
        assert f"{NAME}_qc_results" in ds[NAME].ancillary_variables
        part = ds[f"{NAME}_qc_results"][5:17]
    assert (executed == 0b11101).all()
    windowed = (global_range(values, 0, 40) * 1 + spike(values, 0.5, 10, 15) * 4
                + stuck_value(values, 0.5, 20) * 16)
    np.testing.assert_array_equal(results & 0b10101, windowed)
    np.testing.assert_array_equal(part & 0b10101, windowed[5:17])  # the slice's context


def _qc(function, argument, value, kind="VECTOR", parameter=NAME):
    return {"qcParameterPK": {"qcId": function, "parameter": argument, "streamParameter": parameter,
                              "refDes": {"subsite": "CE04OSPS", "node": "SF01B", "sensor": "4A-NUTNRA102"}},
            "valueType": kind, "value": value}


NAMING = [
    _qc("dataqc_localrangetest_wrapper", "dat", "data"),
    _qc("dataqc_localrangetest_wrapper", "dims", "[temp_interior]", "LIST"),
    _qc("dataqc_localrangetest_wrapper", "datlimz", "[8 9]", "LIST"),
    _qc("dataqc_localrangetest_wrapper", "datlim", "[[29, 31], [31, 33]]", "LIST"),
    _qc("dataqc_gradienttest_wrapper", "dat", "data", parameter="nutnr_bromide_trace"),
    _qc("dataqc_gradienttest_wrapper", "x", "depth_nope", parameter="nutnr_bromide_trace"),
    _qc("dataqc_gradienttest_wrapper", "ddatdx", "1", "FLOAT", parameter="nutnr_bromide_trace"),
    _qc("dataqc_gradienttest_wrapper", "toldat", "1", "FLOAT", parameter="nutnr_bromide_trace"),
]


@pytest.fixture(scope="module")
def naming(tmp_path_factory, curated, samples_dir) -> Iterator[tuple[InProcessServer, object]]:
    folder = tmp_path_factory.mktemp("dap_legacy_qc_naming")
    with EmbeddedStore(folder / "data") as store:
        overrides = {"subsite": "CE04OSPS", "node": "SF01B", "sensor": "4A-NUTNRA102", "method": "streamed",
                     "stream": "nutnr_a_sample"}
        key = ingest_file(store, curated, samples_dir / "nutnr_a_sample.nc", overrides=overrides).key
        load_qc(store, NAMING)
        server = InProcessServer(in_process_app(store, curated, folder))
        try:
            yield server, key
        finally:
            server.close()


def test_arguments_naming_dataset_variables_over_dap(naming):
    server, key = naming
    with netCDF4.Dataset(dap_url(server.url, key)) as ds:
        values = np.ma.filled(ds[NAME][:].astype(np.float64), np.nan)
        temperatures = np.ma.filled(ds["temp_interior"][:].astype(np.float64), np.nan)
        executed, results = ds[f"{NAME}_qc_executed"][:], ds[f"{NAME}_qc_results"][:]
        part = ds[f"{NAME}_qc_results"][3:11]
        skipped = ds["nutnr_bromide_trace_qc_executed"]
        assert (skipped[:] == 0).all()
        assert skipped.qc_not_run == ("dataqc_gradienttest_wrapper: 'depth_nope' is not a variable of this "
                                      "dataset with one value per record")
        assert "qc_not_run" not in ds[f"{NAME}_qc_results"].ncattrs()
    expected = local_range(values, temperatures, np.array([[29, 31], [31, 33]]), np.array([8, 9.0]))
    assert set(expected.tolist()) == {0, 1}, (temperatures.min(), temperatures.max())
    assert (executed == 2).all()
    np.testing.assert_array_equal(results, expected * 2)
    np.testing.assert_array_equal(part, expected[3:11] * 2)


SYNTHETIC = StreamKey("CE07SHSM", "MFD37", "03-CTDBPC099", "recovered_inst", "ctdbp_cdef_instrument_recovered")


def _synthetic_qc(function, argument, value, kind="VECTOR"):
    return {"qcParameterPK": {"qcId": function, "parameter": argument, "streamParameter": "temperature",
                              "refDes": {"subsite": SYNTHETIC.subsite, "node": SYNTHETIC.node,
                                         "sensor": SYNTHETIC.sensor}}, "valueType": kind, "value": value}


@pytest.fixture(scope="module")
def two_deployments(tmp_path_factory, curated) -> Iterator[tuple[InProcessServer, np.ndarray]]:
    """A stream whose first deployment rises steadily and whose second is level noise."""
    rng = np.random.default_rng(11)
    values = np.concatenate([1000 + 2.0 * np.arange(600), 1600 + np.zeros(600)]) + rng.normal(0, 5, 1200)
    values = np.round(values).astype(np.int32)
    folder = tmp_path_factory.mktemp("dap_legacy_qc_deployments")
    with EmbeddedStore(folder / "data") as store:
        store.write(SYNTHETIC, {"time": 3.7e9 + 60.0 * np.arange(1200), "deployment": np.repeat(np.int32([1, 2]), 600),
                                "temperature": values}, bin_seconds=86400)
        load_qc(store, [_synthetic_qc("dataqc_polytrendtest_wrapper", "dat", "data"),
                        _synthetic_qc("dataqc_polytrendtest_wrapper", "t", "time"),
                        _synthetic_qc("dataqc_polytrendtest_wrapper", "ord_n", "1", "FLOAT"),
                        _synthetic_qc("dataqc_polytrendtest_wrapper", "nstd", "3", "FLOAT")])
        server = InProcessServer(in_process_app(store, curated, folder))
        try:
            yield server, values
        finally:
            server.close()


@pytest.mark.parametrize("start, stop", [(0, 1200), (300, 900), (650, 1200)])
def test_trend_judges_each_deployment_of_the_slice(two_deployments, start, stop):
    server, values = two_deployments
    with netCDF4.Dataset(dap_url(server.url, SYNTHETIC)) as ds:
        times = np.ma.filled(ds["time"][:], np.nan)
        assert "qc_not_run" not in ds["temperature_qc_results"].ncattrs()
        got = ds["temperature_qc_results"][start:stop]
    expected = []
    for lo, hi in ((start, min(stop, 600)), (max(start, 600), stop)):
        if hi > lo:
            expected.append(poly_trend(values[lo:hi].astype(float), times[lo:hi], 1, 3) * 8)
    np.testing.assert_array_equal(got, np.concatenate(expected))
    if start < 600 < stop:
        assert got[0] == 0 and got[-1] == 8  # the rising deployment has a trend, the level one none
