"""Dissolved-oxygen algorithms against the DOCONCS (1341-00520) and DOCONCF (1341-00521) DPS
test data, as carried by ion-functions' ``ion_functions/data/test/test_do2_functions.py``."""

from __future__ import annotations

import numpy as np
import pytest

from stream_engine.functions import lookup


def do2(name):
    return lookup("ion_functions.data.do2_functions", name)


CSV = np.array([0.002848, 0.000114, 1.51e-6, 70.42301, -0.10302, -12.9462, 1.265377])
CALPHASE = np.repeat([32.0, 39.825, 47.65, 55.475, 63.3], 4)
OPTODE_T = np.tile([10.0, 16.67, 23.33, 30.0], 5)
SVU_EXPECTED = np.array([
    3.67038772e02, 2.89131248e02, 2.32138540e02, 1.89376503e02, 2.06105882e02,
    1.61517794e02, 1.28983515e02, 1.04634998e02, 1.12481219e02, 8.72771165e01,
    6.89718258e01, 5.53355979e01, 5.12416074e01, 3.87165116e01, 2.97183595e01,
    2.30890079e01, 8.06153583e00, 4.47641240e00, 2.04072696e00, 3.51926228e-01])


def test_svu_with_deployment_and_tiled_coefficients():
    # test_do2_SVU: decimal=6
    svu = do2("do2_SVU")
    np.testing.assert_array_almost_equal(svu(CALPHASE, OPTODE_T, CSV), SVU_EXPECTED, decimal=6)
    tiled = np.tile(CSV, (CALPHASE.size, 1))
    np.testing.assert_array_almost_equal(svu(CALPHASE, OPTODE_T, tiled), SVU_EXPECTED, decimal=6)


@pytest.mark.parametrize("shape", ["1d", "row", "tiled"])
def test_svu_secondary_calibration(shape):
    # test_do2_SVU, conc_coef = (offset 10, slope 0.9) in every accepted layout
    coef = np.array([10.0, 0.9])
    conc = {"1d": coef, "row": coef[None, :], "tiled": np.tile(coef, (CALPHASE.size, 1))}[shape]
    out = do2("do2_SVU")(CALPHASE, OPTODE_T, CSV, conc)
    np.testing.assert_array_almost_equal(out, 10.0 + 0.9 * SVU_EXPECTED, decimal=6)


def test_svu_bad_coefficient_shape_is_a_clear_error():
    with pytest.raises(ValueError, match=r"'csv' must hold 7 values per record.*\(6,\)"):
        do2("do2_SVU")(27.799, 19.841, CSV[:6])


def test_svu_nan_propagates():
    out = do2("do2_SVU")(np.array([32.0, np.nan]), np.array([np.nan, 10.0]), CSV)
    assert np.isnan(out).all()


def test_salinity_correction():
    # test_salinity_correction. Upstream asserts 6 decimals with pygsw (TEOS-10 3.0, 48-term
    # density); gsw 3.6 uses the 75-term density, which moves the per-mass conversion by up to
    # 6e-7 relative, so the published numbers hold to rtol 1e-6.
    pres = np.array([60.52, 72.58, 31.42, 70.82, 74.87, 29.33, 30.95, 43.58, 65.37, 29.46,
                     31.03, 74.57, 75.07, 57.92, 42.98, 42.98, 42.98, 0.00, 42.98, 42.98])
    salt = np.array([34.1145, 34.2845, 33.2464, 33.5524, 33.5619, 33.2512, 33.2609, 33.2716,
                     33.4191, 33.2710, 33.2808, 33.5483, 33.5424, 33.3458, 0.0000, 37.7843,
                     35.7594, 33.3313, 33.3132, 33.3132])
    lat = np.array([50.0, -42.0, 39.0, 60.0, 45.0, 60.0, 39.0, 45.0, 50.0, -42.0,
                    50.0, 39.0, 60.0, 45.0, -42.0, 60.0, 45.0, -42.0, 50.0, 39.0])
    lon = np.array([145.0, -42.0, -70.5, 39.0, -125.0, 39.0, -70.5, -125.0, 145.0, -42.0,
                    145.0, -70.5, 39.0, -125.0, -42.0, 39.0, -125.0, -42.0, 145.0, -70.5])
    expected = np.array([
        2.88296666e02, 2.29721597e02, 1.87629963e02, 1.54646004e02, 1.62604386e02,
        1.29058268e02, 1.04241732e02, 8.55210885e01, 8.88041121e01, 6.97282873e01,
        5.57344581e01, 4.51939082e01, 4.04323196e01, 3.09440694e01, 2.98348603e01,
        1.83468213e01, 6.25456746e00, 3.57150705e00, 1.64934214e00, 2.87559085e-01])
    out = do2("do2_salinity_correction")(SVU_EXPECTED, pres, OPTODE_T, salt, lat, lon)
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=0)


