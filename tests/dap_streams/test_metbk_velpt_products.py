"""METBK and VELPT products of the OOI samples, computed through the engine and read over DAP.

The raw streams and the asset events are ingested as they are; the VELPT currents reach METBK by
resolution (co-located instrument on the same node), never injected. Oracles are the products the
original engine stored in the same files (``../shared/notes/ooi-sample-products.md`` says which are
fair and how close), the published algorithms, and the engine's own rules.

Magnetic declination: the stored 2017 values were corrected with WMM2010 extrapolated to 2017; we
use the edition valid in 2017 (WMM2015v2). At the buoy (44.64 N, 124.30 W) in February 2017 the two
differ by 0.1275 degree, which moves a 10 m/s wind by up to 0.022 m/s and these currents by up to
5e-4 m/s. The tests undo exactly that rotation and then require float32 agreement.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from stream_servers import InProcessServer, dap_url, in_process_app

from stream_engine.assets import load_event_file
from stream_engine.functions.declination import magnetic_declination, rotate_by_declination
from stream_engine.ingest import ingest_file
from stream_engine.store.base import StreamKey
from stream_engine.store.embedded import EmbeddedStore

netCDF4 = pytest.importorskip("netCDF4")

METBK = StreamKey("CE02SHSM", "SBD11", "06-METBKA000", "telemetered", "metbk_a_dcl_instrument")
VELPT = StreamKey("CE02SHSM", "SBD11", "04-VELPTA000", "telemetered", "velpt_ab_dcl_instrument")
METBK_REC = StreamKey("CP01CNSM", "SBD11", "06-METBKA000", "recovered_host", "metbk_a_dcl_instrument_recovered")
VELPT_REC = StreamKey("CP01CNSM", "MFD35", "04-VELPTA000", "recovered_host", "velpt_ab_dcl_instrument_recovered")
METBK_EVENTS = "CE02SHSM-SBD11-06-METBKA000_events.json"
VELPT_EVENTS = "CE02SHSM-SBD11-04-VELPTA000_events.json"
WIND_HEIGHT = 4.519  # CC_height_of_windspeed_sensor_above_sealevel_m of deployment 4
#: WMM2015v2 minus WMM2010 (extrapolated) declination at the buoy, 2017-02-17 [degree]
EDITION_DIFFERENCE = 0.1275


def _events_with_use_velpt(source: Path, target: Path, value: float | None) -> Path:
    """The METBK events with CC_use_velpt set to ``value`` (``None``: removed)."""
    events = json.loads(source.read_text())
    for event in events:
        cals = event.get("sensor", {}).get("calibration", [])
        for cal in [c for c in cals if c["name"] == "CC_use_velpt"]:
            if value is None:
                cals.remove(cal)
            else:
                for entry in cal["calData"]:
                    entry["value"] = value
    target.write_text(json.dumps(events))
    return target


def _serve(folder: Path, curated, files: list[Path], events: list[Path]) -> Iterator[InProcessServer]:
    with EmbeddedStore(folder / "data") as store:
        for path in files:
            ingest_file(store, curated, path)
        for path in events:
            load_event_file(store, path)
        # no cross-request window cache: its key (the store's change token) does not tell two
        # stores of one process apart, and these tests open several
        server = InProcessServer(in_process_app(store, curated, folder, DAP_CACHE_BYTES=0))
        try:
            yield server
        finally:
            server.close()


@pytest.fixture(scope="module", params=[1.0, 0.0, None], ids=["use_velpt=1", "use_velpt=0", "use_velpt absent"])
def buoy(request, tmp_path_factory, curated, samples_dir) -> Iterator[tuple[InProcessServer, float | None]]:
    folder = tmp_path_factory.mktemp("metbk")
    events = _events_with_use_velpt(samples_dir / METBK_EVENTS, folder / METBK_EVENTS, request.param)
    files = [samples_dir / "metbk_a_dcl_instrument.nc", samples_dir / "velpt_ab_dcl_instrument.nc"]
    for server in _serve(folder, curated, files, [events, samples_dir / VELPT_EVENTS]):
        yield server, request.param


def _stored(path: Path, name: str) -> np.ndarray:
    with netCDF4.Dataset(path) as ds:
        ds.set_auto_mask(False)
        values = ds[name][:]
    return np.where(values == -9999999.0, np.nan, values) if values.dtype.kind == "f" else values


def _dap(server: InProcessServer, key: StreamKey, *names: str) -> dict[str, np.ndarray]:
    with netCDF4.Dataset(dap_url(server.url, key)) as ds:
        ds.set_auto_mask(False)
        return {name: ds[name][:] for name in names} | {"_attrs": {a: ds.getncattr(a) for a in ds.ncattrs()}}


def _edition_shift(time: np.ndarray, height: float) -> np.ndarray:
    """Our declination (WMM2015v2 at the sample time) minus the archive's (WMM2010 extrapolated,
    evaluated at 00:00 UTC of the sample's date) [degree]."""
    from pygeomag import GeoMag

    model = GeoMag(coefficients_file="wmm/WMM_2010.COF")
    days = np.floor(time / 86400.0)
    year = 2017 + (days * 86400.0 - 3692217600.0) / (365 * 86400.0)  # 3692217600: 2017-01-01 in NTP
    d2010 = np.array([model.calculate(44.63929, -124.30404, height / 1000.0, y, allow_date_outside_lifespan=True).d
                      for y in year])
    shift = magnetic_declination(44.63929, -124.30404, time, height) - d2010
    assert np.all(np.abs(shift - EDITION_DIFFERENCE) < 2e-3)
    return shift


