"""CTD data products: water temperature, conductivity, pressure (L1); salinity, density (L2).

Formulas from the OOI Data Product Specifications TEMPWAT (DCN 1341-00010), PRESWAT (1341-00020),
CONDWAT (1341-00030), PRACSAL (1341-00040), DENSITY (1341-00050) and the coastal glider DPS
(1341-20001), and the Sea-Bird SBE 16plus V2 / SBE 37-IM / SBE 52-MP calibration equations as
ion-functions implements them. TEOS-10 quantities are gsw's, computed by compiled kernels.

Speed: a cold DAP request is compute-bound here (``benchmarks/functions.py``). The calibration
polynomials are evaluated in Horner form with in-place float64 numpy operations in two to four
preallocated buffers per call, raw counts converted inside the first ufunc that reads them (no
converted copy, no ``np.power``). Reassociating into Horner form moves float64 results by a few
ulps (relative <= 4e-14), far below the DPS test tolerances; the float32 products of 1M benchmark
records came out bit-identical to the previous formulas.

numexpr was measured (``benchmarks/functions.py --numexpr``) and is not used. Its ``log`` is
slower than numpy's SIMD one and its per-call cost shows at a 65,536-record window: one thread
ran the temperature formula at 26M records/s against 90M for the in-place numpy. Its own threads
only paid off for one big call on idle cores (pressure on 1M records: 74M with 2 threads against
53M), and under the DAP layer, which already computes windows on ``DAP_COMPUTE_THREADS`` threads,
they oversubscribed the 2 cores (pressure in DAP windows: 54M with 2 numexpr threads, 88M with 1,
105M for numpy). Choosing numexpr by array size is not an option either: a record's value must
not depend on the window it was computed in (the DAP layer's windows are checked bit-exact
against the engine's whole-range answers). So this module leaves numexpr's process-wide thread
setting alone. The TEOS-10 functions are :mod:`stream_engine.functions.teos10`'s compiled kernels,
bit-identical to gsw's (gsw stays the reference of the tests and the fallback), with Absolute
Salinity looked up once per deployment position instead of once per record.
"""

from __future__ import annotations

import numpy as np

from stream_engine.functions import sbe_kernels, teos10
from stream_engine.functions.arrays import FLOAT, as_float, as_floats, as_operand, horner, scratch
from stream_engine.functions.registry import algorithm

OWNER = "ion_functions.data.ctd_functions"

PSI_TO_DBAR = 0.689475729
ATMOSPHERE_DBAR = 10.1325  # standard atmosphere, removed to give sea pressure


def _compiled_records(counts: tuple[np.ndarray, ...], values: tuple[np.ndarray, ...] = ()) -> int | None:
    """How many records, when the compiled loops of :mod:`~stream_engine.functions.sbe_kernels`
    take these inputs as they are: flat contiguous arrays of one length, the counts of one of
    its :data:`~stream_engine.functions.sbe_kernels.COUNT_TYPES`, the values of one of its
    :data:`~stream_engine.functions.sbe_kernels.VALUE_TYPES`; ``None`` otherwise (numpy computes)."""
    arrays = (*counts, *values)
    if not all(type(a) is np.ndarray and a.ndim == 1 and a.flags.c_contiguous for a in arrays):
        return None
    n = len(arrays[0])
    if any(len(a) != n for a in arrays):
        return None
    if counts[0].dtype not in sbe_kernels.COUNT_TYPES or any(c.dtype != counts[0].dtype for c in counts):
        return None
    if values and (values[0].dtype not in sbe_kernels.VALUE_TYPES or any(v.dtype != values[0].dtype for v in values)):
        return None
    return n


def _scalars(coefficients: tuple[np.ndarray, ...]) -> tuple[float, ...] | None:
    """The coefficients as floats when each is one value (else ``None``: tiled per record)."""
    if all(c.ndim == 0 for c in coefficients):
        return tuple(float(c) for c in coefficients)
    return None


