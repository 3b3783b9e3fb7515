"""Missing values over DAP, as clients see them, on real samples: file fills are missing, and
the attributes agree with the data."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from stream_servers import InProcessServer, dap_url, in_process_app

from stream_engine.ingest import ingest_file
from stream_engine.store.base import StreamKey
from stream_engine.store.embedded import EmbeddedStore

netCDF4 = pytest.importorskip("netCDF4")

DOSTA_FILE = "dosta_abcdjm_cspp_instrument_recovered.nc"


@pytest.fixture(scope="module")
def samples_server(tmp_path_factory, samples_dir: Path, curated) -> Iterator[tuple[InProcessServer, dict[str, StreamKey]]]:
    folder = tmp_path_factory.mktemp("dap_missing")
    with EmbeddedStore(folder / "data") as store:
        keys = {"dosta": ingest_file(store, curated, samples_dir / DOSTA_FILE).key}
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
