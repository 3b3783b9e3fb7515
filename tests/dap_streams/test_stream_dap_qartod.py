"""QARTOD flags over DAP: equal to ioos_qc run directly on the served values, and a slice's flags
(window tests included) equal the whole stream's."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator

import numpy as np
import pytest
from stream_servers import InProcessServer, dap_url, in_process_app

from stream_engine import demo
from stream_engine.assets import NTP_UNIX_OFFSET
from stream_engine.quality.qartod import load_qartod
from stream_engine.store.embedded import EmbeddedStore

netCDF4 = pytest.importorskip("netCDF4")
SALINITY = "sea_water_practical_salinity"


@pytest.fixture(scope="module")
def served(tmp_path_factory, curated) -> Iterator[tuple[InProcessServer, dict]]:
    folder = tmp_path_factory.mktemp("dap_qartod")
    with EmbeddedStore(folder / "data") as store:
        demo.fill_demo(store, curated)
        server = InProcessServer(in_process_app(store, curated, folder))
        with netCDF4.Dataset(dap_url(server.url, demo.CTD)) as ds:
            times, values = np.ma.filled(ds["time"][:], np.nan), ds[SALINITY][:].filled(np.nan)
        steps = np.abs(np.diff(values)) / np.diff(times)
        config = {"qartod": {
            "gross_range_test": {"suspect_span": list(np.nanpercentile(values, [10, 90])),
                                 "fail_span": list(np.nanpercentile(values, [2, 98]))},
            "spike_test": {"suspect_threshold": float(np.nanpercentile(np.abs(np.diff(values)), 90)),
                           "fail_threshold": float(np.nanpercentile(np.abs(np.diff(values)), 99))},
            "rate_of_change_test": {"threshold": float(np.nanpercentile(steps, 95))},
            "flat_line_test": {"tolerance": float(np.nanpercentile(np.abs(np.diff(values)), 5)),
                               "suspect_threshold": 180, "fail_threshold": 300},
        }}
        load_qartod(store, [{"refDes": {"subsite": demo.CTD.subsite, "node": demo.CTD.node, "sensor": None},
                             "stream": demo.CTD.stream, "parameters": json.dumps({"inp": "practical_salinity",
                                                                                 "tinp": "time", "zinp": "None"}),
                             "qcConfig": json.dumps(config)}])
        try:
            yield server, {"times": times, "values": values, "config": config}
        finally:
            server.close()


def _direct(times, values, config):
    from ioos_qc.config import QcConfig

    stamps = ((times - NTP_UNIX_OFFSET) * 1e6).astype("datetime64[us]")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = QcConfig(config).run(inp=np.ma.masked_invalid(values), tinp=stamps)["qartod"]
    return {name: np.ma.filled(flags, 9).astype(np.uint8) for name, flags in results.items()}


def test_flags_equal_ioos_qc_run_directly(served):
    server, data = served
    direct = _direct(data["times"], data["values"], data["config"])
    with netCDF4.Dataset(dap_url(server.url, demo.CTD)) as ds:
        results = ds[f"{SALINITY}_qartod_results"]
        assert list(results.flag_values) == [1, 2, 3, 4, 9]
        assert results.flag_meanings == "pass not_evaluated suspect_or_of_high_interest fail missing_data"
        assert results.tests_executed == ", ".join(f"qartod.{t}" for t in direct)
        assert f"{SALINITY}_qartod_results" in ds[SALINITY].ancillary_variables
        aggregate = results[:]
        executed = ds[f"{SALINITY}_qartod_executed"][:]
    np.testing.assert_array_equal(aggregate, np.max(np.vstack(list(direct.values())), axis=0))
    for position, flags in enumerate(direct.values()):
        np.testing.assert_array_equal([int(e[position]) for e in executed], flags)
    assert {1, 3, 4} <= set(np.unique(aggregate))
    for name in ("spike_test", "rate_of_change_test", "flat_line_test"):
        assert {1, 3} <= set(np.unique(direct[name])) or {1, 4} <= set(np.unique(direct[name])), name


@pytest.mark.parametrize("start, stop, step", [(0, 50, 1), (1, 2, 1), (37, 611, 1), (100, 1000, 7), (403, 404, 1)])
def test_slices_flag_as_the_whole_stream(served, start, stop, step):
    server, data = served
    url = dap_url(server.url, demo.CTD)
    with netCDF4.Dataset(url) as ds:
        whole = ds[f"{SALINITY}_qartod_results"][:]
        whole_executed = ds[f"{SALINITY}_qartod_executed"][:]
    with netCDF4.Dataset(url) as ds:  # a fresh request: nothing kept from the whole read
        part = ds[f"{SALINITY}_qartod_results"][start:stop:step]
        part_executed = ds[f"{SALINITY}_qartod_executed"][start:stop:step]
    np.testing.assert_array_equal(part, whole[start:stop:step])
    np.testing.assert_array_equal(part_executed, whole_executed[start:stop:step])


OXYGEN = "estimated_oxygen_concentration"


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, curated, samples_dir) -> Iterator[tuple[InProcessServer, object]]:
    """The demo streams plus the nitrate sample (its 2-D ``spectral_channels``), with records
    whose ``zinp`` is the co-located CTD's pressure and whose input is 2-D."""
    from stream_engine.ingest import ingest_file

    folder = tmp_path_factory.mktemp("dap_qartod_inputs")
    with EmbeddedStore(folder / "data") as store:
        demo.fill_demo(store, curated)
        overrides = {"subsite": "CE04OSPS", "node": "SF01B", "sensor": "4A-NUTNRA102", "method": "streamed",
                     "stream": "nutnr_a_sample"}
        nutnr = ingest_file(store, curated, samples_dir / "nutnr_a_sample.nc", overrides=overrides).key
        server = InProcessServer(in_process_app(store, curated, folder))
        with netCDF4.Dataset(dap_url(server.url, nutnr)) as ds:
            spectra = np.ma.filled(ds["spectral_channels"][:].astype(np.float64), np.nan)
        with netCDF4.Dataset(dap_url(server.url, demo.OPTODE)) as ds:
            oxygen = np.ma.filled(ds[OXYGEN][:].astype(np.float64), np.nan)
        per_column = {"qartod": {
            "gross_range_test": {"suspect_span": np.nanpercentile(spectra, [20, 80], axis=0).T.tolist(),
                                 "fail_span": np.nanpercentile(spectra, [5, 95], axis=0).T.tolist()},
            "spike_test": {"suspect_threshold": float(np.nanpercentile(np.abs(np.diff(spectra, axis=0)), 80)),
                           "fail_threshold": float(np.nanpercentile(np.abs(np.diff(spectra, axis=0)), 97))}}}
        pressure_config = {"qartod": {"climatology_test": {"config": [
            {"tspan": [0, 13], "period": "month", "vspan": [float(np.nanpercentile(oxygen, 40)), 1000],
             "zspan": [0, 86.2]},
            {"tspan": [0, 13], "period": "month", "vspan": [0, float(np.nanpercentile(oxygen, 60))],
             "zspan": [86.2, 100]}]}}}
        load_qartod(store, [
            {"refDes": "CE04OSPS-SF01B-4A-NUTNRA102", "stream": None, "qcConfig": per_column,
             "parameters": {"inp": "spectral_channels", "tinp": "time"}},
            {"refDes": f"{demo.OPTODE.subsite}-{demo.OPTODE.node}-{demo.OPTODE.sensor}", "stream": None,
             "qcConfig": pressure_config,
             "parameters": {"inp": OXYGEN, "tinp": "time", "zinp": f"{demo.CTD.stream}-ctdbp_seawater_pressure"}},
            {"refDes": f"{demo.OPTODE.subsite}-{demo.OPTODE.node}-{demo.OPTODE.sensor}", "stream": None,
             "qcConfig": pressure_config,
             "parameters": {"inp": "optode_temperature", "tinp": "time", "zinp": "no_such_pressure"}},
        ])
        try:
            yield server, {"nutnr": nutnr, "per_column": per_column, "pressure": pressure_config}
        finally:
            server.close()