def test_salinity_correction_example_and_reference_salinity():
    # do2_salinity_correction example in the DPA -> 335.967894709 umol/kg (pygsw; see above)
    fn = do2("do2_salinity_correction")
    out = fn(433.88488978325478, 5.40, 1.97, 33.716, -52.82, 87.64)
    np.testing.assert_allclose(out, 335.967894709, rtol=1e-6)
    # an optode set to the water's salinity needs no salinity factor: the ratio is the
    # Garcia & Gordon (1992) factor exp(S * B(Ts) + C0 * S**2) at T = 1.97 degC
    same = fn(433.88488978325478, 5.40, 1.97, 33.716, -52.82, 87.64, sref=33.716)
    ts = np.log((298.15 - 1.97) / (273.15 + 1.97))
    b = -6.24097e-3 - 6.93498e-3 * ts - 6.90358e-3 * ts**2 - 4.29155e-3 * ts**3
    np.testing.assert_allclose(out / same, np.exp(33.716 * b - 3.11680e-7 * 33.716**2), rtol=1e-12)


@pytest.mark.parametrize(("name", "volts", "expected"), [
    ("dosta_Topt_volt_to_degC", [0.0, 1.0, 2.0, 3.0, 4.0, 5.0], [-5.0, 3.0, 11.0, 19.0, 27.0, 35.0]),
    ("dosta_phase_volt_to_degree", [0.0, 1.0, 2.0, 3.0, 4.0, 5.0],
     [10.0, 22.0, 34.0, 46.0, 58.0, 70.0]),
])
def test_analog_optode_conversions(name, volts, expected):
    # test_dosta_Topt_volt_to_degC, test_dosta_phase_volt_to_degree
    np.testing.assert_array_almost_equal(do2(name)(np.array(volts)), expected, decimal=6)
    assert np.isnan(do2(name)(np.array([np.nan]))[0])


