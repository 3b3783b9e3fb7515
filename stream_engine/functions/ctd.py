"""CTD data products: water temperature, conductivity, pressure (L1); salinity, density (L2).

Formulas from the OOI Data Product Specifications TEMPWAT (DCN 1341-00010), PRESWAT (1341-00020),
CONDWAT (1341-00030), PRACSAL (1341-00040), DENSITY (1341-00050) and the coastal glider DPS
(1341-20001), and the Sea-Bird SBE 16plus V2 / SBE 37-IM / SBE 52-MP calibration equations as
ion-functions implements them. TEOS-10 quantities come from ``gsw``.
"""

from __future__ import annotations

import gsw
import numpy as np

from stream_engine.functions.arrays import as_float, as_floats
from stream_engine.functions.registry import algorithm

OWNER = "ion_functions.data.ctd_functions"

PSI_TO_DBAR = 0.689475729
ATMOSPHERE_DBAR = 10.1325  # standard atmosphere, removed to give sea pressure


def _steinhart_hart(log_r: np.ndarray, a0, a1, a2, a3) -> np.ndarray:
    return 1.0 / (a0 + a1 * log_r + a2 * log_r**2 + a3 * log_r**3) - 273.15


def _strain_gauge_psi(p0, t, ptca0, ptca1, ptca2, ptcb0, ptcb1, ptcb2, pa0, pa1, pa2):
    x = p0 - ptca0 - ptca1 * t - ptca2 * t**2
    n = x * ptcb0 / (ptcb0 + ptcb1 * t + ptcb2 * t**2)
    return pa0 + pa1 * n + pa2 * n**2


def _sbe_conductivity(f_khz, t1, p1, g, h, i, j, cpcor, ctcor):
    return (g + h * f_khz**2 + i * f_khz**3 + j * f_khz**4) / (1.0 + ctcor * t1 + cpcor * p1)


# -- temperature (TEMPWAT_L1, deg_C) ---------------------------------------------------------


@algorithm(OWNER, "ctd_sbe16plus_tempwat", version="1.0")
def ctd_sbe16plus_tempwat(t0, a0, a1, a2, a3) -> np.ndarray:
    """TEMPWAT_L1 [deg_C] from SBE 16plus V2 raw temperature counts (CTDBP, CTDPF-A/B).

    Counts become thermistor volts, then resistance, then temperature by the Steinhart-Hart
    polynomial in ln(R) with calibration coefficients ``a0``..``a3``.
    """
    t0, a0, a1, a2, a3 = as_floats(t0, a0, a1, a2, a3)
    mv = (t0 - 524288.0) / 1.6e7
    r = (mv * 2.9e9 + 1.024e8) / (2.048e4 - mv * 2.0e5)
    return _steinhart_hart(np.log(r), a0, a1, a2, a3)


@algorithm(OWNER, "ctd_sbe37im_tempwat_instrument_recovered", version="1.0")
def ctd_sbe37im_tempwat_instrument_recovered(t0, a0, a1, a2, a3) -> np.ndarray:
    """TEMPWAT_L1 [deg_C] from SBE 37-IM counts recovered from the instrument (CTDMO)."""
    t0, a0, a1, a2, a3 = as_floats(t0, a0, a1, a2, a3)
    return _steinhart_hart(np.log(t0), a0, a1, a2, a3)


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
    vals = as_floats(p0, t0, ptempa0, ptempa1, ptempa2, ptca0, ptca1, ptca2, ptcb0, ptcb1, ptcb2,
                     pa0, pa1, pa2, offset)
    p0, t0, ptempa0, ptempa1, ptempa2, *cal, offset = vals
    tv = t0 / 13107.0
    t = ptempa0 + ptempa1 * tv + ptempa2 * tv**2
    p_psi = _strain_gauge_psi(p0, t, *cal)
    return p_psi * PSI_TO_DBAR - ATMOSPHERE_DBAR + offset


