"""DAP4 through real clients against `stream-engine serve`: netCDF4-python (libnetcdf 4.10's
DAP4 client), xarray with its netcdf4 engine (``URL#dap4`` and ``dap4://``) and its pydap engine
(``dap4://``), the system ``ncdump`` (4.9) and pydap's DAP4 client read the demo and sample
streams, products included, with the values the engine computes and DAP2 serves."""

from __future__ import annotations

import re
import shutil
import subprocess
import urllib.request
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from stream_servers import (
    ADCP,
    BIG,
    BIG_DT,
    BIG_RECORDS,
    BIG_START,
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
DAP4 = "{http://xml.opendap.org/ns/DAP/4.0#}"


def _names(variables) -> dict[str, str]:
    return {v.ooi_parameter_name: name for name, v in variables.items()
            if "ooi_parameter_name" in v.ncattrs()}


@pytest.mark.parametrize("stream", KEYS, ids=IDS, indirect=True)
def test_netcdf4_python_dap4_equals_engine_and_dap2(live, stream):
    netCDF4 = pytest.importorskip("netCDF4")
    key, oracle, _ = stream
    url = dap_url(live.url, key)
    with netCDF4.Dataset(url + "#dap4") as d4, netCDF4.Dataset(url) as d2:
        d4.set_auto_mask(False)
        d2.set_auto_mask(False)
        assert d4.dimensions["obs"].size == len(oracle["time"])
        names = _names(d4.variables)
        for (k, parameter), dap_name in RENAMED.items():
            if k == key:
                assert names[parameter] == dap_name
        for parameter in CHECKS[key][0]:
            variable = d4[names[parameter]]
            for sl in SLICES:
                assert_same(variable[sl], oracle[parameter][sl], f"{parameter}{sl}")
            assert_same(variable[:], d2[names[parameter]][:], f"{parameter} DAP4 vs DAP2")
        assert_same(d4["time"][:], oracle["time"], "time")
        assert_same(d4["deployment"][:], oracle["deployment"], "deployment")
        assert d4["time"].units == "seconds since 1900-01-01 0:0:0"
        np.testing.assert_array_equal(d4["time"].actual_range,
                                      [oracle["time"][0], oracle["time"][-1]])
        assert d4.summary == d2.summary


@pytest.mark.parametrize("stream", KEYS, ids=IDS, indirect=True)
def test_pydap_dap4_client(live, stream):
    client = pytest.importorskip("pydap.client")
    key, oracle, _ = stream
    ds = client.open_url(dap_url(live.url, key), protocol="dap4")
    names = {ds[v].attributes["ooi_parameter_name"]: v for v in ds.keys()
             if "ooi_parameter_name" in ds[v].attributes}
    for parameter in CHECKS[key][0]:
        for sl in SLICES:
            got = np.asarray(ds[names[parameter]][sl].data)
            assert_same(got, oracle[parameter][sl], f"{parameter}{sl}")
    assert ds["time"].attributes["actual_range"] == [oracle["time"][0], oracle["time"][-1]]


@pytest.mark.parametrize("stream", [demo.CTD], ids=["ctd"], indirect=True)
def test_checksummed_reads(live, stream):
    netCDF4 = pytest.importorskip("netCDF4")
    key, oracle, _ = stream
    with netCDF4.Dataset(dap_url(live.url, key) + "?dap4.checksum=true#dap4") as ds:
        ds.set_auto_mask(False)
        assert_same(ds["sea_water_density"][:], oracle["density"], "density")
        assert_same(ds["preferred_timestamp"][:], oracle["preferred_timestamp"], "strings")


def _ncdump_values(text: str, name: str) -> list[str]:
    body = text.split("\ndata:\n", 1)[1]
    match = re.search(rf"\n {re.escape(name)} =(.*?);", body, re.S)
    assert match, f"{name} not in ncdump output"
    return [v.strip() for v in match.group(1).replace("\n", " ").split(",")]


@pytest.mark.skipif(NCDUMP is None, reason="ncdump not installed (Debian package netcdf-bin)")
@pytest.mark.parametrize("stream", [demo.OPTODE, GLIDER, ADCP], ids=["optode", "glider", "adcp"],
                         indirect=True)
@pytest.mark.parametrize("checksum", ["false", "true"])
def test_ncdump_dap4_with_a_constraint(live, stream, checksum):
    key, oracle, params = stream
    product = CHECKS[key][0][0]
    name = RENAMED.get((key, product), product)
    ce = f"/time[0:2:99];/{name}[0:2:99]"
    url = f"{dap_url(live.url, key)}?dap4.checksum={checksum}&dap4.ce={ce}#dap4"
    out = subprocess.run([NCDUMP, "-p", "9,17", url], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    assert "double time(obs) ;" in out
    times = np.array([float(v) for v in _ncdump_values(out, "time")])
    np.testing.assert_array_equal(times, oracle["time"][0:100:2])
    expected = oracle[product][0:100:2]
    missing = fill_value(params[product])  # ncdump writes "_" for a value equal to _FillValue
    got = np.array([missing if v == "_" else float(v.rstrip("f"))
                    for v in _ncdump_values(out, name)])
    np.testing.assert_array_equal(got.reshape(expected.shape).astype(expected.dtype), expected)


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_dmr_routes_and_dap4_errors(live):
    base = dap_url(live.url, demo.CTD)
    status, dmr = _get(base + ".dmr.xml")
    assert status == 200
    root = ET.fromstring(dmr)
    assert root.find(f"{DAP4}Dimension").get("size") == "40320"
    status, body = _get(base + ".dap?dap4.ce=/no_such_variable")
    assert status == 404
    assert ET.fromstring(body).get("httpcode") == "404"
    status, body = _get(base + ".dap")  # every variable, over the test server's 3 MB cap
    assert status == 413
    assert "dap4.ce=" in ET.fromstring(body).find(f"{DAP4}Message").text
    status, dsr = _get(base + ".dsr")
    assert status == 200 and base.encode() + b".dmr" in dsr


def test_dap4_on_ten_million_records_reads_only_what_is_asked(big_server, big_store):
    base = f"{big_server.url}/dap/{BIG.path}"
    big_store.reset()
    for suffix in (".dmr", ".dmr.xml", ".dsr"):
        assert _get(base + suffix)[0] == 200
    assert big_store.records[BIG] == 0
    root = ET.fromstring(_get(base + ".dmr")[1])
    assert root.find(f"{DAP4}Dimension").get("size") == str(BIG_RECORDS)
    status, body = _get(base + ".dap?dap4.ce=/time[9999990:3:]")
    assert status == 200
    dmr_size = int.from_bytes(body[1:4], "big")
    data = body[4 + dmr_size:]
    assert data[0] == 0x05 and int.from_bytes(data[1:4], "big") == 4 * 8  # last, little-endian
    times = np.frombuffer(data[4:], "<f8")
    np.testing.assert_array_equal(times, BIG_START + np.arange(9_999_990, BIG_RECORDS, 3) * BIG_DT)
    assert big_store.records[BIG] <= 10


def _ooi_names(ds) -> dict[str, str]:
    return {ds[v].attrs["ooi_parameter_name"]: v for v in ds.variables if "ooi_parameter_name" in ds[v].attrs}


#: xarray over DAP4 on the demo CTD (products, cross-deployment) and a sample stream (glider).
XARRAY_KEYS = [demo.CTD, GLIDER]
XARRAY_SLICES = (slice(5, 1234), slice(1, None, 997))


@pytest.mark.parametrize("form", ["#dap4", "dap4://"])
@pytest.mark.parametrize("stream", XARRAY_KEYS, ids=[k.stream for k in XARRAY_KEYS], indirect=True)
def test_xarray_netcdf4_engine_dap4_equals_engine_and_dap2(live, stream, form):
    xr = pytest.importorskip("xarray")
    key, oracle, params = stream
    url = dap_url(live.url, key)
    dap4 = url + "#dap4" if form == "#dap4" else "dap4://" + url.removeprefix("http://")
    with xr.open_dataset(dap4, engine="netcdf4", decode_times=False) as d4, \
            xr.open_dataset(url, engine="netcdf4", decode_times=False) as d2:
        names = _ooi_names(d4)
        assert d4.sizes["obs"] == len(oracle["time"])
        for parameter in CHECKS[key][0]:
            expected = decoded(oracle[parameter], fill_value(params[parameter]))
            got = d4[names[parameter]].values
            assert_same(got, expected, parameter)
            assert_same(got, d2[names[parameter]].values, f"{parameter} DAP4 vs DAP2")
        assert_same(d4["time"].values, oracle["time"], "time")
        assert d4.attrs["summary"] == d2.attrs["summary"]


@pytest.mark.parametrize("stream", XARRAY_KEYS, ids=[k.stream for k in XARRAY_KEYS], indirect=True)
def test_xarray_pydap_engine_dap4_equals_engine_and_dap2(live, stream):
    """xarray's pydap engine over DAP4: a pydap DAP4 dataset handed to ``PydapDataStore``, and
    (once, the CTD) the ``dap4://`` URL form. With ``dap4://`` pydap 3.5.9 tries https first and
    falls back to http only after its retries (about 3.5 s per request on an http server), so the
    values are compared through the fast form."""
    xr = pytest.importorskip("xarray")
    client = pytest.importorskip("pydap.client")
    key, oracle, params = stream
    url = dap_url(live.url, key)
    d4_store = xr.backends.PydapDataStore(client.open_url(url, protocol="dap4"), protocol="dap4")
    d2_store = xr.backends.PydapDataStore(client.open_url(url, protocol="dap2"), protocol="dap2")
    with xr.open_dataset(d4_store, decode_times=False) as d4, xr.open_dataset(d2_store, decode_times=False) as d2:
        names = _ooi_names(d4)
        for parameter in CHECKS[key][0]:
            expected = decoded(oracle[parameter], fill_value(params[parameter]))
            for sl in XARRAY_SLICES:
                got = d4[names[parameter]][sl].values
                assert_same(got, expected[sl], f"{parameter}{sl}")
                assert_same(got, d2[names[parameter]][sl].values, f"{parameter}{sl} DAP4 vs DAP2")
        assert_same(d4["time"][::101].values, oracle["time"][::101], "time")
    if key == demo.CTD:
        with xr.open_dataset("dap4://" + url.removeprefix("http://"), engine="pydap", decode_times=False) as ds:
            assert_same(ds["time"][:3].values, oracle["time"][:3], "time over dap4://")
