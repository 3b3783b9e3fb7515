"""ADCP velocity profiles, echo intensity and bin depths against the DPS test values (DCN
1341-00750, as carried by the ion-functions unit tests) and the TEOS-10 check values."""

from __future__ import annotations

import numpy as np
import pytest

from stream_engine.functions import adcp, lookup
from stream_engine.functions.generic import select_arg_within_tolerance_of_std

# DPS inputs: beam velocities [mm/s], percent good, compass [centidegrees], 2012-05-12 at 50N 145W
B1 = np.array([[-30, -295, -514, -234, -188, 203, -325, 305, -204, -294]])
B2 = np.array([[180, -132, 213, 309, 291, 49, 188, 373, 2, 172]])
B3 = np.array([[-398, -436, -131, -473, -443, 188, -168, 291, -179, 8]])
B4 = np.array([[-216, -605, -92, -58, 484, -5, 338, 175, -80, -549]])
PG1 = np.array([[100, 100, 26, 24, 25, 25, 24, 26, 100, 100]])
PG2 = np.array([[100, 100, 90, 80, 60, 50, 100, 24, 25, 26]])
PG3 = np.array([[26, 100, 100, 90, 80, 70, 60, 50, 24, 25]])
PG4 = np.array([[25, 26, 100, 24, 25, 26, 100, 100, 100, 24]])
HEADING, PITCH, ROLL, UPWARD = 9841, 69, -254, 1
LAT, LON, NTP = 50.0, -145.0, 3545769600.0

# expected, with the 3-beam solution where one beam has < 25 % good pings [m/s]
U_COR = np.array([[0.1099, -0.3221, -0.4025, np.nan, 0.9243, -0.1595, 0.5387, -0.0651, -0.0726, -0.4735]])
V_COR = np.array([[-0.3854, -0.0916, -0.9773, np.nan, -1.2140, 0.3188, -0.5926, 0.2514, -0.2932, -0.5255]])
W = np.array([[0.1401, 0.3977, 0.1870, np.nan, 0.0091, -0.1290, -0.0681, -0.2591, 0.1215, 0.0926]])
E = np.array([[0.7898, 0.6347, -0.0806, np.nan, 0.0641, 0.07133, 0.0, 0.0, 0.0, 0.0]])

# Earth-coordinate DPS values: uncorrected profiles [mm/s] and the corrected ones [m/s]
U_EARTH = np.array([[0.2175, -0.2814, -0.1002, 0.4831, 1.2380, -0.2455, 0.6218, -0.1807, 0.0992, -0.9063]]) * 1000
V_EARTH = np.array([[-0.3367, -0.1815, -1.0522, -0.8676, -0.8919, 0.2585, -0.8497, -0.0873, -0.3073, -0.5461]]) * 1000
U_EARTH_COR = np.array([[0.1099, -0.3221, -0.4025, 0.2092, 0.9243, -0.1595, 0.3471, -0.1983, 0.0053, -1.0261]])
V_EARTH_COR = np.array([[-0.3855, -0.0916, -0.9773, -0.9707, -1.2140, 0.3188, -0.9940, -0.0308, -0.3229, -0.2582]])


def _beams(records: int = 1):
    return [np.tile(a, (records, 1)) for a in (B1, B2, B3, B4, PG1, PG2, PG3, PG4)]


def _compass(records: int = 1):
    return [np.full(records, v) for v in (HEADING, PITCH, ROLL, UPWARD)]


@pytest.mark.parametrize("records", [1, 24])
def test_beam_coordinates_match_the_dps(records):
    beams, compass = _beams(records), _compass(records)
    where = [np.full(records, LAT), np.full(records, LON), np.full(records, NTP)]
    east = adcp.adcp_beam_eastward(*beams, *compass, *where)
    north = adcp.adcp_beam_northward(*beams, *compass, *where)
    up = adcp.adcp_beam_vertical(*beams, *compass)
    error = adcp.adcp_beam_error(*beams)
    for got, expected in ((east, U_COR), (north, V_COR), (up, W), (error, E)):
        assert got.shape == (records, 10)
        np.testing.assert_array_almost_equal(got, np.tile(expected, (records, 1)), 4)


