"""CTD algorithms against the published check values of the OOI DPSs and TEOS-10.

Reference numbers are those of the DPS test data as carried by ion-functions'
``ion_functions/data/test/test_ctd_functions.py`` (named per test below), at the tolerance those
numbers support; TEOS-10 check values are from the GSW documentation.
"""

from __future__ import annotations

import numpy as np
import pytest

from stream_engine.functions import lookup


def ctd(name):
    return lookup("ion_functions.data.ctd_functions", name)


SBE16_PRES_CAL = dict(
    ptempa0=-6.87701000e001, ptempa1=5.05406200e001, ptempa2=-2.15672900e-001,
    ptca0=5.24965500e005, ptca1=7.23620100e000, ptca2=-9.94485900e-002,
    ptcb0=2.51220000e001, ptcb1=-2.00000000e-004, ptcb2=0.0,
    pa0=1.73472300e000, pa1=1.57475000e-002, pa2=-6.51927800e-010,
)
SBE37_PRES_CAL = dict(
    pa0=1.202594e-1, pa1=4.514834e-3, pa2=-1.091899e-11,
    ptempa0=-6.953022e1, ptempa1=5.115592e-2, ptempa2=-3.918145e-7,
    ptca0=5.247204e5, ptca1=9.617295e-1, ptca2=6.296724e-3,
    ptcb0=2.498163e1, ptcb1=-2.75e-4, ptcb2=0.0,
)


def test_sbe16plus_tempwat_dps():
    # TEMPWAT DPS 1341-00010 (ion-functions test_ctd_sbe16plus_tempwat)
    out = ctd("ctd_sbe16plus_tempwat")(248471, 1.281651e-3, 2.706002e-4, -1.027561e-6, 1.749446e-7)
    np.testing.assert_allclose(out, 22.544681, rtol=1e-6, atol=0)
    assert out.dtype == np.float64


def test_sbe37im_tempwat_instrument_recovered_sbe_values():
    # SBE Data Processing values (test_ctd_sbe37im_tempwat_instrument_recovered), 0.1 mdeg C
    t0 = np.array([366964, 499888, 465784, 500403])
    out = ctd("ctd_sbe37im_tempwat_instrument_recovered")(
        t0, -1.179278e-04, 3.097942e-04, -4.688854e-06, 2.081274e-07)
    np.testing.assert_allclose(out, [10.9818, 3.8488, 5.4520, 3.8255], rtol=0, atol=1e-4)


@pytest.mark.parametrize(("name", "raw", "expected"), [
    ("ctd_sbe37im_tempwat", 340357.0, 24.035700),   # TEMPWAT DPS (test_ctd_sbe37im_tempwat)
    ("ctd_sbe52mp_tempwat", 200000.0, 15.000000),   # TEMPWAT DPS (test_ctd_sbe52mp_tempwat)
    ("ctd_sbe52mp_preswat", 201000.0, 2000.000000),  # PRESWAT DPS (test_ctd_sbe52mp_preswat)
    ("ctd_sbe37im_condwat", 400000.0, 3.500000),    # CONDWAT DPS (test_ctd_sbe37im_condwat)
    ("ctd_sbe52mp_condwat", 305000.0, 3.000000),    # CONDWAT DPS (test_ctd_sbe52mp_condwat)
])
def test_single_count_conversions(name, raw, expected):
    np.testing.assert_allclose(ctd(name)(raw), expected, rtol=1e-6, atol=0)
    np.testing.assert_allclose(ctd(name)(np.array([raw, np.nan])), [expected, np.nan], rtol=1e-6)


def test_sbe16plus_preswat_dps():
    # PRESWAT DPS 1341-00020 (test_ctd_sbe16plus_preswat)
    out = ctd("ctd_sbe16plus_preswat")(528418, 24303, **SBE16_PRES_CAL)
    np.testing.assert_allclose(out, 27.282116, rtol=1e-6, atol=0)
    shifted = ctd("ctd_sbe16plus_preswat")(528418, 24303, **SBE16_PRES_CAL, offset=-0.5)
    np.testing.assert_allclose(shifted, 27.282116 - 0.5, rtol=1e-6)