def test_pressure_shortwave_humidity_and_salinity_to_float32(buoy, samples_dir) -> None:
    server, _ = buoy
    path = samples_dir / "metbk_a_dcl_instrument.nc"
    got = _dap(server, METBK, "met_barpres", "met_netsirr", "met_spechum", "met_salsurf", "time")
    np.testing.assert_array_equal(got["time"], _stored(path, "time"))
    np.testing.assert_array_equal(got["met_barpres"], _stored(path, "met_barpres"))
    np.testing.assert_array_equal(got["met_netsirr"], _stored(path, "met_netsirr"))
    np.testing.assert_allclose(got["met_spechum"], _stored(path, "met_spechum"), rtol=1e-6, atol=0)
    assert got["met_salsurf"].dtype == np.float32  # the dictionary's encoding; the archive kept float64
    np.testing.assert_array_equal(got["met_salsurf"], _stored(path, "met_salsurf").astype(np.float32))


def test_wind_differs_from_the_archive_by_the_wmm_edition_only(buoy, samples_dir) -> None:
    server, _ = buoy
    path = samples_dir / "metbk_a_dcl_instrument.nc"
    got = _dap(server, METBK, "met_windavg_mag_corr_east", "met_windavg_mag_corr_north", "time")
    stored_e, stored_n = _stored(path, "met_windavg_mag_corr_east"), _stored(path, "met_windavg_mag_corr_north")
    raw_gap = np.max(np.abs(got["met_windavg_mag_corr_east"] - stored_e))
    assert 5e-3 < raw_gap < 0.025
    east, north = rotate_by_declination(got["met_windavg_mag_corr_east"], got["met_windavg_mag_corr_north"],
                                        -_edition_shift(got["time"], WIND_HEIGHT))
    np.testing.assert_allclose(east, stored_e, atol=3e-5, rtol=0)  # geoid: 1e-5
    np.testing.assert_allclose(north, stored_n, atol=3e-5, rtol=0)


