"""PAR algorithms against the OPTPARW DPS test data (1341-00720, -00721, -00722), as carried by
ion-functions' ``ion_functions/data/test/test_opt_functions.py``."""

from __future__ import annotations

import numpy as np
import pytest

from stream_engine.functions import evaluate_expression, lookup


def opt(name):
    return lookup("ion_functions.data.opt_functions", name)


SATLANTIC_COUNTS = np.array([
    2159403328, 2159400384, 2159396992, 2159400384, 2159407488, 2159399296, 2159400384,
    2159404800, 2159403904, 2159402240, 2159403200, 2159409728, 2159409792, 2159408320,
    2159407808, 2159402304, 2159402688, 2159407552, 2159404160, 2159403776, 2159402048,
    2159404544])
SATLANTIC_EXPECTED = np.array([
    8.976348585, 8.965999618, 8.954075807, 8.965999618, 8.990972126, 8.962174999,
    8.965999618, 8.981523069, 8.978373383, 8.972523967, 8.97589863, 8.998846341,
    8.999071318, 8.993896835, 8.992097014, 8.972748944, 8.97409881, 8.991197104,
    8.979273293, 8.977923428, 8.971849034, 8.980623159])
SATLANTIC_CAL = {"a0": 2156849800.8, "a1": 2.586852835e-006, "Im": 1.3589}
BIOS_EXPECTED = np.array([1707.13, 1000.00, 750.00, 500.00, 300.00, 286.25, 100.00, 50.00, 0.00])


def test_par_satlantic_dps():
    # test_opt_par_satlantic: scalar record and tiled calibrations, rtol=1e-6, atol=1e-6
    fn = opt("opt_par_satlantic")
    one = fn(SATLANTIC_COUNTS[0], **SATLANTIC_CAL)
    assert one.shape == (1,)
    np.testing.assert_allclose(one, SATLANTIC_EXPECTED[0], rtol=1e-6, atol=1e-6)
    tiled = {k: np.full(SATLANTIC_COUNTS.size, v) for k, v in SATLANTIC_CAL.items()}
    np.testing.assert_allclose(fn(SATLANTIC_COUNTS, **tiled), SATLANTIC_EXPECTED,
                               rtol=1e-6, atol=1e-6)


def test_par_satlantic_numexpr_pfid75_agrees():
    # PFID75 is the same formula as a NumexprFunction: "Im * a1 * (x - a0)"
    out = evaluate_expression("Im * a1 * (x - a0)", {"x": SATLANTIC_COUNTS, **SATLANTIC_CAL})
    np.testing.assert_allclose(out, SATLANTIC_EXPECTED, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(out, opt("opt_par_satlantic")(SATLANTIC_COUNTS, **SATLANTIC_CAL))


def test_par_wetlabs_dps():
    # test_opt_par_wetlabs: rtol=1e-6, atol=1e-6
    counts = np.array([4975, 4999, 5077, 5230, 5413, 5483, 5427, 5344, 5285, 5284, 5344, 5470,
                       5649, 5835, 6007, 11824, 4975, 4999, 5077, 5230, 5413, 11824])
    expected = [2.176371115, 2.218183222, 2.359700693, 2.664053061, 3.08006158, 3.255847708,
                3.114442636, 2.916077547, 2.782801729, 2.780596116, 2.916077547, 3.222459729,
                3.713869311, 4.304039059, 4.932928879, 496.8256708, 2.176371115, 2.218183222,
                2.359700693, 2.664053061, 3.08006158, 496.8256708]
    fn = opt("opt_par_wetlabs")
    np.testing.assert_allclose(fn(counts[0], 4381, 2904, 1.3589), expected[0], rtol=1e-6, atol=1e-6)
    n = counts.size
    out = fn(counts, np.full(n, 4381), np.full(n, 2904), np.full(n, 1.3589))
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-6)


def test_par_biospherical_mobile_dps():
    # opt_par_biospherical_mobile test data: volts, rtol=0.01, atol=0.01
    volts = np.array([1.016793, 0.599800, 0.452400, 0.305000, 0.187000, 0.178900, 0.069100,
                      0.039600, 0.010100])
    out = opt("opt_par_biospherical_mobile")(volts, np.full(9, 0.0101), np.full(9, 5.897e-04))
    np.testing.assert_allclose(out, BIOS_EXPECTED, rtol=0.01, atol=0.01)
    # PFID76, the NumexprFunction form, is the same formula
    numexpr_out = evaluate_expression("(raw - offset) / wet_scale",
                                      {"raw": volts, "offset": 0.0101, "wet_scale": 5.897e-04})
    np.testing.assert_array_equal(numexpr_out, out)


def test_par_biospherical_wfp_dps():
    # opt_par_biospherical_wfp test data: millivolts and V/(quanta cm-2 s-1), rtol=0.01, atol=0.01
    mv = np.array([1016.793, 599.800, 452.400, 305.000, 187.000, 178.900, 69.100, 39.600, 10.100])
    scale = 5.897e-04 / (6.02 * 10**13)
    out = opt("opt_par_biospherical_wfp")(mv, 10.1, scale)
    np.testing.assert_allclose(out, BIOS_EXPECTED, rtol=0.01, atol=0.01)
    one = opt("opt_par_biospherical_wfp")(mv[0], 10.1, scale)
    assert one.shape == (1,)


@pytest.mark.parametrize("name", ["opt_par_satlantic", "opt_par_wetlabs"])
def test_par_nan_propagates(name):
    out = opt(name)(np.array([np.nan, 5000.0]), 4381.0, 2904.0, 1.3589)
    assert np.isnan(out[0]) and np.isfinite(out[1])
