"""The compiled TEOS-10 kernels equal gsw bit for bit (gsw is the reference here).

Millions of random samples over the oceanographic range (and beyond it: fresh water, Hill's
extension below SP 2, negative and abyssal pressures, the standard levels of the SAAR atlas
exactly), at random positions worldwide, in the Baltic, at the deployment positions of the OOI
samples and along the tracks of the OOI glider samples (moving platforms). Equality is checked
on the bits of the float64 values; NaN must be NaN on both sides.
"""

from __future__ import annotations

import json

import gsw
import netCDF4
import numpy as np
import pytest

from stream_engine.functions import ctd, teos10
from stream_engine.functions.teos10_kernels import SAAR_LEVELS
from tests.conftest import requires_ooi

N = 2_000_000


def assert_bits_equal(got: np.ndarray, want: np.ndarray) -> None:
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape
    same = (got.view(np.uint64) == want.view(np.uint64)) | (np.isnan(got) & np.isnan(want))
    bad = np.flatnonzero(~same)
    assert len(bad) == 0, f"{len(bad)} of {got.size} differ, e.g. {got.ravel()[bad[:3]]} vs {want.ravel()[bad[:3]]}"


@pytest.fixture(scope="module")
def samples() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(20261129)
    sp = rng.uniform(0.0, 42.0, N)
    sp[: N // 20] = rng.uniform(0.0, 2.5, N // 20)  # Hill et al. below SP 2
    t = rng.uniform(-2.5, 40.0, N)
    p = rng.uniform(-5.0, 8000.0, N)
    p[: len(SAAR_LEVELS)] = SAAR_LEVELS
    p[len(SAAR_LEVELS): 2 * len(SAAR_LEVELS)] = SAAR_LEVELS + 0.5
    return {"sp": sp, "t": t, "p": p}


def test_sp_from_c_equals_gsw(samples):
    s = samples
    c = gsw.C_from_SP(s["sp"], s["t"], s["p"])
    c[:1000] = -c[:1000]  # negative conductivity: gsw gives NaN
    c[1000:1010] = np.nan
    assert_bits_equal(teos10.sp_from_c(c, s["t"], s["p"]), gsw.SP_from_C(c, s["t"], s["p"]))
    # the Hill extension ran, and gave the same values too
    assert (gsw.SP_from_C(c, s["t"], s["p"]) < 2).sum() > 10_000


def test_ct_from_t_and_rho_equal_gsw(samples):
    s = samples
    sa = s["sp"] * (35.16504 / 35.0)
    ct = gsw.CT_from_t(sa, s["t"], s["p"])
    assert_bits_equal(teos10.ct_from_t(sa, s["t"], s["p"]), ct)
    assert_bits_equal(teos10.rho(sa, ct, s["p"]), gsw.rho(sa, ct, s["p"]))
    assert_bits_equal(teos10.rho(sa, ct, 0.0), gsw.rho(sa, ct, 0.0))


def _check_position(s: dict[str, np.ndarray], lon, lat, part: slice) -> None:
    sp, t, p = s["sp"][part], s["t"][part], s["p"][part]
    sa = gsw.SA_from_SP(sp, p, lon, lat)
    assert_bits_equal(teos10.sa_from_sp(sp, p, lon, lat), sa)
    assert_bits_equal(teos10.insitu_density(sp, t, p, lon, lat), gsw.rho(sa, gsw.CT_from_t(sa, t, p), p))


def test_absolute_salinity_and_density_at_random_positions(samples):
    rng = np.random.default_rng(7)
    # 400 positions x 5,000 records: every ocean basin, land (SAAR 0), beyond the atlas (lat > 90
    # or < -86: NaN), longitudes given in either convention
    for i in range(400):
        lon, lat = rng.uniform(-360.0, 360.0), rng.uniform(-89.0, 90.0)
        _check_position(samples, lon, lat, slice(i * 5000, (i + 1) * 5000))


def test_baltic_falls_back_to_gsw(samples):
    # gsw's own Baltic formula applies there; the kernels must not use the atlas
    assert teos10.saar_table(20.0, 58.0) is None
    _check_position(samples, 20.0, 58.0, slice(0, 200_000))
    _check_position(samples, 10.5, 54.5, slice(0, 200_000))


def test_moving_platform_and_changing_positions(samples):
    s = samples
    n = 100_000
    rng = np.random.default_rng(3)
    lon, lat = rng.uniform(-180, 180, n), rng.uniform(-80, 80, n)  # moves every record: gsw path
    sp, t, p = s["sp"][:n], s["t"][:n], s["p"][:n]
    sa = gsw.SA_from_SP(sp, p, lon, lat)
    assert_bits_equal(teos10.sa_from_sp(sp, p, lon, lat), sa)
    assert_bits_equal(teos10.insitu_density(sp, t, p, lon, lat), gsw.rho(sa, gsw.CT_from_t(sa, t, p), p))
    # a few deployments in one window (runs of one position each), one without a position
    runs = np.repeat(np.arange(5), n // 5)
    lon, lat = np.array([-124.3, -70.8, 20.0, 150.0, np.nan])[runs], np.array([44.6, 40.1, 58.0, -40.0, 1.0])[runs]
    sa = gsw.SA_from_SP(sp, p, lon, lat)
    assert_bits_equal(teos10.sa_from_sp(sp, p, lon, lat), sa)
    assert_bits_equal(teos10.insitu_density(sp, t, p, lon, lat), gsw.rho(sa, gsw.CT_from_t(sa, t, p), p))


def _sample_positions(samples_dir) -> list[tuple[float, float]]:
    found = set()
    for path in sorted(samples_dir.glob("*_events.json")):
        for event in json.loads(path.read_text()):
            where = event.get("location") or {}
            if where.get("latitude") is not None and where.get("longitude") is not None:
                found.add((float(where["longitude"]), float(where["latitude"])))
    return sorted(found)


@requires_ooi
def test_ooi_sample_positions(samples, samples_dir):
    positions = _sample_positions(samples_dir)
    assert len(positions) >= 10
    for i, (lon, lat) in enumerate(positions):
        _check_position(samples, lon, lat, slice(i * 20_000, (i + 1) * 20_000))


@requires_ooi
def test_ooi_glider_track(samples, samples_dir):
    """A moving platform: the positions of an OOI glider sample, record by record."""
    path = next(samples_dir.glob("*CP05MOAS-GL388-00-ENG000000*glider_gps_position.nc"))
    with netCDF4.Dataset(path) as nc:
        lat = np.ma.filled(nc.variables["interp_lat"][:].astype(np.float64), np.nan)
        lon = np.ma.filled(nc.variables["interp_lon"][:].astype(np.float64), np.nan)
        p = np.ma.filled(nc.variables["sci_water_pressure_dbar"][:].astype(np.float64), np.nan)
    # 2,949 records at 21 GPS fixes: runs of one position, each looked up once
    assert np.isfinite(lat).sum() > 100 and len(np.unique(lat[np.isfinite(lat)])) > 10
    n = len(lat)
    sp, t = samples["sp"][:n], samples["t"][:n]
    sa = gsw.SA_from_SP(sp, p, lon, lat)
    assert_bits_equal(teos10.sa_from_sp(sp, p, lon, lat), sa)
    assert_bits_equal(teos10.insitu_density(sp, t, p, lon, lat), gsw.rho(sa, gsw.CT_from_t(sa, t, p), p))
    # the same records at the glider's first fixed position (one table)
    first = np.flatnonzero(np.isfinite(lat))[0]
    _check_position({"sp": sp, "t": t, "p": p}, lon[first], lat[first], slice(0, n))


def test_ctd_products_use_the_kernels_with_gsw_values(samples):
    """The registered CTD algorithms give gsw's values (float32 products therefore too)."""
    s = samples
    n = 300_000
    sp, t, p = s["sp"][:n], s["t"][:n], s["p"][:n]
    c = gsw.C_from_SP(sp, t, p) / 10.0  # S m-1, as CONDWAT is
    want_sp = gsw.SP_from_C(c * 10.0, t, p)
    assert_bits_equal(ctd.ctd_pracsal(c, t, p), want_sp)
    sa = gsw.SA_from_SP(sp, p, -124.3, 44.6)
    want = gsw.rho(sa, gsw.CT_from_t(sa, t, p), p)
    assert_bits_equal(ctd.ctd_density(sp, t, p, 44.6, -124.3), want)
    # float32 inputs as the engine passes computed L1 products, 0-d coefficients
    t32, p32, sp32 = t.astype(np.float32), p.astype(np.float32), sp.astype(np.float32)
    want32 = gsw.rho(gsw.SA_from_SP(sp32.astype(np.float64), p32, -124.3, 44.6),
                     gsw.CT_from_t(gsw.SA_from_SP(sp32.astype(np.float64), p32, -124.3, 44.6), t32, p32), p32)
    assert_bits_equal(ctd.ctd_density(sp32, t32, p32, np.float64(44.6), np.float64(-124.3)), want32)


def test_float32_products_go_to_the_kernels_unconverted_with_gsw_values(samples):
    """float32 L1/L2 inputs (as the engine keeps products) take the float32 versions of the
    loops, which convert each value exactly: still gsw's values, over all the samples."""
    s = samples
    t32, p32, sp32 = (s[k].astype(np.float32) for k in ("t", "p", "sp"))
    c32 = (gsw.C_from_SP(s["sp"], s["t"], s["p"]) / 10.0).astype(np.float32)  # CONDWAT, S m-1
    c32[:1000] = -c32[:1000]
    c32[1000:1010] = np.nan
    for values in (c32, t32, p32, sp32):
        values.flags.writeable = False  # the engine's arrays are read-only
    t64, p64 = t32.astype(np.float64), p32.astype(np.float64)
    want_sp = gsw.SP_from_C(c32.astype(np.float64) * 10.0, t64, p64)
    assert (want_sp < 2).sum() > 10_000  # the Hill extension is exercised
    assert_bits_equal(ctd.ctd_pracsal(c32, t32, p32), want_sp)
    sa = gsw.SA_from_SP(sp32.astype(np.float64), p64, -124.3, 44.6)
    assert_bits_equal(teos10.sa_from_sp(sp32, p32, -124.3, 44.6), sa)
    want = gsw.rho(sa, gsw.CT_from_t(sa, t64, p64), p64)
    assert_bits_equal(ctd.ctd_density(sp32, t32, p32, np.float64(44.6), np.float64(-124.3)), want)
    # one float32 input among float64 ones: every input becomes float64, same values
    assert_bits_equal(ctd.ctd_density(sp32, t64, p64, 44.6, -124.3), want)


def test_shapes_and_scalars():
    assert teos10.sp_from_c(42.914, 15.0, 0.0).shape == ()
    assert float(teos10.sp_from_c(42.914, 15.0, 0.0)) == float(gsw.SP_from_C(42.914, 15.0, 0.0))
    grid = np.full((3, 4), 35.0)
    assert_bits_equal(teos10.sa_from_sp(grid, 1000.0, -124.3, 44.6), gsw.SA_from_SP(grid, 1000.0, -124.3, 44.6))
    assert teos10.insitu_density(np.array([]), np.array([]), np.array([]), -124.3, 44.6).shape == (0,)


def test_prepare_kernels_compiles_every_loop_before_requests():
    from stream_engine.engine.kernels import prepare_kernels

    prepare_kernels()
    for loop in teos10.LOOPS:
        assert loop.signatures, loop
    # inputs as the engine passes them (read-only, float32, 0-d, strided) compile nothing new
    compiled = {loop: len(loop.signatures) for loop in teos10.LOOPS}
    values = np.linspace(30.0, 35.0, 100).astype(np.float32)
    values.flags.writeable = False
    ctd.ctd_density(values, values[::-1], np.arange(200.0)[::2], np.float64(44.6), -124.3)
    ctd.ctd_pracsal(values / 10, values, values)
    ctd.ctd_density(values, values, values, np.float64(44.6), np.float64(-124.3))  # all float32
    ctd.ctd_pracsal(values, values, values)
    ctd.ctd_density(values.copy(), values.copy(), values.copy(), 44.6, -124.3)  # writable float32
    assert {loop: len(loop.signatures) for loop in compiled} == compiled
    assert not any(loop._can_compile for loop in teos10.LOOPS)  # nothing compiles in a request
