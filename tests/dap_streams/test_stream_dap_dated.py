"""Dated sub-dataset URLs, ``/dap/<stream>/<start>/<stop>``: a dataset of one time window that
clients which cannot send a constraint open as a plain URL (netCDF4-python, ncdump, pydap, over
DAP2 and DAP4), with DDS, DAS, DMR and data describing the same records."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.error
import urllib.request

import numpy as np
import pytest
from stream_servers import dap_url, engine_values

from dap_handlers.time_selection import iso_to_ntp
from stream_engine import demo

NCDUMP = shutil.which("ncdump")
START, STOP = "2019-05-02", "2019-05-03T06:00:00Z"


@pytest.fixture(scope="module")
def window(engine_store, curated, engine_settings):
    values = engine_values(engine_store, curated, engine_settings, demo.CTD)
    inside = (values["time"] >= iso_to_ntp(START)) & (values["time"] < iso_to_ntp(STOP))
    return {name: np.asarray(column)[inside] for name, column in values.items()}


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def _dated(live) -> str:
    return f"{dap_url(live.url, demo.CTD)}/{START}/{STOP}"


def test_netcdf4_python_opens_the_dated_url(live, window):
    netCDF4 = pytest.importorskip("netCDF4")
    count = len(window["time"])
    assert count == 1440 + 360
    for suffix in ("", "#dap4"):
        with netCDF4.Dataset(_dated(live) + suffix) as ds:
            ds.set_auto_mask(False)
            assert ds.dimensions["obs"].size == count
            np.testing.assert_array_equal(ds["time"][:], window["time"])
            np.testing.assert_array_equal(ds["sea_water_density"][100:200], window["density"][100:200])
            np.testing.assert_array_equal(ds["time"].actual_range,
                                          [window["time"][0], window["time"][-1]])


@pytest.mark.skipif(NCDUMP is None, reason="ncdump not installed (Debian package netcdf-bin)")
def test_ncdump_reads_the_dated_url(live, window):
    out = subprocess.run([NCDUMP, "-v", "time,sea_water_temperature", "-p", "9,17", _dated(live)],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    assert f"obs = {len(window['time'])} ;" in out
    times = out.split(" time =", 1)[1].split(";", 1)[0]
    np.testing.assert_array_equal([float(v) for v in times.replace("\n", " ").split(",")],
                                  window["time"])


def test_pydap_reads_the_dated_url(live, window):
    client = pytest.importorskip("pydap.client")
    for protocol in ("dap2", "dap4"):
        ds = client.open_url(_dated(live), protocol=protocol)
        assert ds["time"].shape == (len(window["time"]),)
        np.testing.assert_array_equal(np.asarray(ds["sea_water_practical_salinity"][::50].data),
                                      window["practical_salinity"][::50])


def test_dds_das_dmr_and_constraints_agree(live, window):
    dated = _dated(live)
    count = len(window["time"])
    assert f"Float64 time[obs = {count}];" in _get(dated + ".dds")[1]
    assert "Float64 time[obs = 3];" in _get(dated + ".dds?time[0:2]")[1]
    das = _get(dated + ".das")[1]
    first, last = float(window['time'][0]), float(window['time'][-1])
    assert f"Float64 actual_range {first!r}, {last!r};" in das
    assert f'<Dimension name="obs" size="{count}"/>' in _get(dated + ".dmr")[1]
    # a selection inside a dated dataset narrows it further
    narrower = _get(dated + ".dds?time&time<2019-05-02T01:00:00")[1]
    assert "Float64 time[obs = 60];" in narrower


@pytest.mark.parametrize(("path", "status"), [
    ("/2019-05-03/2019-05-02.dds", 400),
    ("/yesterday/2019-05-02.dds", 404),
    ("/extra/part", 404),
    ("/2019-05-02/2019-05-03.dmrx", 404),
    ("/2019-05-03/2019-05-02.dmr", 400),
])
def test_bad_dated_urls(live, path, status):
    code, body = _get(dap_url(live.url, demo.CTD) + path)
    assert code == status
    assert ("Error" in body) and ("Traceback" not in body)


def test_dated_urls_are_listed(live):
    form = _get(dap_url(live.url, demo.CTD) + ".html")[1]
    assert 'id="dated-url"' in form and 'id="dap4-url"' in form
    index = json.loads(_get(live.url + "/dap.json")[1])["datasets"]
    entry = next(e for e in index if e["stream"] == demo.CTD.stream)
    assert entry["dated"] == entry["url"] + "/{start}/{stop}"
    page = _get(f"{live.url}/catalog/{demo.CTD.path}")[1]
    first_day = f"{dap_url(live.url, demo.CTD)}/2019-05-01/2019-05-02"
    assert first_day in page
    assert _get(first_day + ".dds")[0] == 200