def test_current_and_relative_wind_follow_cc_use_velpt(buoy, samples_dir) -> None:
    server, use = buoy
    path = samples_dir / "metbk_a_dcl_instrument.nc"
    names = ("met_current_speed", "met_current_direction", "met_relwind_speed", "met_relwind_direction",
             "met_windavg_mag_corr_east", "met_windavg_mag_corr_north", "time")
    got = _dap(server, METBK, *names)
    stored_speed = _stored(path, "met_relwind_speed")
    wind = np.hypot(got["met_windavg_mag_corr_east"].astype(np.float64), got["met_windavg_mag_corr_north"])
    if not use:
        # currents not to be used: current products missing, relative wind = wind (as archived)
        for name in ("met_current_speed", "met_current_direction", "met_relwind_direction"):
            assert np.isnan(got[name]).all(), name
        assert np.isnan(_stored(path, "met_current_speed")).all()
        np.testing.assert_allclose(got["met_relwind_speed"], wind, rtol=1e-6)
        np.testing.assert_allclose(got["met_relwind_speed"], stored_speed, rtol=1e-6)  # rotation keeps speed
        return
    # currents used: the co-located VELPT's currents, interpolated onto the METBK times
    velpt_t = _stored(samples_dir / "velpt_ab_dcl_instrument.nc", "time")
    covered = got["time"] <= velpt_t[-1] + 3600.0  # MAX_INTERPOLATION_GAP past the last VELPT record
    assert 0 < covered.sum() < len(covered)
    # the archive's interpolated currents (WMM2010), turned by the edition difference
    ve, vn = rotate_by_declination(_stored(path, "velpt_ab_dcl_instrument-eastward_velocity"),
                                   _stored(path, "velpt_ab_dcl_instrument-northward_velocity"),
                                   _edition_shift(got["time"], 0.0))
    np.testing.assert_allclose(got["met_current_speed"][covered], np.hypot(ve, vn)[covered], atol=2e-6)
    assert np.isnan(got["met_current_speed"][~covered]).all()
    direction = np.mod(450.0 - np.degrees(np.arctan2(vn, ve)), 360.0)
    np.testing.assert_allclose(got["met_current_direction"][covered], direction[covered], atol=2e-3)
    rel_e = got["met_windavg_mag_corr_east"] - ve
    rel_n = got["met_windavg_mag_corr_north"] - vn
    np.testing.assert_allclose(got["met_relwind_speed"][covered], np.hypot(rel_e, rel_n)[covered], atol=1e-5)
    rel_dir = np.mod(450.0 - np.degrees(np.arctan2(rel_n, rel_e)), 360.0)
    np.testing.assert_allclose(got["met_relwind_direction"][covered], rel_dir[covered], atol=2e-3)
    np.testing.assert_allclose(got["met_relwind_speed"][~covered], wind[~covered], rtol=1e-6)
    assert np.abs(got["met_relwind_speed"][covered] - stored_speed[covered]).max() > 0.05


def test_velpt_velocities_differ_from_the_archive_by_the_wmm_edition_only(buoy, samples_dir) -> None:
    server, _ = buoy
    path = samples_dir / "velpt_ab_dcl_instrument.nc"
    got = _dap(server, VELPT, "eastward_velocity", "northward_velocity", "upward_velocity", "time")
    stored_e, stored_n = _stored(path, "eastward_velocity"), _stored(path, "northward_velocity")
    assert 1e-4 < np.max(np.abs(got["eastward_velocity"] - stored_e)) < 1e-3
    east, north = rotate_by_declination(got["eastward_velocity"], got["northward_velocity"],
                                        -_edition_shift(got["time"], 0.0))
    np.testing.assert_allclose(east, stored_e, atol=5e-7, rtol=0)  # the archive's EGM96 geoid: 3e-7
    np.testing.assert_allclose(north, stored_n, atol=5e-7, rtol=0)
    # upward: no rotation, bit-exact in the dictionary's float32 (the archive kept float64)
    np.testing.assert_array_equal(got["upward_velocity"], _stored(path, "upward_velocity").astype(np.float32))


def test_minute_heat_fluxes_are_missing_for_this_afternoon_window(buoy, samples_dir) -> None:
    # the window starts at 21:09 UTC = 12:52 local solar time at 124.3 W: no warm layer that day
    server, _ = buoy
    names = ("met_heatflx_minute", "met_latnflx_minute", "met_netlirr_minute", "met_sensflx_minute")
    got = _dap(server, METBK, *names)
    for name in names:
        assert np.isnan(got[name]).all(), name
        assert np.isnan(_stored(samples_dir / "metbk_a_dcl_instrument.nc", name)).all() or \
            (_stored(samples_dir / "metbk_a_dcl_instrument.nc", name) <= -9999999).all()


@pytest.fixture(scope="module")
def early_buoy(tmp_path_factory, curated, samples_dir) -> Iterator[InProcessServer]:
    """The same METBK records moved 16 h earlier: they start at 05:09 UTC = 20:52 local solar
    time of the day before, so local midnight falls inside the window (generated case)."""
    folder = tmp_path_factory.mktemp("metbk_early")
    moved = folder / "metbk_a_dcl_instrument.nc"
    shutil.copy(samples_dir / "metbk_a_dcl_instrument.nc", moved)
    with netCDF4.Dataset(moved, "a") as ds:
        ds["time"][:] = ds["time"][:] - 16 * 3600.0
    yield from _serve(folder, curated, [moved], [samples_dir / METBK_EVENTS])


