"""Per-record positions (issue 7's ``Plan.positions``) in ``/particles`` and the exports, equal
to what DAP serves for the same stream: the demo mooring's deployment location and a glider's
GPS position interpolated onto its CTD records."""

from __future__ import annotations

import csv
import json

import netCDF4
import numpy as np
import pytest
from conftest import post, stream_body

from dap_handlers.stream_dataset import stream_dataset
from stream_engine.assets import load_event_file
from stream_engine.demo import CTD, DEPTH, LAT, LON
from stream_engine.engine.query import parse_query
from stream_engine.engine.query_run import run_query
from stream_engine.ingest import ingest_file
from stream_engine.outputs.export import run_export
from stream_engine.store.base import StreamKey
from stream_engine.store.embedded import EmbeddedStore

SALINITY = 13
GL388 = "deployment0008_CP05MOAS-GL388-{}-recovered_host-{}.nc"
GPS_STREAM, CTD_STREAM = "glider_gps_position", "ctdgv_m_glider_instrument_recovered"
GLIDER_CTD = StreamKey("CP05MOAS", "GL388", "03-CTDGVM000", "recovered_host", CTD_STREAM)
GLIDER_FILES = (GL388.format("00-ENG000000", GPS_STREAM), GL388.format("03-CTDGVM000", CTD_STREAM))
GLIDER_EVENTS = ("CP05MOAS-GL388-00-ENG000000_events.json", "CP05MOAS-GL388-03-CTDGVM000_events.json")


def _dap(store, preload, key, settings, *names):
    dataset = stream_dataset(store, preload, key, settings=settings)
    return {name: np.asarray(dataset[name].read()) for name in ("time", *names)}


def test_particles_carry_the_deployment_location(export_server, demo_store, curated, export_settings):
    body = stream_body(CTD, [SALINITY], start=3765657600.0, stop=3765744000.0)
    status, _, text = post(export_server.url + "/particles", body)
    assert status == 200, text[:300]
    particles = json.loads(text)
    assert particles and all((p["lat"], p["lon"]) == (LAT, LON) for p in particles)
    dap = _dap(demo_store, curated, CTD, export_settings, "lat", "lon")
    at = np.searchsorted(dap["time"], [p["time"] for p in particles])
    for name in ("lat", "lon"):
        np.testing.assert_array_equal([p[name] for p in particles], dap[name][at])


def test_demo_exports_write_positions_per_record(demo_store, curated, export_settings, tmp_path):
    query = parse_query(stream_body(CTD, [SALINITY]), curated, export_settings)
    result = run_export(demo_store, curated, query, "netcdf", tmp_path / "nc", export_settings)
    dap = _dap(demo_store, curated, CTD, export_settings, "lat", "lon")
    times, found = [], {"lat": [], "lon": []}
    for path in result.files:
        with netCDF4.Dataset(path) as ds:
            ds.set_auto_mask(False)
            times.append(ds["time"][:])
            for name in found:
                assert ds[name].dimensions == ("obs",) and ds[name].dtype == np.float64
                found[name].append(ds[name][:])
            assert ds.geospatial_vertical_max == DEPTH  # the deployment's nominal depth stays a global
            assert ds["lat"].standard_name == "latitude" and ds["lat"].axis == "Y"
            assert ds["lon"].units == "degrees_east" and ds["lon"].coverage_content_type == "coordinate"
            assert ds["sea_water_practical_salinity"].coordinates == "time lat lon"
    np.testing.assert_array_equal(np.concatenate(times), dap["time"])
    for name, where in (("lat", LAT), ("lon", LON)):
        np.testing.assert_array_equal(np.concatenate(found[name]), dap[name])
        assert (dap[name] == where).all()
    result = run_export(demo_store, curated, query, "csv", tmp_path / "csv", export_settings)
    with open(result.files[0], newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        first = next(reader)
    assert header[-2:] == ["lat (degrees_north)", "lon (degrees_east)"]
    assert [float(v) for v in first[-2:]] == [LAT, LON]


@pytest.fixture(scope="module")
def glider_store(tmp_path_factory, curated, samples_dir):
    with EmbeddedStore(tmp_path_factory.mktemp("glider_positions") / "data") as store:
        for name in GLIDER_FILES:
            ingest_file(store, curated, samples_dir / name)
        for name in GLIDER_EVENTS:
            load_event_file(store, samples_dir / name)
        yield store


def test_glider_positions_equal_dap(glider_store, curated, export_settings, tmp_path):
    names = ("lat", "lon", "m_gps_lat", "m_gps_lon", "m_lat", "m_lon")
    dap = _dap(glider_store, curated, GLIDER_CTD, export_settings, *names)
    assert np.isfinite(dap["lat"]).sum() > 100  # the comparison below is of real positions
    assert np.nanmin(dap["lat"]) > 39 and np.nanmax(dap["lat"]) < 41  # off the Pioneer array
    query = parse_query(stream_body(GLIDER_CTD, []), curated, export_settings)
    chunks = list(run_query(glider_store, curated, query, export_settings.replace(QUERY_CHUNK_RECORDS=500)))
    served = {name: np.concatenate([c.data[name] for c in chunks]) for name in ("time", *names)}
    np.testing.assert_array_equal(served["time"], dap["time"])
    for name in names:
        np.testing.assert_array_equal(served[name], dap[name])
    result = run_export(glider_store, curated, query, "netcdf", tmp_path, export_settings)
    with netCDF4.Dataset(result.files[0]) as ds:
        ds.set_auto_mask(False)
        n = len(ds["time"])
        for name in names:
            np.testing.assert_array_equal(ds[name][:], dap[name][:n])
        assert ds["lat"].standard_name == "latitude" and ds["lat"].units == "degrees_north"
        assert GPS_STREAM in ds["lat"].provenance_source_streams and "interpolated" in ds["lat"].comment
        coordinates = ds["sci_water_pressure"].coordinates
        assert coordinates == "time lat lon"  # the CTD carries its own pressure: no int_ctd_pressure
        assert ds["lat"].dimensions == ("obs",)