def _run(config, times, values, depths=None):
    from ioos_qc.config import QcConfig

    stamps = ((times - NTP_UNIX_OFFSET) * 1e6).astype("datetime64[us]")
    extra = {} if depths is None else {"zinp": np.ma.masked_invalid(depths)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = QcConfig(config).run(inp=np.ma.masked_invalid(values), tinp=stamps, **extra)
    return np.vstack([np.ma.filled(f, 9).astype(np.uint8) for tests in results.values() for f in tests.values()])


def test_2d_input_tested_column_by_column_as_ioos_qc(inputs):
    server, data = inputs
    config = data["per_column"]
    with netCDF4.Dataset(dap_url(server.url, data["nutnr"])) as ds:
        times = np.ma.filled(ds["time"][:], np.nan)
        spectra = np.ma.filled(ds["spectral_channels"][:].astype(np.float64), np.nan)
        results = ds["spectral_channels_qartod_results"]
        assert results.dimensions == ds["spectral_channels"].dimensions
        whole, executed = results[:], ds["spectral_channels_qartod_executed"][:]
        part = ds["spectral_channels_qartod_results"][5:40:3, 100:140]
    assert whole.shape == spectra.shape
    for column in range(spectra.shape[1]):
        spans = {name: {**spec, **{k: v[column] for k, v in spec.items() if k.endswith("_span")}}
                 for name, spec in config["qartod"].items()}
        direct = _run({"qartod": spans}, times, spectra[:, column])
        np.testing.assert_array_equal(whole[:, column], direct.max(axis=0), err_msg=f"column {column}")
        np.testing.assert_array_equal([int(e[0]) for e in executed[:, column]], direct[0])
    assert {1, 3, 4} <= set(np.unique(whole))
    np.testing.assert_array_equal(part, whole[5:40:3, 100:140])


def test_zinp_from_a_co_located_stream_interpolated(inputs):
    server, data = inputs
    with netCDF4.Dataset(dap_url(server.url, demo.CTD)) as ds:
        ctd_times, pressure = np.ma.filled(ds["time"][:], np.nan), np.ma.filled(ds["sea_water_pressure"][:], np.nan)
    with netCDF4.Dataset(dap_url(server.url, demo.OPTODE)) as ds:
        times = np.ma.filled(ds["time"][:], np.nan)
        oxygen = np.ma.filled(ds[OXYGEN][:].astype(np.float64), np.nan)
        flags = ds[f"{OXYGEN}_qartod_results"][:]
        assert ds[f"{OXYGEN}_qartod_results"].tests_executed == "qartod.climatology_test"
        assert "qartod_not_run" not in ds[f"{OXYGEN}_qartod_results"].ncattrs()
        assert ds["optode_temperature_qartod_results"].qartod_not_run.startswith("records naming 'no_such_pressure'")
        assert (ds["optode_temperature_qartod_results"][:] == 2).all()
    inside = (times >= ctd_times[0]) & (times <= ctd_times[-1])
    assert inside.sum() > 0.9 * len(times)
    depths = np.interp(times, ctd_times, pressure)  # linear, as the engine interpolates product inputs
    depths[~inside] = np.nan  # beyond the CTD's records: within MAX_INTERPOLATION_GAP the edge value
    direct = _run(data["pressure"], times, oxygen, depths).max(axis=0)
    assert {1, 3} <= set(np.unique(direct[inside]))
    np.testing.assert_array_equal(flags[inside], direct[inside])
