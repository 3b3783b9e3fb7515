"""The ADCP beam-coordinate sample over DAP: 2-D ``(obs, bin)`` products computed from the
ingested raw values and a deployment's location and scale factors, equal to the algorithms
applied directly to the file's raw values."""

from __future__ import annotations

from collections.abc import Iterator

import gsw
import netCDF4
import numpy as np
import pytest
from stream_servers import ADCP, ADCP_FILE, InProcessServer, dap_url, in_process_app

from stream_engine.assets import ntp_to_unix_ms
from stream_engine.functions import adcp
from stream_engine.ingest import ingest_file
from stream_engine.store.embedded import EmbeddedStore

LAT, LON, DEPTH = 45.82, -129.75, 2600.0
SCALE = (0.45, 0.46, 0.47, 0.48)


def _events() -> list[dict]:
    """One deployment covering the file (its times are near the NTP epoch), with the location,
    deployment depth and beam scale factors the ADCP products need."""
    cals = {f"CC_scale_factor{k + 1}": SCALE[k] for k in range(4)}
    return [{
        "@class": ".XDeployment", "eventType": "DEPLOYMENT", "referenceDesignator": ADCP.refdes,
        "deploymentNumber": 1, "eventStartTime": ntp_to_unix_ms(-1.0), "eventStopTime": None,
        "location": {"latitude": LAT, "longitude": LON, "depth": DEPTH},
        "sensor": {"calibration": [
            {"name": name, "calData": [{"value": value, "eventStartTime": ntp_to_unix_ms(-1.0)}]}
            for name, value in {**cals, "CC_depth": DEPTH}.items()
        ]},
    }]


@pytest.fixture(scope="module")
def raw(samples_dir) -> dict[str, np.ndarray]:
    with netCDF4.Dataset(samples_dir / ADCP_FILE) as ds:
        ds.set_auto_mask(False)
        return {name: np.asarray(var[:]) for name, var in ds.variables.items()}


@pytest.fixture(scope="module")
def adcp_server(tmp_path_factory, curated, samples_dir) -> Iterator[InProcessServer]:
    folder = tmp_path_factory.mktemp("adcp") / "data"
    with EmbeddedStore(folder) as store:
        ingest_file(store, curated, samples_dir / ADCP_FILE)
        store.put_asset_events(ADCP.refdes, _events())
        server = InProcessServer(in_process_app(store, curated, tmp_path_factory.mktemp("adcp_logs")))
        try:
            yield server
        finally:
            server.close()


def _beams(raw):
    return [raw[f"velocity_beam{k}"] for k in range(1, 5)] + [raw[f"percent_good_beam{k}"] for k in range(1, 5)]


def _compass(raw):
    return [raw["heading"], raw["pitch"], raw["roll"], raw["sysconfig_vertical_orientation"]]


def test_velocity_profiles_equal_the_algorithms_on_the_raw_values(adcp_server, raw):
    with netCDF4.Dataset(dap_url(adcp_server.url, ADCP)) as ds:
        times = ds["time"][:]  # the file's times in its own units, as NTP seconds (2016-09-30)
    n = len(times)
    assert 3.684e9 < times[0] < 3.685e9
    where = (np.full(n, LAT), np.full(n, LON), times)
    expected = {
        "eastward_seawater_velocity": adcp.adcp_beam_eastward(*_beams(raw), *_compass(raw), *where),
        "northward_seawater_velocity": adcp.adcp_beam_northward(*_beams(raw), *_compass(raw), *where),
        "upward_seawater_velocity": adcp.adcp_beam_vertical(*_beams(raw), *_compass(raw)),
        "error_seawater_velocity": adcp.adcp_beam_error(*_beams(raw)),
    }
    with netCDF4.Dataset(dap_url(adcp_server.url, ADCP)) as ds:
        ds.set_auto_mask(False)
        for name, values in expected.items():
            assert ds[name].dimensions == ("obs", "bin") and ds[name].shape == (100, 50)
            np.testing.assert_array_equal(ds[name][:], values.astype(np.float32), err_msg=name)
        assert np.isfinite(ds["eastward_seawater_velocity"][:]).mean() > 0.4  # far bins: too few good pings
        # a hyperslab of a 2-D product
        np.testing.assert_array_equal(ds["northward_seawater_velocity"][10:20:3, 5:9],
                                      expected["northward_seawater_velocity"][10:20:3, 5:9].astype(np.float32))


def test_echo_intensity_and_bin_depths(adcp_server, raw):
    pressure_dbar = raw["pressure"] * 0.001  # daPa, then the deployment depth selects it
    sensor_depth = -np.asarray(gsw.z_from_p(pressure_dbar, LAT))
    depths = adcp.adcp_bin_depths_meters(raw["bin_1_distance"], raw["cell_length"], raw["num_cells"],
                                         sensor_depth.astype(np.float32), raw["sysconfig_vertical_orientation"])
    with netCDF4.Dataset(dap_url(adcp_server.url, ADCP)) as ds:
        ds.set_auto_mask(False)
        for k in range(1, 5):
            np.testing.assert_array_equal(
                ds[f"corrected_echo_intensity_beam{k}"][:],
                (raw[f"echo_intensity_beam{k}"] * SCALE[k - 1]).astype(np.float32))
        assert ds["bin_depths"].shape == (100, 50)
        np.testing.assert_allclose(ds["bin_depths"][:], depths, rtol=1e-6)
        # upward-looking at ~2.6 km: the first bin is 12.35 m above the sensor, the next 8 m shallower
        np.testing.assert_allclose(ds["bin_depths"][0, 0] - ds["bin_depths"][0, 1], 8.0, atol=1e-3)
        assert "unavailable_parameters" not in ds.ncattrs()