@algorithm(OWNER, "ctd_sbe37im_preswat_instrument_recovered", version="1.0")
def ctd_sbe37im_preswat_instrument_recovered(
    p0, pt0, ptempa0, ptempa1, ptempa2, ptca0, ptca1, ptca2, ptcb0, ptcb1, ptcb2, pa0, pa1, pa2
) -> np.ndarray:
    """PRESWAT_L1 [dbar] from SBE 37-IM strain-gauge counts recovered from the instrument."""
    vals = as_floats(p0, pt0, ptempa0, ptempa1, ptempa2, ptca0, ptca1, ptca2, ptcb0, ptcb1, ptcb2,
                     pa0, pa1, pa2)
    p0, pt0, ptempa0, ptempa1, ptempa2, *cal = vals
    t = ptempa0 + ptempa1 * pt0 + ptempa2 * pt0**2
    return _strain_gauge_psi(p0, t, *cal) * PSI_TO_DBAR - ATMOSPHERE_DBAR


@algorithm(OWNER, "ctd_sbe16digi_preswat", version="1.0")
def ctd_sbe16digi_preswat(p0, t0, C1, C2, C3, D1, D2, T1, T2, T3, T4, T5) -> np.ndarray:
    """PRESWAT_L1 [dbar] from an SBE 16plus V2 Digiquartz sensor (CTDBP-N/O).

    ``p0`` is the pressure frequency in counts (256 per Hz), ``t0`` the sensor thermistor in
    counts (13107 per volt); ``C``, ``D`` and ``T`` are the Digiquartz calibration coefficients.
    """
    p0, t0, C1, C2, C3, D1, D2, T1, T2, T3, T4, T5 = as_floats(
        p0, t0, C1, C2, C3, D1, D2, T1, T2, T3, T4, T5)
    pf = p0 / 256.0
    u = 23.7 * (t0 / 13107.0 + 9.7917) - 273.15
    c = C1 + C2 * u + C3 * u**2
    d = D1 + D2 * u
    tau0 = T1 + T2 * u + T3 * u**2 + T4 * u**3 + T5 * u**4
    period_us = 1.0e6 / pf
    ratio = 1.0 - tau0**2 / period_us**2
    p_psi = c * ratio * (1.0 - d * ratio)
    return p_psi * PSI_TO_DBAR - ATMOSPHERE_DBAR


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
    c0, t1, p1, g, h, i, j, cpcor, ctcor = as_floats(c0, t1, p1, g, h, i, j, cpcor, ctcor)
    f_khz = c0 / 256.0 / 1000.0
    return _sbe_conductivity(f_khz, t1, p1, g, h, i, j, cpcor, ctcor)


@algorithm(OWNER, "ctd_sbe37im_condwat_instrument_recovered", version="1.0")
def ctd_sbe37im_condwat_instrument_recovered(
    c0, t1, p1, g, h, i, j, cpcor, ctcor, wbotc
) -> np.ndarray:
    """CONDWAT_L1 [S m-1] from SBE 37-IM counts recovered from the instrument.

    As the SBE 16plus equation, with the frequency corrected for the cell's thermal expansion
    (``wbotc``).
    """
    c0, t1, p1, g, h, i, j, cpcor, ctcor, wbotc = as_floats(
        c0, t1, p1, g, h, i, j, cpcor, ctcor, wbotc)
    f_khz = c0 / 256.0 / 1000.0 * np.sqrt(1.0 + wbotc * t1)
    return _sbe_conductivity(f_khz, t1, p1, g, h, i, j, cpcor, ctcor)


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
    c, t, p = as_floats(c, t, p)
    return np.asarray(gsw.SP_from_C(c * 10.0, t, p), dtype=np.float64)


@algorithm(OWNER, "ctd_density", version="1.0")
def ctd_density(SP, t, p, lat, lon) -> np.ndarray:
    """DENSITY_L2 [kg m-3]: TEOS-10 in-situ density rho(SA, CT, p).

    Absolute salinity from practical salinity at the position (``lat``, ``lon`` in degrees),
    conservative temperature from in-situ temperature.
    """
    SP, t, p, lat, lon = as_floats(SP, t, p, lat, lon)
    sa = gsw.SA_from_SP(SP, p, lon, lat)
    ct = gsw.CT_from_t(sa, t, p)
    return np.asarray(gsw.rho(sa, ct, p), dtype=np.float64)
