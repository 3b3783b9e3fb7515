"""Real DAP clients against `stream-engine serve`: every value equals the engine's own answer.

netCDF4-python (libnetcdf's DAP2 client), xarray with the netcdf4 and pydap engines, pydap's
client and ``ncdump`` open the demo mooring streams and the OOI samples; whole variables,
hyperslabs and strided slices of stored parameters and of products (cross-stream ones included)
must equal :func:`resolve` + :func:`compute` run in-process over the same store
(``require_deployment=False``), NaN equal to NaN.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pytest
from stream_servers import (
    ADCP,
    CHECKS,
    GLIDER,
    IDS,
    KEYS,
    RENAMED,
    SLICES,
    assert_same,
    dap_url,
    decoded,
)

from stream_engine import demo
from stream_engine.outputs.attributes import fill_value

NCDUMP = shutil.which("ncdump")
PYDAP_PROTOCOL_WARNING = "ignore:PyDAP was unable to determine the DAP protocol:UserWarning"

def _check_names(key, names):
    for (k, parameter), dap_name in RENAMED.items():
        if k == key:
            assert names[parameter] == dap_name


@pytest.mark.parametrize("stream", KEYS, ids=IDS, indirect=True)
def test_netcdf4_python(live, stream):
    netCDF4 = pytest.importorskip("netCDF4")
    key, oracle, params = stream
    with netCDF4.Dataset(dap_url(live.url, key)) as ds:
        ds.set_auto_mask(False)
        assert ds.dimensions["obs"].size == len(oracle["time"])
        names = {ds[v].ooi_parameter_name: v for v in ds.variables
                 if "ooi_parameter_name" in ds[v].ncattrs()}
        _check_names(key, names)
        for parameter in CHECKS[key][0]:
            variable = ds[names[parameter]]
            for sl in SLICES:
                assert_same(variable[sl], oracle[parameter][sl], f"{parameter}{sl}")
        for name, parameter in ((v, ds[v].getncattr("ooi_parameter_name"))
                                for v in ds.variables if "ooi_parameter_name" in ds[v].ncattrs()):
            if parameter in oracle and ds[name].dtype != "S1":
                assert_same(ds[name][:], oracle[parameter], name)
        assert_same(ds["time"][:], oracle["time"], "time")
        assert_same(ds["deployment"][:], oracle["deployment"], "deployment")
        assert ds["time"].units == "seconds since 1900-01-01 0:0:0"
        assert ds.summary.startswith(f'Stream "{key.stream}" of instrument {key.refdes}')
        coverage = live_coverage(key, oracle)
        np.testing.assert_array_equal(ds["time"].actual_range, coverage)


def live_coverage(key, oracle):
    return np.array([oracle["time"][0], oracle["time"][-1]])


@pytest.mark.parametrize("stream", KEYS, ids=IDS, indirect=True)
def test_xarray_netcdf4_engine(live, stream):
    xr = pytest.importorskip("xarray")
    key, oracle, params = stream
    with xr.open_dataset(dap_url(live.url, key), engine="netcdf4", decode_times=False) as ds:
        names = {ds[v].attrs["ooi_parameter_name"]: v for v in ds.variables
                 if "ooi_parameter_name" in ds[v].attrs}
        _check_names(key, names)
        assert ds.sizes["obs"] == len(oracle["time"])
        for parameter in CHECKS[key][0]:
            expected = decoded(oracle[parameter], fill_value(params[parameter]))
            for sl in SLICES:
                assert_same(ds[names[parameter]][sl].values, expected[sl], f"{parameter}{sl}")
        assert_same(ds["time"].values, oracle["time"], "time")
        assert ds.attrs["summary"].startswith(f'Stream "{key.stream}" of instrument {key.refdes}')


@pytest.mark.filterwarnings(PYDAP_PROTOCOL_WARNING)
@pytest.mark.parametrize("stream", KEYS, ids=IDS, indirect=True)
def test_xarray_pydap_engine(live, stream):
    xr = pytest.importorskip("xarray")
    pytest.importorskip("pydap")
    key, oracle, params = stream
    with xr.open_dataset(dap_url(live.url, key), engine="pydap", decode_times=False) as ds:
        names = {ds[v].attrs["ooi_parameter_name"]: v for v in ds.variables
                 if "ooi_parameter_name" in ds[v].attrs}
        _check_names(key, names)
        for parameter in CHECKS[key][0]:
            expected = decoded(oracle[parameter], fill_value(params[parameter]))
            for sl in SLICES:
                assert_same(ds[names[parameter]][sl].values, expected[sl], f"{parameter}{sl}")
        assert_same(ds["time"][::101].values, oracle["time"][::101], "time")
        assert ds["time"].attrs["actual_range"][0] == oracle["time"][0]


@pytest.mark.filterwarnings(PYDAP_PROTOCOL_WARNING)
@pytest.mark.parametrize("stream", KEYS, ids=IDS, indirect=True)
def test_pydap_client(live, stream):
    client = pytest.importorskip("pydap.client")
    key, oracle, params = stream
    ds = client.open_url(dap_url(live.url, key))
    assert list(ds.keys())[:2] == ["time", "deployment"]
    names = {ds[v].attributes["ooi_parameter_name"]: v for v in ds.keys()
             if "ooi_parameter_name" in ds[v].attributes}
    _check_names(key, names)
    for parameter in CHECKS[key][0]:
        for sl in SLICES:
            got = np.asarray(ds[names[parameter]][sl].data)
            assert_same(got, oracle[parameter][sl], f"{parameter}{sl}")
    # pydap's DAS parser strips the quotes of a string but does not undo its escapes
    summary = ds.attributes["summary"].replace('\\"', '"')
    assert summary.startswith(f'Stream "{key.stream}" of instrument {key.refdes}')


def _ncdump_values(text: str, name: str) -> np.ndarray:
    body = text.split("\ndata:\n", 1)[1]
    match = re.search(rf"\n {re.escape(name)} =(.*?);", body, re.S)
    assert match, f"{name} not in ncdump output"
    items = [v.strip() for v in match.group(1).replace("\n", " ").split(",")]
    return np.array([np.nan if v in ("_", "NaN", "NaNf", "nan") else float(v.rstrip("f"))
                     for v in items])


@pytest.mark.skipif(NCDUMP is None, reason="ncdump not installed (Debian package netcdf-bin)")
@pytest.mark.parametrize("stream", [demo.OPTODE, GLIDER], ids=["optode", "glider"], indirect=True)
def test_ncdump(live, stream):
    key, oracle, params = stream
    url = dap_url(live.url, key)
    header = subprocess.run([NCDUMP, "-h", "-p", "9,17", url], capture_output=True, text=True,
                            timeout=120, check=True).stdout
    product = CHECKS[key][0][0]
    dap_name = RENAMED.get((key, product), product)
    assert "double time(obs) ;" in header
    assert f"float {dap_name}(obs) ;" in header
    assert f'\t\t{dap_name}:ooi_parameter_name = "{product}" ;' in header
    first, last = oracle["time"][0], oracle["time"][-1]
    assert f"time:actual_range = {first:.17g}, {last:.17g} ;" in header
    assert f':summary = "Stream \\"{key.stream}\\" of instrument {key.refdes}' in header
    values = subprocess.run([NCDUMP, "-v", f"time,{dap_name}", "-p", "9,17", url],
                            capture_output=True, text=True, timeout=120, check=True).stdout
    np.testing.assert_array_equal(_ncdump_values(values, "time"), oracle["time"])
    got = _ncdump_values(values, dap_name).astype(oracle[product].dtype)
    np.testing.assert_array_equal(got, oracle[product])


@pytest.mark.filterwarnings(PYDAP_PROTOCOL_WARNING)
@pytest.mark.parametrize("stream", [ADCP], ids=["adcp"], indirect=True)
def test_two_dimensional_hyperslabs(live, stream):
    netCDF4 = pytest.importorskip("netCDF4")
    client = pytest.importorskip("pydap.client")
    key, oracle, params = stream
    url = dap_url(live.url, key)
    box = (slice(3, 90, 4), slice(1, 45, 3))
    with netCDF4.Dataset(url) as ds:
        ds.set_auto_mask(False)
        assert ds["velocity_beam1"].dimensions == ("obs", "bin")
        assert ds.dimensions["bin"].size == oracle["velocity_beam1"].shape[1] == 50
        for name in ("velocity_beam1", "echo_intensity_beam2"):
            assert_same(ds[name][box], oracle[name][box], name)
            assert_same(ds[name][:], oracle[name], name)
    ds = client.open_url(url)
    assert_same(np.asarray(ds["echo_intensity_beam2"][box].data), oracle["echo_intensity_beam2"][box],
                "pydap")