def test_sbe16digi_preswat():
    # construct_sbe_digiquartz_pressure_unit_test.m (test_ctd_sbe16digi_preswat)
    out = ctd("ctd_sbe16digi_preswat")(
        8833629.0, 34336.0, 991.3651, 1.01360e-05, -1.18210e-04, 0.031072, 0.0,
        27.67412, -1.08033e-04, 1.03670e-06, 1.68749e-09, 0.0)
    np.testing.assert_allclose(out, 49.999967, rtol=1e-6, atol=0)


def test_sbe37im_preswat_dps():
    # PRESWAT DPS (test_ctd_sbe37im_preswat)
    np.testing.assert_allclose(ctd("ctd_sbe37im_preswat")(2789.0, 1000.0), 0.04536611, rtol=1e-6)


def test_sbe37im_preswat_instrument_recovered_sbe_values():
    # SBE Data Processing values (test_ctd_sbe37im_preswat_instrument_recovered), ~5 mm
    p0 = np.array([533152, 571309, 632465, 828170])
    therm = np.array([1608, 1452, 1471, 1453])
    out = ctd("ctd_sbe37im_preswat_instrument_recovered")(p0, therm, **SBE37_PRES_CAL)
    np.testing.assert_allclose(out, [16.1590, 134.9500, 325.2580, 933.8820], rtol=0, atol=0.005)


def test_sbe16plus_condwat_dps():
    # CONDWAT DPS 1341-00030 (test_ctd_sbe16plus_condwat)
    out = ctd("ctd_sbe16plus_condwat")(
        1673175, 22.544681, 27.282116, -9.72193700e-001, 1.38675900e-001, -1.08398500e-004,
        2.63219300e-005, -9.57000000e-008, 3.2500e-006)
    np.testing.assert_allclose(out, 4.969069, rtol=1e-6, atol=0)


def test_sbe37im_condwat_instrument_recovered_sbe_values():
    # SBE Data Processing values (test_ctd_sbe37im_condwat_instrument_recovered), 1e-6 S/m
    c0 = np.array([1564991, 1457279, 1484332, 1462659])
    t1 = np.array([10.9818000, 3.8488000, 5.4520000, 3.8255000])
    p1 = np.array([16.1590, 134.9500, 325.2580, 933.8820])
    out = ctd("ctd_sbe37im_condwat_instrument_recovered")(
        c0, t1, p1, -9.899853e-01, 1.314100e-01, -4.181710e-04, 4.723872e-05,
        -9.570000e-08, 3.250000e-06, 4.842900e-07)
    np.testing.assert_allclose(out, [3.891373, 3.240767, 3.399795, 3.272396], rtol=0, atol=1e-6)


def test_calibrations_tiled_per_record_equal_scalars():
    t0 = np.array([248471.0, 250000.0, np.nan])
    cal = (1.281651e-3, 2.706002e-4, -1.027561e-6, 1.749446e-7)
    scalar = ctd("ctd_sbe16plus_tempwat")(t0, *cal)
    tiled = ctd("ctd_sbe16plus_tempwat")(t0, *(np.full(3, c) for c in cal))
    np.testing.assert_array_equal(scalar, tiled)
    assert np.isnan(scalar[2]) and np.isfinite(scalar[:2]).all()


def test_pracsal_dps():
    # PRACSAL DPS 1341-00040, recomputed with GSW 3.02 to 6 decimals (test_ctd_pracsal)
    c = np.array([5.407471, 5.407880, 5.041008, 3.463402, 3.272557, 3.273035])
    t = np.array([28.0, 28.0, 20.0, 6.0, 3.0, 2.0])
    p = np.array([0.0, 10.0, 150.0, 800.0, 2500.0, 5000.0])
    expected = [33.495229, 33.495224, 36.995774, 34.898526, 34.999244, 34.999494]
    np.testing.assert_allclose(ctd("ctd_pracsal")(c, t, p), expected, rtol=1e-6, atol=0)