def _steinhart_hart(log_r: np.ndarray, a0, a1, a2, a3, out: np.ndarray) -> np.ndarray:
    """``1 / (a0 + a1 L + a2 L^2 + a3 L^3) - 273.15`` into ``out`` (not ``log_r``)."""
    horner(log_r, (a0, a1, a2, a3), out)
    np.divide(1.0, out, out=out)
    out -= 273.15
    return out


def _strain_gauge_psi(p0, t, ptca0, ptca1, ptca2, ptcb0, ptcb1, ptcb2, pa0, pa1, pa2,
                      x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Sea-Bird strain-gauge pressure [psia] into ``t``'s buffer; ``x``, ``w`` are scratch.

    ``x = p0 - ptca0 - t (ptca1 + ptca2 t)``, ``n = x ptcb0 / (ptcb0 + ptcb1 t + ptcb2 t^2)``,
    ``psi = pa0 + pa1 n + pa2 n^2``.
    """
    np.subtract(p0, ptca0, out=x, dtype=FLOAT)
    np.multiply(t, ptca2, out=w)
    w += ptca1
    w *= t
    x -= w
    horner(t, (ptcb0, ptcb1, ptcb2), w)
    x *= ptcb0
    x /= w
    return horner(x, (pa0, pa1, pa2), t)


def _sbe_conductivity(f_khz: np.ndarray, t1, p1, g, h, i, j, cpcor, ctcor) -> np.ndarray:
    """``(g + h f^2 + i f^3 + j f^4) / (1 + ctcor t1 + cpcor p1)``, ``f_khz`` used as scratch."""
    num, den = scratch(f_khz, t1, p1, g, h, i, j, cpcor, ctcor, count=2)
    horner(f_khz, (h, i, j), num)
    num *= f_khz
    num *= f_khz
    num += g
    np.multiply(t1, ctcor, out=den, dtype=FLOAT)
    den += 1.0
    np.multiply(p1, cpcor, out=f_khz, dtype=FLOAT)
    den += f_khz
    num /= den
    return num


# -- temperature (TEMPWAT_L1, deg_C) ---------------------------------------------------------


@algorithm(OWNER, "ctd_sbe16plus_tempwat", version="1.0")
def ctd_sbe16plus_tempwat(t0, a0, a1, a2, a3) -> np.ndarray:
    """TEMPWAT_L1 [deg_C] from SBE 16plus V2 raw temperature counts (CTDBP, CTDPF-A/B).

    Counts become thermistor volts, then resistance, then temperature by the Steinhart-Hart
    polynomial in ln(R) with calibration coefficients ``a0``..``a3``.
    """
    t0 = as_operand(t0)
    a0, a1, a2, a3 = as_floats(a0, a1, a2, a3)
    n, cal = _compiled_records((t0,)), _scalars((a0, a1, a2, a3))
    if n is not None and cal is not None:
        out = np.empty(n, dtype=FLOAT)
        sbe_kernels.thermistor_resistance(t0, out)
        sbe_kernels.steinhart_hart_loop(np.log(out, out=out), *cal, out)
        return out
    mv, den = scratch(t0, a0, a1, a2, a3, count=2)
    np.subtract(t0, 524288.0, out=mv, dtype=FLOAT)
    mv /= 1.6e7
    np.multiply(mv, 2.0e5, out=den)
    np.subtract(2.048e4, den, out=den)
    mv *= 2.9e9
    mv += 1.024e8
    mv /= den
    return _steinhart_hart(np.log(mv, out=mv), a0, a1, a2, a3, out=den)


@algorithm(OWNER, "ctd_sbe37im_tempwat_instrument_recovered", version="1.0")
def ctd_sbe37im_tempwat_instrument_recovered(t0, a0, a1, a2, a3) -> np.ndarray:
    """TEMPWAT_L1 [deg_C] from SBE 37-IM counts recovered from the instrument (CTDMO)."""
    t0 = as_operand(t0)
    a0, a1, a2, a3 = as_floats(a0, a1, a2, a3)
    n, cal = _compiled_records((t0,)), _scalars((a0, a1, a2, a3))
    if n is not None and cal is not None:
        log_r = np.log(t0, dtype=FLOAT)
        sbe_kernels.steinhart_hart_loop(log_r, *cal, log_r)
        return log_r
    log_r, out = scratch(t0, a0, a1, a2, a3, count=2)
    np.log(t0, out=log_r, dtype=FLOAT)
    return _steinhart_hart(log_r, a0, a1, a2, a3, out=out)


@algorithm(OWNER, "ctd_sbe37im_tempwat", version="1.0")
def ctd_sbe37im_tempwat(t0) -> np.ndarray:
    """TEMPWAT_L1 [deg_C] from SBE 37-IM telemetered counts: t0 / 10000 - 10."""
    return as_float(t0) / 10000.0 - 10.0


@algorithm(OWNER, "ctd_sbe52mp_tempwat", version="1.0")
def ctd_sbe52mp_tempwat(t0) -> np.ndarray:
    """TEMPWAT_L1 [deg_C] from SBE 52-MP counts (CTDPF-C/K/L): t0 / 10000 - 5."""
    return as_float(t0) / 10000.0 - 5.0


# -- pressure (PRESWAT_L1, dbar) ----------------------------------------------------------------


@algorithm(OWNER, "ctd_sbe16plus_preswat", version="1.0")
def ctd_sbe16plus_preswat(
    p0, t0, ptempa0, ptempa1, ptempa2, ptca0, ptca1, ptca2, ptcb0, ptcb1, ptcb2, pa0, pa1, pa2,
    *, offset=0.0,
) -> np.ndarray:
    """PRESWAT_L1 [dbar] from an SBE 16plus V2 strain-gauge sensor (CTDBP, CTDPF-A/B).

    ``t0`` is the pressure-sensor thermistor in counts (13107 counts per volt); ``offset`` is an
    optional correction for the Druck sensor [dbar].
    """
    p0, t0 = as_operand(p0), as_operand(t0)
    coefs = as_floats(ptempa0, ptempa1, ptempa2, ptca0, ptca1, ptca2, ptcb0, ptcb1, ptcb2,
                      pa0, pa1, pa2, offset)
    *cal, offset = coefs
    n, scalars = _compiled_records((p0, t0)), _scalars(coefs)
    if n is not None and scalars is not None:
        out = np.empty(n, dtype=FLOAT)
        sbe_kernels.strain_gauge_loop(p0, t0, True, *scalars, out)
        return out
    tv, t, x = scratch(p0, t0, *coefs, count=3)
    np.divide(t0, 13107.0, out=tv, dtype=FLOAT)
    horner(tv, tuple(cal[:3]), t)
    p = _strain_gauge_psi(p0, t, *cal[3:], x=x, w=tv)
    p *= PSI_TO_DBAR
    p -= ATMOSPHERE_DBAR
    p += offset
    return p


@algorithm(OWNER, "ctd_sbe37im_preswat_instrument_recovered", version="1.0")
def ctd_sbe37im_preswat_instrument_recovered(
    p0, pt0, ptempa0, ptempa1, ptempa2, ptca0, ptca1, ptca2, ptcb0, ptcb1, ptcb2, pa0, pa1, pa2
) -> np.ndarray:
    """PRESWAT_L1 [dbar] from SBE 37-IM strain-gauge counts recovered from the instrument."""
    p0, pt0 = as_operand(p0), as_operand(pt0)
    cal = as_floats(ptempa0, ptempa1, ptempa2, ptca0, ptca1, ptca2, ptcb0, ptcb1, ptcb2,
                    pa0, pa1, pa2)
    n, scalars = _compiled_records((p0, pt0)), _scalars(cal)
    if n is not None and scalars is not None:
        out = np.empty(n, dtype=FLOAT)
        sbe_kernels.strain_gauge_loop(p0, pt0, False, *scalars, 0.0, out)
        return out
    t, x, w = scratch(p0, pt0, *cal, count=3)
    horner(pt0, cal[:3], t)
    p = _strain_gauge_psi(p0, t, *cal[3:], x=x, w=w)
    p *= PSI_TO_DBAR
    p -= ATMOSPHERE_DBAR
    return p


@algorithm(OWNER, "ctd_sbe16digi_preswat", version="1.0")
def ctd_sbe16digi_preswat(p0, t0, C1, C2, C3, D1, D2, T1, T2, T3, T4, T5) -> np.ndarray:
    """PRESWAT_L1 [dbar] from an SBE 16plus V2 Digiquartz sensor (CTDBP-N/O).

    ``p0`` is the pressure frequency in counts (256 per Hz), ``t0`` the sensor thermistor in
    counts (13107 per volt); ``C``, ``D`` and ``T`` are the Digiquartz calibration coefficients.
    """
    p0, t0 = as_operand(p0), as_operand(t0)
    C1, C2, C3, D1, D2, T1, T2, T3, T4, T5 = cal = as_floats(C1, C2, C3, D1, D2, T1, T2, T3, T4, T5)
    u, ratio, period, c = scratch(p0, t0, *cal, count=4)
    np.divide(t0, 13107.0, out=u, dtype=FLOAT)
    u += 9.7917
    u *= 23.7
    u -= 273.15
    horner(u, (T1, T2, T3, T4, T5), ratio)
    ratio *= ratio
    np.divide(p0, 256.0, out=period, dtype=FLOAT)
    np.divide(1.0e6, period, out=period)
    period *= period
    ratio /= period
    np.subtract(1.0, ratio, out=ratio)
    horner(u, (D1, D2), period)
    period *= ratio
    np.subtract(1.0, period, out=period)
    horner(u, (C1, C2, C3), c)
    c *= ratio
    c *= period
    c *= PSI_TO_DBAR
    c -= ATMOSPHERE_DBAR
    return c


@algorithm(OWNER, "ctd_sbe37im_preswat", version="1.0")
def ctd_sbe37im_preswat(p0, p_range_psia) -> np.ndarray:
    """PRESWAT_L1 [dbar] from SBE 37-IM telemetered counts and the sensor range [psia]."""
    p0, p_range_psia = as_floats(p0, p_range_psia)
    p_range_dbar = (p_range_psia - 14.7) * 0.6894757
    return p0 * p_range_dbar / (0.85 * 65536.0) - 0.05 * p_range_dbar


@algorithm(OWNER, "ctd_sbe52mp_preswat", version="1.0")
def ctd_sbe52mp_preswat(p0) -> np.ndarray:
    """PRESWAT_L1 [dbar] from SBE 52-MP counts: p0 / 100 - 10."""
    return as_float(p0) / 100.0 - 10.0


@algorithm(OWNER, "ctd_glider_preswat", version="1.0")
def ctd_glider_preswat(pr_bar) -> np.ndarray:
    """PRESWAT_L1 [dbar] from glider CTD pressure [bar]: pr_bar * 10.

    Glider pressure is stored as float32; the product stays float32, multiplied in float32
    exactly as the published OOI product (bit-exact). Other inputs give float64.
    """
    x = np.ma.filled(pr_bar, np.nan) if isinstance(pr_bar, np.ma.MaskedArray) else pr_bar
    x = np.asarray(x)
    if x.dtype == np.float32:
        return x * np.float32(10.0)
    return as_float(x) * 10.0


# -- conductivity (CONDWAT_L1, S m-1) -----------------------------------------------------------


@algorithm(OWNER, "ctd_sbe16plus_condwat", version="1.0")
def ctd_sbe16plus_condwat(c0, t1, p1, g, h, i, j, cpcor, ctcor) -> np.ndarray:
    """CONDWAT_L1 [S m-1] from SBE 16plus V2 frequency counts (256 per Hz).

    ``t1`` is TEMPWAT_L1 [deg_C] and ``p1`` PRESWAT_L1 [dbar] for the thermal and pressure
    corrections of the cell.
    """
    c0, t1, p1 = as_operand(c0), as_operand(t1), as_operand(p1)
    cal = g, h, i, j, cpcor, ctcor = as_floats(g, h, i, j, cpcor, ctcor)
    n, scalars = _compiled_records((c0,), (t1, p1)), _scalars(cal)
    if n is not None and scalars is not None:
        out = np.empty(n, dtype=FLOAT)
        sbe_kernels.conductivity_loop(c0, t1, p1, *scalars, 0.0, False, out)
        return out
    (f_khz,) = scratch(c0, t1, p1, *cal)
    np.divide(c0, 256.0 * 1000.0, out=f_khz, dtype=FLOAT)  # c0 / 256 is exact: same rounding
    return _sbe_conductivity(f_khz, t1, p1, *cal)


@algorithm(OWNER, "ctd_sbe37im_condwat_instrument_recovered", version="1.0")
def ctd_sbe37im_condwat_instrument_recovered(
    c0, t1, p1, g, h, i, j, cpcor, ctcor, wbotc
) -> np.ndarray:
    """CONDWAT_L1 [S m-1] from SBE 37-IM counts recovered from the instrument.

    As the SBE 16plus equation, with the frequency corrected for the cell's thermal expansion
    (``wbotc``).
    """
    c0, t1, p1 = as_operand(c0), as_operand(t1), as_operand(p1)
    cal = g, h, i, j, cpcor, ctcor = as_floats(g, h, i, j, cpcor, ctcor)
    wbotc = as_float(wbotc)
    n, scalars = _compiled_records((c0,), (t1, p1)), _scalars((*cal, wbotc))
    if n is not None and scalars is not None:
        out = np.empty(n, dtype=FLOAT)
        sbe_kernels.conductivity_loop(c0, t1, p1, *scalars, True, out)
        return out
    f_khz, expansion = scratch(c0, t1, p1, wbotc, *cal, count=2)
    np.divide(c0, 256.0 * 1000.0, out=f_khz, dtype=FLOAT)
    np.multiply(t1, wbotc, out=expansion, dtype=FLOAT)
    expansion += 1.0
    f_khz *= np.sqrt(expansion, out=expansion)
    return _sbe_conductivity(f_khz, t1, p1, *cal)


@algorithm(OWNER, "ctd_sbe37im_condwat", version="1.0")
def ctd_sbe37im_condwat(c0) -> np.ndarray:
    """CONDWAT_L1 [S m-1] from SBE 37-IM telemetered counts: c0 / 100000 - 0.5."""
    return as_float(c0) / 100000.0 - 0.5


@algorithm(OWNER, "ctd_sbe52mp_condwat", version="1.0")
def ctd_sbe52mp_condwat(c0) -> np.ndarray:
    """CONDWAT_L1 [S m-1] from SBE 52-MP counts: (c0 / 10000 - 0.5) mS/cm, times 0.1."""
    return (as_float(c0) / 10000.0 - 0.5) * 0.1


# -- TEOS-10 products (L2) -----------------------------------------------------------------------


@algorithm(OWNER, "ctd_pracsal", version="1.0")
def ctd_pracsal(c, t, p) -> np.ndarray:
    """PRACSAL_L2: practical salinity (PSS-78) from conductivity [S m-1], temperature, pressure.

    Parameters
    ----------
    c : CONDWAT_L1 [S m-1]
    t : TEMPWAT_L1 [deg_C]
    p : PRESWAT_L1 [dbar]
    """
    c = as_operand(c)
    scratch(c, t, p, count=0)  # the shapes must broadcast (a clear message if not)
    return teos10.sp_from_c(c, t, p, c_scale=10.0)  # mS cm-1, multiplied in float64


@algorithm(OWNER, "ctd_density", version="1.0")
def ctd_density(SP, t, p, lat, lon) -> np.ndarray:
    """DENSITY_L2 [kg m-3]: TEOS-10 in-situ density rho(SA, CT, p).

    Absolute salinity from practical salinity at the position (``lat``, ``lon`` in degrees),
    conservative temperature from in-situ temperature.
    """
    return teos10.insitu_density(SP, t, p, lon, lat)
