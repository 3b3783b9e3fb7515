"""METBK products without flux iteration, against the DPS / ion-functions test values."""

from __future__ import annotations

import numpy as np
import pytest

from stream_engine.functions import lookup
from tests.functions.met_vectors import HOURLY

OWNER = "ion_functions.data.met_functions"


def met(name: str):
    return lookup(OWNER, name)


def test_barometric_pressure_net_shortwave_salinity_and_specific_humidity() -> None:
    np.testing.assert_allclose(met("met_barpres")(np.array([1005.1, 1006.2, 1007.3])),
                               [100510.0, 100620.0, 100730.0], rtol=1e-8)
    np.testing.assert_allclose(met("met_netsirr")(np.array([572.7, 659.0, 634.0])),
                               [541.20150, 622.75500, 599.13000], rtol=1e-8)
    np.testing.assert_allclose(met("met_salsurf")(np.array([3.0, 4.0, 5.0]), np.array([20.0, 25.0, 30.0]),
                                                  np.array([1.0, 1.5, 2.0])),
                               [20.80589579, 25.51852081, 29.42245514], rtol=1e-8)
    np.testing.assert_allclose(met("met_spechum")(np.array([28.220, 27.961, 27.670]), np.array([1005.1, 1006.2, 1007.3]),
                                                  np.array([79.47, 82.30, 82.72])),
                               [19.12588067, 19.49340148, 19.23895340], rtol=1e-8)


def test_barometric_pressure_keeps_float32_as_the_archive_computed_it() -> None:
    assert met("met_barpres")(np.array([1005.1], dtype=np.float32)).dtype == np.float32


def test_hourly_time_base_net_shortwave_and_rain_rate() -> None:
    t = HOURLY["timestamp"]
    np.testing.assert_allclose(met("met_timeflx")(t), t[0] + 1800.0 + 3600.0 * np.arange(3))
    np.testing.assert_allclose(met("met_netsirr_hourly")(HOURLY["Rshort_down"], t), [541.20150, 622.75500, 599.13000],
                               rtol=1e-8)
    np.testing.assert_allclose(met("met_rainrte")(HOURLY["cumu_prcp"], t), [0.0, 17.3, 1.5], rtol=1e-8)
    np.testing.assert_allclose(met("met_rainrte")(42.0, 6540998.0), [0.0])


HF = np.sqrt(3.0) / 2.0
VLE = np.array([0.0, HF, 0.5, 0.0, -0.5, -HF, -1.0, -HF, -0.5, 0.0, 0.5, HF])
VLN = np.array([0.0, 0.5, HF, 1.0, HF, 0.5, 0.0, -0.5, -HF, -1.0, -HF, -0.5])
DIRECTION = np.array([90.0, 60.0, 30.0, 0.0, 330.0, 300.0, 270.0, 240.0, 210.0, 180.0, 150.0, 120.0])
MIXED = np.ones(12)
MIXED[[1, 6, 9, 10]] = 0


@pytest.mark.parametrize("use", [None, 0, 1, np.zeros(12), np.ones(12), MIXED])
def test_current_direction_and_speed_follow_use_velptmn(use) -> None:
    args = (VLE, VLN) if use is None else (VLE, VLN, use)
    on = np.zeros(12) if use is None else np.broadcast_to(np.asarray(use, dtype=float), (12,))
    expected_dir = np.where(on == 1, DIRECTION, np.nan)
    np.testing.assert_array_almost_equal(met("met_current_direction")(*args), expected_dir, decimal=4)
    np.testing.assert_array_almost_equal(met("met_current_speed")(*args), np.where(on == 1, np.hypot(VLE, VLN), np.nan))


def test_relative_wind_speed_and_direction() -> None:
    wind_e, wind_n = VLE * 3.0, VLN * 3.0
    water_e, water_n = np.full(12, -1.0), np.full(12, -HF * 2.0)
    good = [2.000000, 4.836559, 5.000000, 4.836559, 4.358899, 3.605551,
            2.645751, 1.614836, 1.000000, 1.614836, 2.645751, 3.605551]
    bad = np.r_[0.0, np.full(11, 3.0)]
    speed = met("met_relwind_speed")
    np.testing.assert_array_almost_equal(speed(wind_e, wind_n), bad, decimal=5)
    np.testing.assert_array_almost_equal(speed(wind_e, wind_n, water_e, water_n), bad, decimal=5)
    np.testing.assert_array_almost_equal(speed(wind_e, wind_n, water_e, water_n, 1), good, decimal=5)
    np.testing.assert_array_almost_equal(speed(wind_e, wind_n, water_e, water_n, MIXED),
                                         np.where(MIXED == 1, good, bad), decimal=5)
    nan_water = water_e.copy()
    nan_water[3] = np.nan
    assert speed(wind_e, wind_n, nan_water, water_n, 1)[3] == pytest.approx(3.0)
    direction = met("met_relwind_direction")
    expected = met("met_current_direction")(wind_e - water_e, wind_n - water_n, 1)
    assert np.isnan(direction(wind_e, wind_n)).all()
    assert np.isnan(direction(wind_e, wind_n, water_e, water_n)).all()
    np.testing.assert_array_almost_equal(direction(wind_e, wind_n, water_e, water_n, 1), expected, decimal=5)
    np.testing.assert_array_almost_equal(direction(wind_e, wind_n, water_e, water_n, MIXED),
                                         np.where(MIXED == 1, expected, np.nan), decimal=5)


def test_wind_corrected_for_declination_matches_the_dps_values() -> None:
    # 2013-05-30 (WMM2010 is the edition valid then); declinations of about -17 and +17 degrees
    t = np.full(8, (np.datetime64("2013-05-30") - np.datetime64("1900-01-01")) / np.timedelta64(1, "s"))
    lat = np.r_[np.full(4, 43.34), np.full(4, 47.767)]
    lon = np.r_[np.full(4, -66.0), np.full(4, -126.0)]
    ve = np.array([2.47, -2.47, -2.47, 2.47, 2.47, -2.47, -2.47, 2.47])
    vn = np.array([6.52, 6.52, -6.52, -6.52, 6.52, 6.52, -6.52, -6.52])
    east = met("met_windavg_mag_corr_east")(ve, vn, lat, lon, t)
    north = met("met_windavg_mag_corr_north")(ve, vn, lat, lon, t)
    np.testing.assert_array_almost_equal(east, [0.46, -4.27, -0.46, 4.27, 4.27, -0.46, -4.27, 0.46], decimal=2)
    np.testing.assert_array_almost_equal(north, [6.96, 5.51, -6.96, -5.51, 5.51, 6.96, -5.51, -6.96], decimal=2)
