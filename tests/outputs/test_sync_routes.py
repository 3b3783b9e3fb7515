"""``POST /netcdf``, ``/csv``, ``/tab`` through a real server on loopback: the zips hold the same
values as the engine and as the DAP view of the stream; every error class has its status."""

from __future__ import annotations

import io
import json
import zipfile

import netCDF4
import numpy as np
import pytest
from conftest import post, stream_body
from live_server import http

from stream_engine.demo import CTD
from stream_engine.engine.compute import compute
from stream_engine.engine.query import parse_query
from stream_engine.engine.resolve import resolve

SALINITY, DENSITY = 13, 5


def _archive(body: bytes) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(body))


def test_netcdf_zip_equals_engine_and_dap(export_server, demo_store, curated, export_settings, tmp_path):
    status, headers, body = post(export_server.url + "/netcdf", stream_body(CTD, [SALINITY, DENSITY]))
    assert status == 200, body[:300]
    assert headers["Content-Type"] == "application/zip"
    assert 'filename="ctdbp_cdef_instrument_recovered.zip"' in headers["Content-Disposition"]
    archive = _archive(body)
    names = sorted(archive.namelist())
    assert [n[:14] for n in names] == ["deployment0001", "deployment0002"]
    archive.extractall(tmp_path)
    parts = [netCDF4.Dataset(tmp_path / n) for n in names]
    try:
        times = np.concatenate([p["time"][:] for p in parts])
        salinity = np.concatenate([p["sea_water_practical_salinity"][:] for p in parts])
        density = np.concatenate([p["sea_water_density"][:] for p in parts])
    finally:
        for p in parts:
            p.close()
    query = parse_query(stream_body(CTD, [SALINITY, DENSITY]), curated, export_settings)
    plan = resolve(demo_store, curated, CTD, [SALINITY, DENSITY], query.time_range, settings=export_settings)
    out = compute(demo_store, curated, plan, settings=export_settings)
    np.testing.assert_array_equal(times, out.time)
    np.testing.assert_array_equal(salinity, out["practical_salinity"])
    # the DAP view of the same stream, read by netCDF-C over the loopback server
    with netCDF4.Dataset(f"{export_server.url}/dap/{CTD.path}") as dap:
        dap_times = dap["time"][:]
        dap_salinity = dap["sea_water_practical_salinity"][:]
        dap_density = dap["sea_water_density"][:]
    positions = np.searchsorted(dap_times, times)
    np.testing.assert_array_equal(dap_times[positions], times)
    np.testing.assert_array_equal(np.ma.filled(dap_salinity, np.nan)[positions], salinity)
    np.testing.assert_array_equal(np.ma.filled(dap_density, np.nan)[positions], density)


@pytest.mark.parametrize(("route", "suffix", "delimiter"), [("/csv", ".csv", ","), ("/tab", ".tsv", "\t")])
def test_delimited_zip(route, suffix, delimiter, export_server):
    stop = 3765744000.0  # 2019-05-02: the first day only
    status, _, body = post(export_server.url + route, stream_body(CTD, [SALINITY], stop=stop))
    assert status == 200, body[:300]
    archive = _archive(body)
    (name,) = archive.namelist()
    assert name.startswith("deployment0001_") and name.endswith(suffix)
    lines = archive.read(name).decode().splitlines()
    assert lines[0].split(delimiter)[:4] == ["time (seconds since 1900-01-01 0:0:0)", "time_iso8601 (UTC)",
                                             "deployment", "sea_water_practical_salinity (1)"]
    assert len(lines) == 1 + 1440


def test_scratch_folders_are_removed(export_server, async_dir):
    post(export_server.url + "/netcdf", stream_body(CTD, [SALINITY], stop=3765744000.0))
    assert list((async_dir / ".sync").iterdir()) == []


@pytest.mark.parametrize(("body", "status", "words"), [
    (b"{not json", 400, "not valid JSON"),
    (b"", 400, "empty"),
    ({"streams": "ctd"}, 400, "streams"),
    (stream_body(CTD.__class__(CTD.subsite, CTD.node, CTD.sensor, CTD.method, "no_such_stream")), 400,
     "no_such_stream"),
    (stream_body(CTD, [999999]), 400, "999999"),
    (stream_body(CTD, [14]), 400, "is not in stream"),
    (stream_body(CTD, start=5.0, stop=1.0), 400, "bad time range"),
    (stream_body(CTD, start=3000000000.0, stop=3000000100.0), 404, "no records"),
])
@pytest.mark.parametrize("route", ["/netcdf", "/csv", "/tab"])
def test_errors(route, body, status, words, export_server):
    got, headers, text = post(export_server.url + route, body)
    assert got == status, text
    error = json.loads(text)
    assert error["code"] == status and words in error["message"]
    assert error["requestUUID"] == headers["X-Request-ID"]


def test_get_is_not_allowed(export_server):
    status, headers, _ = http(export_server.url + "/netcdf")
    assert status == 405 and headers["Allow"] == "POST"


def test_exports_equal_particles(export_server, tmp_path):
    """NetCDF and CSV exports hold exactly the values ``POST /particles`` returns."""
    body = stream_body(CTD, [SALINITY, DENSITY], start=3765657600.0, stop=3765744000.0)
    status, _, text = post(export_server.url + "/particles", body)
    assert status == 200, text[:300]
    particles = json.loads(text)
    times = np.array([p["time"] for p in particles])
    salinity = np.array([np.nan if p["sea_water_practical_salinity"] is None
                         else p["sea_water_practical_salinity"] for p in particles])
    status, _, zipped = post(export_server.url + "/netcdf", body)
    archive = _archive(zipped)
    (name,) = archive.namelist()
    archive.extractall(tmp_path)
    with netCDF4.Dataset(tmp_path / name) as ds:
        np.testing.assert_array_equal(ds["time"][:], times)
        exported = np.ma.filled(ds["sea_water_practical_salinity"][:], np.nan)
        np.testing.assert_array_equal(exported, salinity.astype(exported.dtype))
    status, _, zipped = post(export_server.url + "/csv", body)
    rows = _archive(zipped).read(name.replace(".nc", ".csv")).decode().splitlines()[1:]
    assert [float(r.split(",")[0]) for r in rows] == times.tolist()
    in_csv = np.array([float(r.split(",")[3]) for r in rows], dtype=exported.dtype)
    np.testing.assert_array_equal(in_csv, salinity.astype(exported.dtype))