def test_three_beam_solution_only_with_one_bad_beam():
    x, y, z, e = adcp.beam_to_instrument(*_beams())
    assert np.isnan(e[0, 3])  # beams 1 and 4 below 25 %: no solution
    assert e[0, 6] == 0.0 and np.isfinite(x[0, 6])  # only beam 1 bad: 3-beam solution
    bad = np.array([[-32768, 1, 2, 3, 4, 5, 6, 7, 8, 9]])
    _, _, _, e = adcp.beam_to_instrument(bad, B2, B3, B4, *(np.full((1, 10), 100),) * 4)
    assert np.isnan(e[0, 0]) and np.isfinite(e[0, 1:]).all()


def test_instrument_to_earth_both_orientations():
    """RDI transformation, upward- and downward-looking check values (ion-functions, Matlab)."""
    u, v, w = np.array([[-749.95582864]]), np.array([[-739.72251324]]), np.array([[-81.67564404]])
    up = adcp.instrument_to_earth(u, v, w, np.array([3200]), np.array([300]), np.array([400]), np.array([1]))
    np.testing.assert_array_almost_equal(np.hstack(up), [[247.015599, -1027.223026, -9.497397]], 6)
    down = adcp.instrument_to_earth(u, v, w, np.array([3200]), np.array([300]), np.array([400]), np.array([0]))
    np.testing.assert_array_almost_equal(np.hstack(down), [[-1029.9328104, -225.7064203, -67.7426771]], 6)


def test_earth_coordinates_and_the_instrument_fill():
    east = adcp.adcp_earth_eastward(U_EARTH, V_EARTH, 0.0, LAT, LON, NTP)
    north = adcp.adcp_earth_northward(U_EARTH, V_EARTH, 0.0, LAT, LON, NTP)
    np.testing.assert_array_almost_equal(east, U_EARTH_COR, 4)
    np.testing.assert_array_almost_equal(north, V_EARTH_COR, 4)
    u = np.tile(U_EARTH, (24, 1)).astype(int)
    v = np.tile(V_EARTH, (24, 1)).astype(int)
    u[:, (2, 5, 7)] = v[:, (2, 5, 7)] = adcp.ADCP_FILL
    expected = np.tile(U_EARTH_COR, (24, 1))
    expected[:, (2, 5, 7)] = np.nan
    got = adcp.adcp_earth_eastward(u, v, np.zeros(24), np.full(24, LAT), np.full(24, LON), np.full(24, NTP))
    np.testing.assert_array_almost_equal(got, expected, 3)
    w = np.array([[140, -32768, 187]])
    np.testing.assert_array_equal(adcp.adcp_earth_vertical(w), [[0.14, np.nan, 0.187]])
    np.testing.assert_array_equal(adcp.adcp_earth_error(w), [[0.14, np.nan, 0.187]])


def test_echo_intensity_in_db():
    counts = np.array([[0, 25, 50, 75, 100, 125, 150, 175, 200, 225, 250]], dtype=np.uint8)
    expected = np.array([[0.0, 11.25, 22.5, 33.75, 45.0, 56.25, 67.5, 78.75, 90.0, 101.25, 112.5]])
    np.testing.assert_array_almost_equal(adcp.adcp_backscatter(counts, 0.45), expected, 12)
    np.testing.assert_array_almost_equal(
        adcp.adcp_backscatter(np.tile(counts, (24, 1)), np.full(24, 0.45)), np.tile(expected, (24, 1)), 12)


