"""Missing values over DAP, as clients see them, on real samples: file fills are missing, and
the attributes agree with the data."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from stream_servers import InProcessServer, dap_url, in_process_app

from stream_engine.assets import load_event_file
from stream_engine.ingest import ingest_file
from stream_engine.store.base import StreamKey
from stream_engine.store.embedded import EmbeddedStore

netCDF4 = pytest.importorskip("netCDF4")

DOSTA_FILE = "dosta_abcdjm_cspp_instrument_recovered.nc"
GLIDER_FILES = {
    "ctd": "deployment0006_CE05MOAS-GL319-05-CTDGVM000-recovered_host-ctdgv_m_glider_instrument_recovered.nc",
    "par": "deployment0006_CE05MOAS-GL319-01-PARADM000-recovered_host-parad_m_glider_recovered.nc",
}
GLIDER_EVENTS = ("CE05MOAS-GL319-05-CTDGVM000_events.json", "CE05MOAS-GL319-01-PARADM000_events.json")


@pytest.fixture(scope="module")
def samples_server(tmp_path_factory, samples_dir: Path, curated) -> Iterator[tuple[InProcessServer, dict[str, StreamKey]]]:
    folder = tmp_path_factory.mktemp("dap_missing")
    with EmbeddedStore(folder / "data") as store:
        keys = {"dosta": ingest_file(store, curated, samples_dir / DOSTA_FILE).key}
        for name, file in GLIDER_FILES.items():
            keys[name] = ingest_file(store, curated, samples_dir / file).key
        for file in GLIDER_EVENTS:  # deployments 1 and 3; the samples are deployment 6
            load_event_file(store, samples_dir / file)
        server = InProcessServer(in_process_app(store, curated, folder))
        try:
            yield server, keys
        finally:
            server.close()


def test_dosta_cspp_saturation_is_missing_over_dap(samples_server, samples_dir):
    server, keys = samples_server
    with netCDF4.Dataset(samples_dir / DOSTA_FILE) as ds:
        ds.set_auto_maskandscale(False)
        raw_concentration = ds["estimated_oxygen_concentration"][:]
    with netCDF4.Dataset(dap_url(server.url, keys["dosta"])) as ds:
        saturation = ds["estimated_oxygen_saturation"]
        assert np.isnan(saturation._FillValue)
        values = saturation[:]
        assert values.shape == (430,)
        assert np.ma.getmaskarray(values).all()  # NaN is the declared fill: every record masked
        saturation.set_auto_mask(False)
        assert np.isnan(saturation[:]).all()
        concentration = ds["estimated_oxygen_concentration"][:]
        assert not np.ma.getmaskarray(concentration).any()
        np.testing.assert_array_equal(concentration.data, raw_concentration)


def test_fixed_platform_positions_open_in_xarray_as_coordinates(live, engine_store):
    xr = pytest.importorskip("xarray")
    from stream_engine import assets, demo

    with xr.open_dataset(dap_url(live.url, demo.OPTODE), engine="netcdf4") as ds:
        assert {"lat", "lon", "depth"} <= set(ds.coords)
        oxygen = ds["dissolved_oxygen"]
        assert {"lat", "lon", "depth"} <= set(oxygen.coords)
        assert ds["lat"].attrs["standard_name"] == "latitude" and ds["lat"].attrs["units"] == "degrees_north"
        assert ds["lat"].attrs["axis"] == "Y"
        assert ds["lon"].attrs["standard_name"] == "longitude" and ds["lon"].attrs["axis"] == "X"
        assert ds["depth"].attrs["units"] == "m" and ds["depth"].attrs["positive"] == "down"
        lat, lon, depth = (ds[name].values for name in ("lat", "lon", "depth"))
        time, deployment = ds["time"].values, ds["deployment"].values
    deps = assets.deployments(engine_store, demo.OPTODE.refdes)
    inside = np.zeros(len(time), bool)
    ntp = (time - np.datetime64("1900-01-01T00:00:00")) / np.timedelta64(1, "s") if time.dtype.kind == "M" else time
    for dep in deps:
        inside |= (deployment == dep.number) & dep.covers(np.asarray(ntp, dtype=np.float64))
    assert inside.sum() > 39000  # the demo optode is deployed nearly all the time
    assert (lat[inside] == demo.LAT).all() and (lon[inside] == demo.LON).all() and (depth[inside] == demo.DEPTH).all()
    assert np.isnan(lat[~inside]).all()


def _raw(path: Path, name: str) -> np.ndarray:
    with netCDF4.Dataset(path) as ds:
        ds.set_auto_maskandscale(False)
        return np.asarray(ds[name][:])


def test_glider_par_says_why_it_is_missing_and_is(samples_server, samples_dir):
    server, keys = samples_server
    with netCDF4.Dataset(dap_url(server.url, keys["par"])) as ds:
        par = ds["par_adjusted"]
        assert par.unavailable_for == (
            "records from 2018-05-15T10:00:00Z to 2018-05-15T15:59:59Z (up to 10591 by the partition "
            "index): outside every deployment in the asset events, so missing calibration "
            "CC_bsipar_par_scaling")
        assert "CC_bsipar_par_scaling" in par.provenance_calibrations
        par.set_auto_mask(False)
        values = par[:]
        raw = ds["sci_bsipar_par"][:].data
    assert values.shape == (10591,) and np.isnan(values).all()
    assert np.isfinite(raw).sum() > 10000  # the raw values are there: only the calibration lacks


def test_glider_ctd_depth_says_why_it_is_missing_and_pressure_is_not(samples_server, samples_dir):
    server, keys = samples_server
    with netCDF4.Dataset(dap_url(server.url, keys["ctd"])) as ds:
        depth, dbar = ds["depth"], ds["sea_water_pressure"]
        assert depth.unavailable_for.endswith(
            "outside every deployment in the asset events, so no deployment location (CC_lat)")
        assert "up to 5803 by the partition index" in depth.unavailable_for
        assert "unavailable_for" not in dbar.ncattrs()
        assert dbar.missing_where == "a record where one of its input values is missing (a fill in the raw data)"
        for var in (depth, dbar):
            var.set_auto_mask(False)
        depth_values, dbar_values = depth[:], dbar[:]
    raw = _raw(samples_dir / GLIDER_FILES["ctd"], "sci_water_pressure")
    assert np.isnan(depth_values).all()
    assert np.array_equal(np.isnan(dbar_values), np.isnan(raw))  # missing exactly where the input is
    np.testing.assert_array_equal(dbar_values, _raw(samples_dir / GLIDER_FILES["ctd"], "sci_water_pressure_dbar"))


def test_optode_record_without_ctd_neighbours_is_missing_as_the_attributes_say(live):
    """The last optode record of demo deployment 1: the co-located CTD has no record near
    enough after it, which ``missing_where`` states as the interpolation limit."""
    from stream_engine import demo

    with netCDF4.Dataset(dap_url(live.url, demo.OPTODE)) as ds:
        oxygen = ds["dissolved_oxygen"]
        limit = oxygen.missing_where
        deployment = ds["deployment"][:]
        last = int(np.flatnonzero(deployment == 1)[-1])
        oxygen.set_auto_mask(False)
        values = oxygen[last - 2:last + 1]
        t = float(ds["time"][last])
    assert f"a record whose records of {demo.CTD.path} either side are more than MAX_INTERPOLATION_GAP = 3600 s" in limit
    with netCDF4.Dataset(dap_url(live.url, demo.CTD)) as ctd:
        ctd_time = ctd["time"][:]
    before, after = ctd_time[ctd_time <= t], ctd_time[ctd_time > t]
    # what the attribute says, checked on the CTD's own times: no pair of CTD records within the
    # gap brackets this record, and the CTD's last record before it is not the stream's last
    assert len(after) and after[0] - before[-1] > 3600
    assert np.isnan(values[-1])
    assert np.isfinite(values[:-1]).all()