def test_minute_heat_fluxes_are_present_after_local_midnight(early_buoy, curated) -> None:
    from stream_engine.functions import lookup

    names = ("met_heatflx_minute", "met_latnflx_minute", "met_netlirr_minute", "met_sensflx_minute")
    inputs = ("sea_surface_temperature", "air_temperature", "relative_humidity", "barometric_pressure",
              "shortwave_irradiance", "longwave_irradiance", "precipitation", "met_relwind_speed", "time")
    got = _dap(early_buoy, METBK, *names, *inputs)
    local = got["time"] - 124.30404 * 240.0
    after_midnight = np.floor(local / 86400.0) > np.floor(local[0] / 86400.0)
    assert 0 < after_midnight.sum() < len(local)
    for name in names:
        assert np.isnan(got[name][~after_midnight]).all(), name
        assert np.isfinite(got[name][after_midnight]).all(), name
    # the engine's values are the algorithm's on the same inputs (deployment 4 heights)
    direct = lookup("ion_functions.data.met_functions", "met_heatflx_minute").compute({
        "tC_sea": got["sea_surface_temperature"], "wnd": got["met_relwind_speed"], "tC_air": got["air_temperature"],
        "relhum": got["relative_humidity"], "timestamp": got["time"], "lon": -124.30404, "ztmpwat": 1.168,
        "zwindsp": WIND_HEIGHT, "ztmpair": 4.034, "zhumair": 4.034, "lat": 44.63929,
        "pr_air": got["barometric_pressure"], "Rshort_down": got["shortwave_irradiance"],
        "Rlong_down": got["longwave_irradiance"], "cumu_prcp": got["precipitation"], "zinvpbl": 600.0,
        "jwarm": 1.0, "jcool": 1.0})
    np.testing.assert_allclose(got["met_heatflx_minute"], direct.astype(np.float32), rtol=1e-6, equal_nan=True)
    # a winter night off Oregon: the ocean loses heat (upward flux positive, tens to hundreds W/m2)
    assert 0 < np.nanmedian(got["met_heatflx_minute"]) < 500


@pytest.fixture(scope="module")
def recovered(tmp_path_factory, curated, samples_dir) -> Iterator[tuple[InProcessServer, EmbeddedStore]]:
    folder = tmp_path_factory.mktemp("recovered")
    files = [samples_dir / "metbk_a_dcl_instrument_recovered.nc", samples_dir / "velpt_ab_dcl_instrument_recovered.nc"]
    with EmbeddedStore(folder / "data") as store:
        for path in files:
            ingest_file(store, curated, path)
        server = InProcessServer(in_process_app(store, curated, folder, DAP_CACHE_BYTES=0))
        try:
            yield server, store
        finally:
            server.close()


RECOVERED_NEEDING = {
    "metbk": ["met_salsurf", "met_windavg_mag_corr_east", "met_windavg_mag_corr_north", "met_relwind_speed",
              "met_current_speed", "met_heatflx_minute", "met_sensflx_minute"],
    "velpt": ["eastward_velocity", "northward_velocity"],
}


@pytest.mark.parametrize("key", [METBK_REC, VELPT_REC], ids=["metbk", "velpt"])
def test_recovered_2015_products_without_calibrations_are_missing_with_the_reason(
        recovered, key, curated, engine_settings, samples_dir) -> None:
    from stream_engine.engine.compute import compute
    from stream_engine.engine.resolve import resolve
    from stream_engine.store.base import TimeRange

    server, store = recovered
    needing = RECOVERED_NEEDING["metbk" if key is METBK_REC else "velpt"]
    with netCDF4.Dataset(dap_url(server.url, key)) as ds:
        ds.set_auto_mask(False)
        unavailable = ds.getncattr("unavailable_parameters") if "unavailable_parameters" in ds.ncattrs() else ""
        for name in needing:
            if name in ds.variables:
                # never values computed from fill (the archive stored met_relwind_speed = 14142134 here)
                assert np.isnan(ds[name][:]).all(), name
            else:  # unavailable for the whole stream: listed with its reason
                assert f"{name} (PD" in unavailable, name
    plan = resolve(store, curated, key, None, TimeRange.everything(), settings=engine_settings)
    products = compute(store, curated, plan, settings=engine_settings, require_deployment=False).provenance["products"]
    for name in needing:
        if name in products:
            assert products[name]["status"] == "unavailable", name
            reason = products[name]["reason"]
            assert "missing calibration CC_" in reason or "no stream provides PD1154" in reason, (name, reason)
        else:
            assert plan.reason(next(p.id for p in curated.stream_parameters(key.stream) if p.name == name)), name
    if key is METBK_REC:  # needs no calibration: computed, and equal to the archive's
        path = samples_dir / "metbk_a_dcl_instrument_recovered.nc"
        np.testing.assert_array_equal(_dap(server, key, "met_barpres")["met_barpres"], _stored(path, "met_barpres"))
