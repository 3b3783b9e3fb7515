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
from stream_engine.quality.qc_algorithms import global_range, local_range, spike, stuck_value
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
