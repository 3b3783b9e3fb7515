"""COARE 3.5 for one record in plain Python floats: the warm layer's inner step, made fast.

The warm layer (:func:`stream_engine.functions.coare.warm_layer`) runs the bulk algorithm once per
record, sequentially (each record needs the previous one's warming). On one-element numpy arrays
that costs about 5 ms a record; the same formulas on Python floats cost about 50 us. This module
is :func:`stream_engine.functions.coare.coare35` written for one record, with numpy's rules where
Python's differ (NaN through ``min``/``max``, NaN instead of an exception for logarithms, roots and
powers of negative numbers). Anything it cannot evaluate (a division by zero, an overflow) raises
:class:`ArithmeticError`, and the caller falls back to the array version for that record.
``tests/functions/test_coare_point.py`` checks both agree.
"""

from __future__ import annotations

import math

from stream_engine.functions.coare import BETA, C2K, CPA, CPW, ITERATIONS, RGAS, RHOW, VON

NAN = float("nan")
_SQRT3 = math.sqrt(3)
_PI_OVER_SQRT3 = 4.0 * math.atan(1) / _SQRT3


def _minimum(a: float, b: float) -> float:
    return NAN if a != a or b != b else min(a, b)


def _maximum(a: float, b: float) -> float:
    return NAN if a != a or b != b else max(a, b)


def _log(x: float) -> float:
    if x > 0:
        return math.log(x)
    return -math.inf if x == 0 else NAN


def _sqrt(x: float) -> float:
    return math.sqrt(x) if x >= 0 else NAN


def _pow(x: float, y: float) -> float:
    return x ** y if x >= 0 else NAN


def _spechum(t: float, p: float, relhum: float) -> float:
    es = 6.1121 * math.exp(17.502 * t / (t + 240.97)) * (1.0007 + 3.46e-6 * p)
    em = 0.01 * relhum * es
    return 621.97 * em / (p - 0.378 * em)


def _sea_spechum(t: float, p: float) -> float:
    es = 0.98 * (6.1121 * math.exp(17.502 * t / (t + 240.97)) * (1.0007 + 3.46e-6 * p))
    return 621.97 * es / (p - 0.378 * es)


def _psi_convective(zet: float, coefficient: float) -> float:
    x = _pow(1.0 - coefficient * zet, 0.3333)
    return 1.5 * _log((1.0 + x + x * x) / 3.0) - _SQRT3 * math.atan((1.0 + 2.0 * x) / _SQRT3) + _PI_OVER_SQRT3


def _psit(zet: float) -> float:
    if zet < 0.0:
        x = _sqrt(1.0 - 16.0 * zet)
        psik = 2.0 * _log((1.0 + x) / 2.0)
        f = zet * zet / (1.0 + zet * zet)
        return (1.0 - f) * psik + f * _psi_convective(zet, 34.15)
    dzet = _minimum(50.0, 0.35 * zet)
    return -(_pow(1.0 + 0.6667 * abs(zet), 1.5) + 0.6667 * (zet - 14.28) * math.exp(-dzet) + 8.525)


def _psiu(zet: float) -> float:
    if zet < 0.0:
        x = _pow(1.0 - 16.0 * zet, 0.25)
        psik = (2.0 * _log((1.0 + x) / 2.0) + _log((1.0 + x * x) / 2.0) - 2.0 * math.atan(x)
                + 2.0 * math.atan(1))
        f = zet * zet / (1.0 + zet * zet)
        return (1.0 - f) * psik + f * _psi_convective(zet, 10.15)
    dzet = _minimum(50.0, 0.35 * zet)
    return -(0.7 * zet + 0.75 * (zet - 5.0 / 0.35) * math.exp(-dzet) + 0.75 * 5.0 / 0.35)


def _charnock(u10n: float) -> float:
    return 0.0017 * 19.0 - 0.0050 if u10n > 19.0 else 0.0017 * u10n - 0.0050


def _scaling(dter, dqer, zu, zq, zt, zou, zoq, zot, L, ut, dq, dt):  # type: ignore[no-untyped-def]
    cd = VON / (_log(zu / zou) - _psiu(zu / L))
    cq = VON / (_log(zq / zoq) - _psit(zq / L))
    ct = VON / (_log(zt / zot) - _psit(zt / L))
    return ut * cd, -(dq - dqer) * cq, -(dt - dter) * ct


