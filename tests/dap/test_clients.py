"""Real DAP clients against handle_dap on a loopback server.

netCDF4-python (libnetcdf's DAP2 client), xarray with the netcdf4 and pydap engines, pydap's own
client and ``ncdump`` must all read the same values and attributes that went in.
"""

from __future__ import annotations

import shutil
import subprocess
import urllib.request

import numpy as np
import pytest
from dap_fixtures import N_OBS, PRECISE, TITLE, sample_arrays

ARRAYS = sample_arrays()
NCDUMP = shutil.which("ncdump")


#: pydap warns that an http:// URL does not say DAP2 or DAP4; its dap2:// scheme means https.
PYDAP_PROTOCOL_WARNING = "ignore:PyDAP was unable to determine the DAP protocol:UserWarning"


def test_netcdf4_python(dap_server):
    netCDF4 = pytest.importorskip("netCDF4")
    dap_server.requests.clear()
    with netCDF4.Dataset(dap_server.url) as ds:
        assert ds.title == TITLE
        assert ds.precise_global == PRECISE
        assert ds["temperature"].comment == 'computed by "ctd_sbe37im_tempwat", see \\docs'
        assert ds["time"].units == "seconds since 1900-01-01 0:0:0"
        np.testing.assert_array_equal(ds["time"].actual_range, ARRAYS["time"][[0, -1]])
        assert ds["temperature"].dtype == np.float32 and ds["count"].dtype == np.int32
        np.testing.assert_array_equal(ds["time"][10:200:7], ARRAYS["time"][10:200:7])
        np.testing.assert_array_equal(ds["time"][:], ARRAYS["time"])
        np.testing.assert_array_equal(ds["temperature"][4990:], ARRAYS["temperature"][4990:])
        np.testing.assert_array_equal(ds["count"][::999], ARRAYS["count"][::999])
        np.testing.assert_array_equal(ds["spectra"][3:9:2, 1:6:2], ARRAYS["spectra"][3:9:2, 1:6:2])
        np.testing.assert_array_equal(ds["spectra"][:], ARRAYS["spectra"])
        # _Encoding "utf-8": netCDF4 decodes the char array to str itself
        stations = ds["station"][100:103]
        assert stations.dtype.kind in "UO"
        np.testing.assert_array_equal(stations, ARRAYS["station"][100:103])
        np.testing.assert_array_equal(ds["coefficients"][:], ARRAYS["coefficients"])
    # netCDF-C sends lower-case %5b/%5d and inclusive [start:stride:stop]
    assert any("?time%5b10:7:" in r for r in dap_server.requests), dap_server.requests


def test_xarray_netcdf4_engine(dap_server):
    xr = pytest.importorskip("xarray")
    dap_server.requests.clear()
    with xr.open_dataset(dap_server.url, engine="netcdf4", decode_times=False) as ds:
        # time is an ordinary variable on obs: opening must not download all of it
        assert not any(r.endswith("?time") for r in dap_server.requests), dap_server.requests
        assert ds.sizes == {"obs": N_OBS, "wavelength": 7, "coeff": 4}
        assert ds.attrs["title"] == TITLE and ds.attrs["precise_global"] == PRECISE
        np.testing.assert_array_equal(ds["time"].values, ARRAYS["time"])
        np.testing.assert_array_equal(
            ds["spectra"][100:110:3, ::2].values, ARRAYS["spectra"][100:110:3, ::2]
        )
        np.testing.assert_array_equal(ds["count"][-5:].values, ARRAYS["count"][-5:])
        np.testing.assert_array_equal(
            ds["temperature"].isel(obs=slice(0, 50, 5)).values, ARRAYS["temperature"][0:50:5]
        )
    with xr.open_dataset(dap_server.url, engine="netcdf4") as ds:
        assert ds["time"].values[0] == np.datetime64("2023-08-02T21:20:00.123456")


@pytest.mark.filterwarnings(PYDAP_PROTOCOL_WARNING)
def test_xarray_pydap_engine(dap_server):
    xr = pytest.importorskip("xarray")
    pytest.importorskip("pydap")
    with xr.open_dataset(dap_server.url, engine="pydap", decode_times=False) as ds:
        assert ds.attrs["precise_global"] == PRECISE
        assert ds["temperature"].dtype == np.float32 and ds["count"].dtype == np.int32
        np.testing.assert_array_equal(ds["time"][7:77:7].values, ARRAYS["time"][7:77:7])
        np.testing.assert_array_equal(ds["spectra"][5:8].values, ARRAYS["spectra"][5:8])
        np.testing.assert_array_equal(ds["station"][:4].values.astype(str), ARRAYS["station"][:4])
        np.testing.assert_array_equal(ds["coefficients"].values, ARRAYS["coefficients"])


@pytest.mark.filterwarnings(PYDAP_PROTOCOL_WARNING)
def test_pydap_client(dap_server):
    client = pytest.importorskip("pydap.client")
    ds = client.open_url(dap_server.url)
    assert list(ds.keys()) == ["time", "temperature", "count", "spectra", "station", "coefficients"]
    assert ds.attributes["precise_global"] == PRECISE
    assert ds["coefficients"].attributes["precise"] == PRECISE
    np.testing.assert_array_equal(np.asarray(ds["time"][10:20:3].data), ARRAYS["time"][10:20:3])
    np.testing.assert_array_equal(np.asarray(ds["count"][:].data), ARRAYS["count"])
    np.testing.assert_array_equal(
        np.asarray(ds["spectra"][2:4, 1:7:3].data), ARRAYS["spectra"][2:4, 1:7:3]
    )
    np.testing.assert_array_equal(
        np.asarray(ds["temperature"][-3:].data), ARRAYS["temperature"][-3:]
    )
    np.testing.assert_array_equal(
        np.asarray(ds["station"][20:25].data).astype(str), ARRAYS["station"][20:25]
    )


def test_plain_http_error_for_out_of_range_slice(dap_server):
    with pytest.raises(urllib.request.HTTPError) as caught:
        urllib.request.urlopen(dap_server.url + ".dods?time%5B0:5000%5D")
    assert caught.value.code == 400
    assert b"code = 1005" in caught.value.read()


@pytest.mark.skipif(NCDUMP is None, reason="ncdump not installed (Debian package netcdf-bin)")
def test_ncdump(dap_server):
    header = subprocess.run(
        [NCDUMP, "-h", "-p", "9,17", dap_server.url],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert "double time(obs) ;" in header
    assert "float temperature(obs) ;" in header
    assert "double spectra(obs, wavelength) ;" in header
    assert ":precise_global = 0.30000000000000004 ;" in header
    assert ':title = "CTD \\"A\\" data, path C:\\\\ooi\\\\ctd" ;' in header
    values = subprocess.run(
        [NCDUMP, "-v", "coefficients", dap_server.url],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert "coefficients = 1.5, -2.25, 0.3, 1e-30 ;" in values