def test_pracsal_teos10_check_values():
    # gsw_SP_from_C check values (TEOS-10 GSW documentation); C given in mS/cm there
    c_ms_cm = np.array([34.5487, 34.7275, 34.8605, 34.6810, 34.5680, 34.5600])
    t = np.array([28.7856, 28.4329, 22.8103, 10.2600, 6.8863, 4.4036])
    p = np.array([10.0, 50.0, 125.0, 250.0, 600.0, 1000.0])
    expected = [20.009869599086951, 20.265511864874270, 22.981513062527689,
                31.204503263727982, 34.032315787432829, 36.400308494388170]
    np.testing.assert_allclose(ctd("ctd_pracsal")(c_ms_cm / 10.0, t, p), expected, rtol=1e-12)


def test_density_dps():
    # DENSITY DPS 1341-00050 (test_ctd_density)
    sp = np.array([33.5, 33.5, 37.0, 34.9, 35.0, 35.0])
    t = np.array([28.0, 28.0, 20.0, 6.0, 3.0, 2.0])
    p = np.array([0.0, 10.0, 150.0, 800.0, 2500.0, 5000.0])
    expected = [1021.26851, 1021.31148, 1026.94422, 1031.13498, 1039.28768, 1050.30616]
    out = ctd("ctd_density")(sp, t, p, 15.0, -55.0)
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=0)
    tiled = ctd("ctd_density")(sp, t, p, np.full(6, 15.0), np.full(6, -55.0))
    np.testing.assert_array_equal(out, tiled)


def test_teos10_products_propagate_nan():
    nan_in = np.array([np.nan, 4.0])
    sal = ctd("ctd_pracsal")(nan_in, np.array([10.0, 10.0]), np.array([5.0, 5.0]))
    assert np.isnan(sal[0]) and np.isfinite(sal[1])
    rho = ctd("ctd_density")(np.array([35.0, 35.0]), np.array([10.0, np.nan]), 5.0, 45.0, -125.0)
    assert np.isfinite(rho[0]) and np.isnan(rho[1])


def test_glider_preswat_dps():
    # test_ctd_glider_preswat
    p = ctd("ctd_glider_preswat")(np.array([0.9, 5.6789, 11.07, 121.212, 1234.5678]))
    np.testing.assert_allclose(p, [9.0, 56.789, 110.7, 1212.12, 12345.678], rtol=1e-8, atol=1e-8)
    assert p.dtype == np.float64


def test_glider_preswat_is_bit_exact_in_float32(samples_dir):
    # the OOI archive's sci_water_pressure_dbar (float32) of glider GL319, deployment 6
    netCDF4 = pytest.importorskip("netCDF4")
    name = ("deployment0006_CE05MOAS-GL319-05-CTDGVM000-recovered_host-"
            "ctdgv_m_glider_instrument_recovered.nc")
    with netCDF4.Dataset(samples_dir / name) as ds:
        ds.set_auto_mask(False)
        bar = ds["sci_water_pressure"][:]
        stored = ds["sci_water_pressure_dbar"][:]
    out = ctd("ctd_glider_preswat")(bar)
    assert bar.dtype == np.float32 and out.dtype == np.float32 and out.size == 5803
    assert np.array_equal(out.view(np.uint32), stored.view(np.uint32))
    in_float64 = (bar.astype(np.float64) * 10.0)
    assert not np.array_equal(in_float64, stored.astype(np.float64))  # float64 would not match