def test_bin_depths_meters():
    up = np.array([441.0 - 4 * k for k in range(29)])
    down = np.array([16.0 + 4 * k for k in range(29)])
    got = adcp.adcp_bin_depths_meters(np.array([900, 900]), np.array([400, 400]), np.array([29, 29]),
                                      np.array([450, 7]), np.array([1, 0]))
    np.testing.assert_allclose(got, np.vstack([up, down]), rtol=0, atol=1e-6)
    # a missing input makes only its record missing
    got = adcp.adcp_bin_depths_meters(np.array([900, np.nan, 900]), np.array([400, 400, 400]),
                                      np.array([29, 29, 29]), np.array([450, 7, np.nan]), np.array([1, 0, 1]))
    np.testing.assert_allclose(got[0], up, atol=1e-6)
    assert np.isnan(got[1:]).all()


def test_bin_depths_from_pressure_use_teos10_depth():
    """600 dbar at 4N is 595.8262 m and 10 dbar 9.94460 m (TEOS-10 z_from_p check values)."""
    expected_up = 0.8253480 + np.array([586, 582, 578, 574, 570, 566, 562, 558, 554, 550])
    expected_down = 0.9445834 + np.array([18, 22, 26, 30, 34, 38, 42, 46, 50, 54])
    common = (np.array([900, 900]), np.array([400, 400]), np.array([10, 10]))
    dapa = adcp.adcp_bin_depths_dapa(*common, np.array([600000, 10000]), np.array([1, 0]), np.array([4.0, 4.0]))
    bar = adcp.adcp_bin_depths_bar(*common, np.array([60, 1]), np.array([1, 0]), np.array([4.0, 4.0]))
    for got in (dapa, bar):
        np.testing.assert_allclose(got, np.vstack([expected_up, expected_down]), rtol=0, atol=1e-6)


def test_select_the_pressure_that_agrees_with_the_deployment_depth():
    adcp_daPa = np.array([150000.0, 0.0, 400000.0, 150500.0])
    ctd_dbar = np.array([149.0, 151.0, 152.0, np.nan])
    got = select_arg_within_tolerance_of_std(adcp_daPa, ctd_dbar, np.full(4, 150.0), 0.001)
    np.testing.assert_array_equal(got, [150.0, 151.0, 152.0, 150.5])
    np.testing.assert_array_equal(select_arg_within_tolerance_of_std(adcp_daPa, None, 150.0, 0.001),
                                  adcp_daPa * 0.001)


def test_registered_under_the_upstream_names():
    alg = lookup("ion_functions.data.adcp_functions", "adcp_beam_eastward")
    assert alg.args == ("b1", "b2", "b3", "b4", "pg1", "pg2", "pg3", "pg4", "h", "p", "r", "vf", "lat", "lon", "dt")
    assert lookup("ion_functions.data.generic_functions", "select_arg_within_tolerance_of_std").keywords == ("tol",)


def test_vadcp_true_vertical_velocity_from_the_fifth_beam():
    """ion-functions check values (VELTURB, DCN 1341-00760), bad pings in beams 1+2 and beam 5."""
    ones = np.ones((10, 10), dtype=int)
    b1, b2, b3, b4, b5 = (ones * v for v in (-325, 188, 168, -338, -70))
    pg = [ones * 100 for _ in range(5)]
    pg[0][:, (2, 3)] = 24
    pg[1][:, (2, 3)] = 24
    pg[4][:, 9] = 24
    heading = np.array([30, 30, 30, 30, 30, 32, 32, 32, 32, 32]) * 100
    pitch = np.array([0, 2, 3, 3, 1, 2, 2, 3, 3, 1]) * 100
    roll = np.array([0, 4, 3, 4, 3, 3, 4, 3, 4, 3]) * 100
    expected = np.tile(np.array([[0.07000000, -0.00824854, -0.00804866, -0.02112871, 0.01775751,
                                  0.00485518, -0.00824854, -0.00804866, -0.02112871, 0.01775751]]).T, (1, 10))
    expected[:, (2, 3, 9)] = np.nan
    got = adcp.vadcp_beam_vertical_true(b1, b2, b3, b4, b5, *pg[:4], heading, pitch, roll, np.ones(10), pg5=pg[4])
    np.testing.assert_array_almost_equal(got, expected, 6)
    np.testing.assert_array_equal(adcp.vadcp_beam_error(*_beams()), adcp.adcp_beam_error(*_beams()))