def coare35_point(tC_sea: float, wnd: float, zwindsp: float, tC_air: float, ztmpair: float, relhum: float,
                  zhumair: float, pr_air: float, Rshort_down: float, Rlong_down: float, lat: float,
                  zinvpbl: float, jcool: float) -> tuple[float, float, float, float, float]:
    """``(usr, tsr, qsr, ut, dter)`` of :func:`~stream_engine.functions.coare.coare35` for one record.

    Raises
    ------
    ArithmeticError
        A division by zero or an overflow: use the array version for this record.
    """
    q_sea = _sea_spechum(tC_sea, pr_air) / 1000.0
    q_air = _spechum(tC_air, pr_air, relhum) / 1000.0
    sin_lat = math.sin(math.radians(lat))
    xsq = sin_lat * sin_lat
    grav = 9.7803267715 * (1.0 + xsq * (0.0052790414 + xsq * (0.0000232718 + xsq * (0.0000001262
                                                                                   + xsq * 0.0000000007))))
    le = (2500.8 - 2.37 * tC_sea) * 1000.0
    rhoa = pr_air * 100.0 / (1.0 + 0.61 * q_air) / (RGAS * (tC_air + C2K))
    visa = 1.326e-5 * (1.0 + 6.542e-3 * tC_air + 8.301e-6 * tC_air ** 2 - 4.84e-9 * tC_air ** 3)
    al = 2.1e-5 * _pow(tC_sea + 3.2, 0.79)
    bigc = 16.0 * grav * CPW * (RHOW * 1.0e-6) ** 3 / (0.6 ** 2 * rhoa ** 2)
    dq = q_sea - q_air
    dt = tC_sea - tC_air - grav / CPA * ztmpair
    tK_air = tC_air + C2K
    tv = tK_air * (1.0 + 0.61 * q_air)
    dter = 0.3 * jcool
    dqer = dter * (0.622 * le * q_sea / (RGAS * (tC_sea + C2K) ** 2))
    tkt = 0.001
    ut = _sqrt(wnd ** 2 + 0.5 ** 2)
    u10 = ut * math.log(10.0 / 1.0e-4) / _log(zwindsp / 1.0e-4)
    u_init = 0.035 * u10
    zo10 = 0.011 * u_init ** 2 / grav + 0.11 * visa / u_init
    cd10 = (VON / _log(10.0 / zo10)) ** 2
    zot10 = 10.0 / math.exp(VON / (0.00115 / _sqrt(cd10)))
    # initial Obukhov length
    ribu = -grav * zwindsp / tK_air * (dt - dter + 0.61 * tK_air * dq) / ut ** 2
    cc = VON * (VON / _log(ztmpair / zot10)) / (VON / _log(zwindsp / zo10)) ** 2
    zetu = cc * ribu * (1.0 + 27.0 / 9.0 * ribu / cc)
    stable = zetu > 50
    if ribu < 0:
        zetu = cc * ribu / (1.0 + ribu / (-zwindsp / zinvpbl / 0.004 / BETA ** 3))
    usr, qsr, tsr = _scaling(dter, dqer, zwindsp, zhumair, ztmpair, zo10, zot10, zot10, zwindsp / zetu, ut, dq, dt)
    rns = (1.0 - 0.055) * Rshort_down
    rnl = 0.97 * (5.67e-8 * (tC_sea - dter + C2K) ** 4 - Rlong_down)
    charn = _charnock(u10)
    kept = (NAN,) * 5
    for iteration in range(ITERATIONS):
        tvsr = tsr * (1.0 + 0.61 * q_air) + 0.61 * tK_air * qsr
        if tvsr != tvsr or tvsr == 0:
            L = NAN
        else:
            L = tv * usr * usr / (grav * VON * (abs(tvsr) if abs(tvsr) < 1.0e-3 else tvsr))
        zou = charn * usr ** 2 / grav + 0.11 * visa / usr
        zoq = _minimum(1.6e-4, 5.8e-5 / _pow(zou * usr / visa, 0.72))
        usr, qsr, tsr = _scaling(dter, dqer, zwindsp, zhumair, ztmpair, zou, zoq, zoq, L, ut, dq, dt)
        # cool skin
        hsb = -rhoa * CPA * usr * tsr
        hlb = -rhoa * le * usr * qsr
        qcol = rnl + hsb + hlb - rns * (0.065 + 11.0 * tkt - 6.6e-5 / tkt * (1.0 - math.exp(-tkt / 8.0e-4)))
        alq = al * qcol + 0.026 * hlb * CPW / le
        if alq > 0:
            xlamx = 6.0 / _pow(1.0 + _pow(bigc * alq / usr ** 4, 0.75), 0.333)
            tkt = xlamx * 1.0e-6 / (_sqrt(rhoa / RHOW) * usr)
        else:
            tkt = _minimum(0.01, 6.0 * 1.0e-6 / (_sqrt(rhoa / RHOW) * usr))
        skin = qcol * tkt / 0.6
        dqer = (q_sea - _sea_spechum(tC_sea - skin, pr_air) / 1000.0) * jcool
        dter = skin * jcool
        rnl = 0.97 * (5.67e-8 * (tC_sea - dter + C2K) ** 4 - Rlong_down)
        buoyancy = -grav / tv * usr * (tsr + 0.61 * tK_air * qsr)
        if buoyancy != buoyancy:
            ug = NAN
        elif buoyancy > 0:
            ug = _maximum(0.2, BETA * _pow(buoyancy * zinvpbl, 0.333))
        else:
            ug = 0.2
        ut = _sqrt(wnd ** 2 + ug ** 2)
        charn = _charnock(usr / VON / ut * wnd * _log(10.0 / zou))
        if iteration == 0:
            kept = (usr, tsr, qsr, ut, dter)
    return kept if stable else (usr, tsr, qsr, ut, dter)