def test_depth_from_pressure_teos10_check_values():
    # gsw_z_from_p check values, TEOS-10 3.05 (ion-functions test_z_from_p), lat 4 N
    depth = lookup("ion_functions.data.adcp_functions", "depth_from_pressure_dbar")
    p = np.array([10.0, 50.0, 125.0, 250.0, 600.0, 1000.0])
    expected = [9.9445834469453, 49.7180897012550, 124.2726219409978,
                248.4700576548589, 595.8253480356214, 992.0919060719987]
    np.testing.assert_allclose(depth(p, 4.0), expected, rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(depth(p / 10.0, np.full(6, 4.0), 10), expected, rtol=1e-8)
    np.testing.assert_array_equal(depth(p, 4.0, 0), depth(p, 4.0))
    assert np.isnan(depth(np.array([np.nan]), 4.0)[0])


def test_masked_inputs_become_nan():
    counts = np.ma.masked_array(np.array([340357, -999999999], dtype=np.int32), mask=[False, True])
    out = ctd("ctd_sbe37im_tempwat")(counts)
    assert not isinstance(out, np.ma.MaskedArray)
    np.testing.assert_allclose(out, [24.0357, np.nan], rtol=1e-12)
    bar = np.ma.masked_array(np.array([1.5, 2.5], dtype=np.float32), mask=[False, True])
    dbar = ctd("ctd_glider_preswat")(bar)
    assert dbar.dtype == np.float32 and dbar[0] == np.float32(15.0) and np.isnan(dbar[1])


# -- the in-place evaluation: inputs untouched, dtypes and shapes as with float64 copies --------


def _sbe16_chain_inputs():
    t0 = np.array([248471, 250000, 240000], dtype=np.int32)
    p0 = np.array([528418, 528000, 529000], dtype=np.int32)
    pt0 = np.array([24303, 24300, 24310], dtype=np.int32)
    c0 = np.array([1673175, 1670000, 1680000], dtype=np.int32)
    return t0, p0, pt0, c0


def test_integer_counts_give_the_same_bits_as_float64_counts():
    t0, p0, pt0, c0 = _sbe16_chain_inputs()
    cal = (1.281651e-3, 2.706002e-4, -1.027561e-6, 1.749446e-7)
    temp = ctd("ctd_sbe16plus_tempwat")
    pres = ctd("ctd_sbe16plus_preswat")
    np.testing.assert_array_equal(temp(t0, *cal), temp(t0.astype(np.float64), *cal))
    np.testing.assert_array_equal(pres(p0, pt0, **SBE16_PRES_CAL),
                                  pres(p0.astype(np.float64), pt0.astype(np.float64),
                                       **SBE16_PRES_CAL))


def test_float32_inputs_are_computed_in_float64():
    # the engine passes computed L1 inputs as float32; they must not pull the formula to float32
    t0, p0, pt0, c0 = _sbe16_chain_inputs()
    t = ctd("ctd_sbe16plus_tempwat")(
        t0, 1.281651e-3, 2.706002e-4, -1.027561e-6, 1.749446e-7).astype(np.float32)
    p = ctd("ctd_sbe16plus_preswat")(p0, pt0, **SBE16_PRES_CAL).astype(np.float32)
    cond_cal = (-9.72193700e-001, 1.38675900e-001, -1.08398500e-004, 2.63219300e-005,
                -9.57000000e-008, 3.2500e-006)
    cond = ctd("ctd_sbe16plus_condwat")
    out = cond(c0, t, p, *cond_cal)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, cond(c0, t.astype(np.float64), p.astype(np.float64),
                                            *cond_cal))
    c32 = out.astype(np.float32)
    sal = ctd("ctd_pracsal")(c32, t, p)
    assert sal.dtype == np.float64
    np.testing.assert_array_equal(sal, ctd("ctd_pracsal")(c32.astype(np.float64),
                                                          t.astype(np.float64),
                                                          p.astype(np.float64)))


