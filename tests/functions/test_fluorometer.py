"""ECO fluorometer algorithms against the CHLAFLO (1341-00530), CDOMFLO (1341-00550) and
FLUBSCT (1341-00540) DPS test data, as carried by ion-functions'
``ion_functions/data/test/test_flo_functions.py``."""

from __future__ import annotations

import numpy as np

from stream_engine.functions import lookup


def flo(name):
    return lookup("ion_functions.data.flo_functions", name)


def test_chla_and_cdom_dps():
    # test_flo_chla_cdom: rtol=1e-6, atol=1e-6
    chla_counts = np.array([54, 52, 51, 52, 52, 51, 51, 52, 52, 54, 51, 51, 51, 50, 50, 52])
    cdom_counts = np.array([51, 50, 50, 52, 50, 51, 51, 51, 51, 51, 49, 52, 52, 53, 52, 51])
    chla_expected = [0.1089, 0.0847, 0.0726, 0.0847, 0.0847, 0.0726, 0.0726, 0.0847,
                     0.0847, 0.1089, 0.0726, 0.0726, 0.0726, 0.0605, 0.0605, 0.0847]
    cdom_expected = [0.2544, 0.1696, 0.1696, 0.3392, 0.1696, 0.2544, 0.2544, 0.2544,
                     0.2544, 0.2544, 0.0848, 0.3392, 0.3392, 0.424, 0.3392, 0.2544]
    chla = flo("flo_chla")(chla_counts, np.ones(16) * 45, np.ones(16) * 0.0121)
    cdom = flo("flo_cdom")(cdom_counts, 48, 0.0848)  # deployment scalars broadcast
    np.testing.assert_allclose(chla, chla_expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(cdom, cdom_expected, rtol=1e-6, atol=1e-6)
    assert chla.dtype == np.float64 and cdom.dtype == np.float64


def test_beta_and_bback_total_dps():
    # test_flo_bback_total: beta from counts, then total backscatter; rtol=1e-6, atol=1e-6
    counts = np.array([55, 57, 55, 56, 54, 54, 55, 54, 55, 56, 55])
    beta = flo("flo_beta")(counts, np.ones(11) * 47, np.ones(11) * 3.058e-6)
    np.testing.assert_allclose(beta, (counts - 47) * 3.058e-6, rtol=1e-15)
    expected = [0.000171, 0.000213, 0.000171, 0.000192, 0.000151, 0.000151, 0.000171,
                0.000151, 0.000171, 0.000192, 0.000171]
    ones = np.ones(11)
    out = flo("flo_bback_total")(beta, ones * 20.0, ones * 32.0, ones * 117.0, ones * 700.0,
                                 ones * 1.08)
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-6)
    scalars = flo("flo_bback_total")(beta, 20.0, 32.0, 117.0, 700.0, 1.08)
    np.testing.assert_array_equal(out, scalars)


def test_bback_total_propagates_missing_ctd_values():
    beta = np.array([2.4e-5, 2.4e-5, 2.4e-5])
    out = flo("flo_bback_total")(beta, np.array([20.0, np.nan, 20.0]),
                                 np.array([32.0, 32.0, np.nan]), 124.0, 700.0, 1.076)
    assert np.isfinite(out[0]) and np.isnan(out[1:]).all()


def test_scat_seawater_physics():
    # Properties stated in Zhang, Hu & He (2009) (published values: the tests below): seawater scatters about 30 % more than pure water, Rayleigh-like
    # wavelength dependence (about lambda^-4.3), and theta does not enter the total.
    fn = flo("flo_scat_seawater")
    salt_ratio = fn(20.0, 35.0, 124.0, 500.0) / fn(20.0, 0.0, 124.0, 500.0)
    assert 1.25 < salt_ratio < 1.35
    exponent = np.log(fn(20.0, 35.0, 124.0, 400.0) / fn(20.0, 35.0, 124.0, 700.0)) / np.log(7 / 4)
    assert 4.1 < exponent < 4.4
    assert fn(20.0, 35.0, 124.0, 700.0) == fn(20.0, 35.0, 90.0, 700.0)
    assert fn(20.0, 35.0, 124.0, 700.0) == fn(20.0, 35.0, 124.0, 700.0, 0.039)
    assert fn(20.0, 35.0, 124.0, 700.0, 0.09) != fn(20.0, 35.0, 124.0, 700.0)
    assert 5e-4 < fn(20.0, 35.0, 124.0, 700.0) < 8e-4  # m-1, the order of magnitude at 700 nm
    assert np.isnan(fn(np.array([np.nan]), 35.0, 124.0, 700.0)).all()


def test_scat_seawater_against_the_published_values_of_zhang_and_hu():
    # Zhang & Hu (2009), Opt. Express 17, 1671, Table 1: their model's volume scattering at
    # 90 degrees of pure water at 20 degC, beta90 = 4.500e-4 m-1 sr-1 at 366 nm and
    # 0.650e-4 at 578 nm. The total is bsw = 8 pi / 3 * beta90 * (2 + delta) / (1 + delta)
    # (Zhang, Hu & He 2009, Opt. Express 17, 5698, whose model at S = 0 is the 2009 one).
    # Published to 4 and 3 digits: held to 0.15 % and 0.2 %, so a 0.5 % error fails.
    fn = flo("flo_scat_seawater")
    delta = 0.039
    to_total = 8.0 * np.pi / 3.0 * (2.0 + delta) / (1.0 + delta)
    np.testing.assert_allclose(fn(20.0, 0.0, 90.0, 366.0), 4.500e-4 * to_total, rtol=1.5e-3)
    np.testing.assert_allclose(fn(20.0, 0.0, 90.0, 578.0), 0.650e-4 * to_total, rtol=2e-3)


def test_scat_seawater_temperature_minimum_of_zhang_and_hu_2010():
    # Zhang & Hu (2010), Proc. SPIE 7678, 76780L, with the same model: scattering by water is
    # lowest at 24.64 degC for pure water and at 27.49 degC for S = 40 (here at 532 nm).
    fn = flo("flo_scat_seawater")
    t = np.linspace(20.0, 32.0, 12001)
    for salinity, published in ((0.0, 24.64), (40.0, 27.49)):
        b = fn(t, np.full_like(t, salinity), 124.0, 532.0)
        assert abs(t[np.argmin(b)] - published) < 0.02, (salinity, t[np.argmin(b)])