def test_dofst_frequency():
    # test_dofst_frequency: rtol=1e-6, atol=1e-6; NaN rows stand for the fill values upstream
    salt = np.array([34.1145, 34.2845, 33.2464, 33.5524, 33.5619, 33.2512, 33.2609, 33.2716,
                     33.4191, 33.2710, 33.2808, 33.5483, 33.5424, 33.3458, 0.0000, 37.7843,
                     35.7594, 33.3313] + [33.3132] * 7)
    temp = np.array([15.5257, 15.3317, 11.9239, 12.8940, 12.9011, 11.9350, 11.9715, 12.0110,
                     12.4553, 11.9932, 12.0196, 12.8647, 12.8448, 12.2084, 12.0996, -10.1230,
                     0.0000] + [12.0996] * 8)
    pres = np.array([60.5200, 72.5800, 31.4200, 70.8200, 74.8700, 29.3300, 30.9500, 43.5800,
                     65.3700, 29.4600, 31.0300, 74.5700, 75.0700, 57.9200, 42.9800, 42.9800,
                     42.9800, 0.00000] + [42.9800] * 7)
    freq = np.array([4354, 4143, 4583, 4476, 4481, 4591, 4575, 4574, 4545, 4578, 4572, 4505,
                     4383, 4555, 4569, 4023, 4569, 4569, 0, 841, 1000, 2000, 4000, 5000, 6000],
                    dtype=float)
    expected = np.array([
        256.97434863158, 242.509215041926, 294.548757813511, 281.302611659343,
        281.773833754618, 295.022573240991, 293.582249046689, 293.709591753566,
        289.274637555853, 293.610068502014, 293.01669510765, 283.855524405738,
        274.546683447082, 291.40284695473, 370.109515168768, 467.353919671818,
        388.785846175276, 291.052144126035, -65.8845095713829, 0.113790171971304,
        12.5914710984794, 91.0674517683417, 248.019413108066, 326.495393777929,
        404.971374447791])
    cal = dict(Foffset=-839.55, Soc=2.9968e-4, A=-4.1168e-3, B=2.4818e-4, C=-3.8820e-6, E=0.036)
    fn = do2("do2_dofst_frequency")
    out = fn(freq, P=pres, T=temp, SP=salt, lat=45.0, lon=-125.0, **cal)
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-6)
    freq[[7, 14, 23]] = np.nan
    expected[[7, 14, 23]] = np.nan
    tiled = {k: np.full(freq.size, v) for k, v in cal.items()}
    out = fn(freq, P=pres, T=temp, SP=salt, lat=45.0, lon=-125.0, **tiled)
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-6)


def test_dofst_voltage():
    # test_dofst_voltage: rtol=1e-6, atol=1e-6
    counts = np.tile([0, 6798, 16384, 32768, 65535], 5).astype(float)
    salt = np.array([0.0, 33.4, 31.2, 20.1, 35.2, 35.2, 0.0, 31.2, 20.1, 33.4, 35.2, 0.0, 20.1,
                     33.4, 31.2, 33.4, 35.2, 31.2, 20.1, 0.0, 33.4, 31.2, 35.2, 20.1, 0.0])
    temp = np.array([0.0, -30.1, 30.3, 10.1, 20.2, 20.2, 30.3, -30.1, 0.0, 10.1, 20.2, 30.3,
                     10.1, 0.0, -30.1, -30.1, 20.2, 0.0, 10.1, 30.3, 30.3, 0.0, -30.1, 10.1, 20.2])
    pres = np.array([0.0, 307.5, 201.2, 5.2, 112.1, 5.2, 307.5, 201.2, 0.0, 112.1, 5.2, 0.0,
                     112.1, 307.5, 201.2, 112.1, 5.2, 0.0, 201.2, 307.5, 5.2, 0.0, 112.1, 201.2,
                     307.5])
    lat = np.array([50.0, -42.0, 39.0, 60.0, 45.0, 60.0, 39.0, 45.0, 50.0, -42.0, 50.0, 39.0,
                    60.0, 45.0, -42.0, 60.0, 45.0, -42.0, 50.0, 39.0, 60.0, 45.0, 39.0, -42.0,
                    50.0])
    lon = np.array([145.0, -42.0, -70.5, 39.0, -125.0, 39.0, -70.5, -125.0, 145.0, -42.0, 145.0,
                    -70.5, 39.0, -125.0, -42.0, 39.0, -125.0, -42.0, 145.0, -70.5, 39.0, -125.0,
                    -70.5, -42.0, 145.0])
    expected = np.array([
        -104.1869283, 0.03494869, 61.89990653, 261.0228351, 438.6325206, -50.09861089,
        0.005635974, 475.5984302, 340.3897211, 544.0600381, -50.09857466, 0.005434191,
        97.67068802, 319.5738329, 2914.002444, -325.155281, 0.005231489, 115.240647,
        267.6054819, 466.3908327, -42.29682113, 0.008532408, 449.9501918, 267.6060633,
        567.6400574])
    out = do2("do2_dofst_volt")(counts, -0.5186, 0.4396, -3.1867e-3, 1.7749e-4, -3.5718e-6,
                                0.036, pres, temp, salt, lat, lon)
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-6)