@pytest.mark.parametrize(("name", "args"), [
    ("ctd_sbe16plus_tempwat", lambda a: (a["t0"], 1.281651e-3, 2.706002e-4, -1.027561e-6,
                                         1.749446e-7)),
    ("ctd_sbe37im_tempwat_instrument_recovered",
     lambda a: (a["t0"], -1.179278e-04, 3.097942e-04, -4.688854e-06, 2.081274e-07)),
    ("ctd_sbe16plus_preswat", lambda a: (a["p0"], a["pt0"], *SBE16_PRES_CAL.values())),
    ("ctd_sbe37im_preswat_instrument_recovered",
     lambda a: (a["p0"], a["pt0"], *(SBE37_PRES_CAL[k] for k in (
         "ptempa0", "ptempa1", "ptempa2", "ptca0", "ptca1", "ptca2", "ptcb0", "ptcb1", "ptcb2",
         "pa0", "pa1", "pa2")))),
    ("ctd_sbe16digi_preswat", lambda a: (a["p0"] * 16.0, a["pt0"], 991.3651, 1.01360e-05,
                                         -1.18210e-04, 0.031072, 0.0, 27.67412, -1.08033e-04,
                                         1.03670e-06, 1.68749e-09, 0.0)),
    ("ctd_sbe16plus_condwat", lambda a: (a["c0"], a["t"], a["p"], -9.72193700e-001,
                                         1.38675900e-001, -1.08398500e-004, 2.63219300e-005,
                                         -9.57000000e-008, 3.2500e-006)),
    ("ctd_sbe37im_condwat_instrument_recovered",
     lambda a: (a["c0"], a["t"], a["p"], -9.899853e-01, 1.314100e-01, -4.181710e-04,
                4.723872e-05, -9.570000e-08, 3.250000e-06, 4.842900e-07)),
    ("ctd_pracsal", lambda a: (a["c"], a["t"], a["p"])),
    ("ctd_density", lambda a: (a["sp"], a["t"], a["p"], a["lat"], a["lon"])),
])
def test_inputs_are_never_written_to(name, args):
    # formulas run in place in their own buffers: float64 inputs (which as_operand does not copy)
    # and tiled coefficients must come back unchanged
    arrays = {
        "t0": np.array([248471.0, 250000.0, np.nan]), "p0": np.array([528418.0, 528000.0, 1.0]),
        "pt0": np.array([24303.0, 24300.0, 24310.0]), "c0": np.array([1673175.0, 1.67e6, 1.68e6]),
        "t": np.array([22.5, 10.0, 3.0]), "p": np.array([27.3, 100.0, 500.0]),
        "c": np.array([4.9, 3.5, 3.2]), "sp": np.array([33.5, 35.0, 34.9]),
        "lat": np.full(3, 45.0), "lon": np.full(3, -125.0),
    }
    before = {k: v.copy() for k, v in arrays.items()}
    out = ctd(name)(*args(arrays))
    assert out.shape == (3,) and out.dtype == np.float64
    for key, value in arrays.items():
        np.testing.assert_array_equal(value, before[key], err_msg=key)


def test_one_count_against_coefficients_tiled_per_record_broadcasts():
    cal = (1.281651e-3, 2.706002e-4, -1.027561e-6, 1.749446e-7)
    out = ctd("ctd_sbe16plus_tempwat")(248471, *(np.full(4, c) for c in cal))
    np.testing.assert_allclose(out, np.full(4, 22.544681), rtol=1e-6, atol=0)
    pres = ctd("ctd_sbe16plus_preswat")(528418, 24303, **{
        k: np.full(2, v) for k, v in SBE16_PRES_CAL.items()})
    np.testing.assert_allclose(pres, [27.282116, 27.282116], rtol=1e-6, atol=0)
    sal = ctd("ctd_pracsal")(4.0, np.array([10.0, 12.0]), 5.0)
    assert sal.shape == (2,) and sal[0] > sal[1] > 30.0


def test_shapes_that_do_not_broadcast_are_refused_with_them_in_the_message():
    with pytest.raises(ValueError, match=r"\(3,\), \(2,\)"):
        ctd("ctd_sbe16plus_tempwat")(np.zeros(3), np.zeros(2), 0.0, 0.0, 0.0)


def test_masked_counts_become_nan_in_the_polynomials():
    counts = np.ma.masked_array(np.array([248471, 0], dtype=np.int32), mask=[False, True])
    out = ctd("ctd_sbe16plus_tempwat")(counts, 1.281651e-3, 2.706002e-4, -1.027561e-6,
                                       1.749446e-7)
    assert not isinstance(out, np.ma.MaskedArray)
    np.testing.assert_allclose(out[0], 22.544681, rtol=1e-6)
    assert np.isnan(out[1])


def test_horner_matches_the_expanded_polynomial():
    from stream_engine.functions.arrays import horner, scratch

    x = np.array([-2.0, 0.5, 3.0, 11.7])
    coefs = (1.5, -0.25, 2.0, 0.125)
    (out,) = scratch(x, *coefs)
    horner(x, coefs, out)
    expected = coefs[0] + coefs[1] * x + coefs[2] * x**2 + coefs[3] * x**3
    np.testing.assert_allclose(out, expected, rtol=1e-14)
    ints = np.array([1, 2, 3], dtype=np.int32)
    (out,) = scratch(ints, 1.0, np.array([1.0, 2.0, 3.0]))
    np.testing.assert_array_equal(horner(ints, (1.0, np.array([1.0, 2.0, 3.0])), out),
                                  [2.0, 5.0, 10.0])
