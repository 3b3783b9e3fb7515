"""Dates instead of indices: ``&time>=...&time<...`` through real clients (ncdump, netCDF4-python)
and over HTTP; the ``obs`` size, the values and the DAS all describe the same window."""

from __future__ import annotations

import shutil
import subprocess
import urllib.request
from urllib.parse import quote

import numpy as np
import pytest
from stream_servers import dap_url, engine_values

from dap_handlers.time_selection import iso_to_ntp
from stream_engine import demo
from stream_engine.outputs.attributes import ntp_to_iso

NCDUMP = shutil.which("ncdump")
DAY_START, DAY_END = "2019-05-02", "2019-05-03T00:00:00Z"


@pytest.fixture(scope="module")
def ctd(engine_store, curated, engine_settings):
    values = engine_values(engine_store, curated, engine_settings, demo.CTD)
    inside = (values["time"] >= iso_to_ntp(DAY_START)) & (values["time"] < iso_to_ntp(DAY_END))
    return {name: np.asarray(column)[inside] for name, column in values.items()}


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=60) as response:
        return response.read().decode()


def test_iso_dates_are_utc_ntp_seconds():
    assert iso_to_ntp("1900-01-01") == 0.0
    assert iso_to_ntp("2019-05-02T00:00:00Z") == 3765744000.0
    assert iso_to_ntp("2019-05-02T02:00:00+02:00") == 3765744000.0
    assert iso_to_ntp("2019-05-02T00:00:00.25") == 3765744000.25


def test_ncdump_reads_a_dated_window(live, ctd):
    assert NCDUMP, "ncdump not installed (Debian package netcdf-bin)"
    # netCDF-C escapes the first quoted string twice, keeps integers, but rewrites fractional
    # numbers to 6 significant digits, and ncdump 4.9 refuses ':' in a value: dates or integers
    selection = f'&time>="{DAY_START}"&time<{int(iso_to_ntp(DAY_END))}'
    url = dap_url(live.url, demo.CTD) + "?time,sea_water_temperature" + selection
    out = subprocess.run([NCDUMP, "-p", "9,17", url], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    count = len(ctd["time"])
    assert count == 1440
    assert f"obs = {count} ;" in out
    body = out.split("\ndata:\n", 1)[1]
    times = body.split(" time =", 1)[1].split(";", 1)[0]
    got = np.array([float(v) for v in times.replace("\n", " ").split(",")])
    np.testing.assert_array_equal(got, ctd["time"])
    first, last = ctd["time"][0], ctd["time"][-1]
    assert f"time:actual_range = {first:.17g}, {last:.17g} ;" in out


def test_netcdf4_python_reads_a_dated_window_and_slices_inside_it(live, ctd):
    netCDF4 = pytest.importorskip("netCDF4")
    url = (dap_url(live.url, demo.CTD) + "?time,sea_water_temperature"
           + f'&time>={DAY_START}&time<"{DAY_END}"')
    with netCDF4.Dataset(url) as nc:
        assert nc.dimensions["obs"].size == len(ctd["time"])
        np.testing.assert_array_equal(nc["time"][:], ctd["time"])
        np.testing.assert_array_equal(nc["time"][10:20], ctd["time"][10:20])
        got = nc["sea_water_temperature"][5:9]
        np.testing.assert_array_equal(got, ctd["ctdbp_seawater_temperature"][5:9])


def test_dds_das_and_data_agree_over_http(live, ctd):
    base = dap_url(live.url, demo.CTD)
    last = repr(float(ctd["time"][-1]))
    query = quote(f"time[0:2]&time>={DAY_START}&time<={last}", safe="=&,[]:")
    dds = _get(f"{base}.dds?{query}")
    assert "Float64 time[obs = 3];" in dds
    full = _get(f"{base}.dds?{quote(f'time&time>={DAY_START}&time<={last}', safe='=&')}")
    assert f"Float64 time[obs = {len(ctd['time'])}];" in full
    das = _get(f"{base}.das?{quote(f'&time>={DAY_START}&time<{DAY_END}', safe='=&')}")
    assert 'String time_coverage_start "2019-05-02T00:00:00.689Z";' in das
    ascii_text = _get(f"{base}.ascii?{query}")
    values = ascii_text.split("time[3]\n", 1)[1].strip().split(", ")
    np.testing.assert_array_equal(np.array(values, float), ctd["time"][:3])


def test_bad_time_selections_are_400(live):
    base = dap_url(live.url, demo.CTD)
    for query in ("time&time>=someday", "time&pressure>3"):
        with pytest.raises(urllib.error.HTTPError) as caught:
            _get(f"{base}.dds?{quote(query, safe='=&')}")
        assert caught.value.code == 400


def test_html_form_offers_dates(live, ctd, engine_store):
    page = _get(dap_url(live.url, demo.CTD) + ".html")
    coverage = engine_store.coverage(demo.CTD)
    assert 'id="time-from"' in page and 'id="time-to"' in page
    assert f'placeholder="{ntp_to_iso(coverage.first)}"' in page
    assert "&time" in page
