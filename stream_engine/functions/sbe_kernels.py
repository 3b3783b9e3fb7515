"""Sea-Bird calibration equations compiled with numba: one loop per equation over the records.

:mod:`stream_engine.functions.ctd` evaluates the SBE 16plus V2 and SBE 37-IM equations with
in-place numpy operations (one pass over the records per operation); these loops do the same
operations, in the same order and in float64, in one pass per equation, so a value equals the
numpy one bit for bit (``tests/functions/test_sbe_kernels.py`` checks millions of random counts
and the OOI samples). What makes that hold, as for :mod:`stream_engine.functions.teos10_kernels`:

* each numpy operation (``np.subtract(t0, 524288.0, dtype=float64)``, ``out *= x``...) is one
  statement here, a count converted to float64 exactly where numpy converts it, with the same
  constants;
* numba compiles without ``fastmath``: no reassociation, no fused multiply-add, no reciprocal
  for a division (each operation rounds where numpy rounds);
* ``error_model='numpy'``: a division by zero gives ``inf``/NaN as numpy does;
* the one transcendental of the temperature equation, ``log``, stays numpy's
  (:func:`thermistor_resistance` stops before it, :func:`steinhart_hart_loop` starts after it): a
  compiled ``log`` is the C library's, which need not round as numpy's SIMD ``log`` does.

The loops take coefficients as scalars (one value for the whole call: the engine passes a
calibration that holds for a whole window as one value); per-record coefficients stay on the
numpy path. They are compiled for the input types listed in :data:`COUNT_TYPES` and
:data:`VALUE_TYPES`, loaded (or compiled) by :func:`warm_up` before a process serves requests,
never inside one.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from stream_engine.functions.teos10_kernels import INLINE, JIT

#: Raw count arrays the loops are compiled for (stored counts, or float64 with NaN where a count
#: held the fill value).
COUNT_TYPES = (np.dtype(np.int32), np.dtype(np.float64))
#: Computed inputs (temperature and pressure for the conductivity cell) the loops take: float32
#: as the engine keeps L1 products, float64 from direct calls.
VALUE_TYPES = (np.dtype(np.float32), np.dtype(np.float64))
PSI_TO_DBAR = 0.689475729
ATMOSPHERE_DBAR = 10.1325


@numba.njit(**INLINE)
def thermistor_ratio_one(count: float) -> float:
    """SBE 16plus thermistor, one count: volts, then the resistance ratio whose ``log`` the
    Steinhart-Hart polynomial takes (``ctd.ctd_sbe16plus_tempwat`` before ``np.log``)."""
    mv = count - 524288.0
    mv = mv / 1.6e7
    den = mv * 2.0e5
    den = 2.048e4 - den
    mv = mv * 2.9e9
    mv = mv + 1.024e8
    return mv / den


@numba.njit(**INLINE)
def steinhart_hart_one(x: float, a0: float, a1: float, a2: float, a3: float) -> float:
    """``1 / (a0 + a1 L + a2 L^2 + a3 L^3) - 273.15`` of one ``L = x`` in ``horner``'s order
    (``ctd._steinhart_hart``)."""
    v = x * a3
    v = v + a2
    v = v * x
    v = v + a1
    v = v * x
    v = v + a0
    v = 1.0 / v
    return v - 273.15


@numba.njit(**JIT)
def thermistor_resistance(t0: np.ndarray, out: np.ndarray) -> None:
    """:func:`thermistor_ratio_one` of every count."""
    for i in range(out.shape[0]):
        out[i] = thermistor_ratio_one(float(t0[i]))


@numba.njit(**JIT)
def steinhart_hart_loop(log_r: np.ndarray, a0: float, a1: float, a2: float, a3: float,
                        out: np.ndarray) -> None:
    """:func:`steinhart_hart_one` of every ``log_r``."""
    for i in range(out.shape[0]):
        out[i] = steinhart_hart_one(log_r[i], a0, a1, a2, a3)


@numba.njit(**INLINE)
def _strain_gauge_dbar(p0: float, t: float, ptca0: float, ptca1: float, ptca2: float, ptcb0: float,
                       ptcb1: float, ptcb2: float, pa0: float, pa1: float, pa2: float) -> float:
    """``ctd._strain_gauge_psi`` for one record, then psia to sea pressure [dbar]."""
    x = p0 - ptca0
    w = t * ptca2
    w = w + ptca1
    w = w * t
    x = x - w
    w = t * ptcb2
    w = w + ptcb1
    w = w * t
    w = w + ptcb0
    x = x * ptcb0
    x = x / w
    psi = x * pa2
    psi = psi + pa1
    psi = psi * x
    psi = psi + pa0
    psi = psi * PSI_TO_DBAR
    return psi - ATMOSPHERE_DBAR


@numba.njit(**INLINE)
def strain_gauge_one(p0: float, tv: float, ptempa0: float, ptempa1: float, ptempa2: float, ptca0: float,
                     ptca1: float, ptca2: float, ptcb0: float, ptcb1: float, ptcb2: float, pa0: float,
                     pa1: float, pa2: float) -> float:
    """Strain-gauge sea pressure [dbar] of one pressure count ``p0`` and sensor thermistor
    value ``tv`` (volts for the SBE 16plus), before any offset."""
    t = tv * ptempa2
    t = t + ptempa1
    t = t * tv
    t = t + ptempa0
    return _strain_gauge_dbar(p0, t, ptca0, ptca1, ptca2, ptcb0, ptcb1, ptcb2, pa0, pa1, pa2)


@numba.njit(**JIT)
def strain_gauge_loop(p0: np.ndarray, t0: np.ndarray, volts_per_count: bool, ptempa0: float, ptempa1: float,
                      ptempa2: float, ptca0: float, ptca1: float, ptca2: float, ptcb0: float, ptcb1: float,
                      ptcb2: float, pa0: float, pa1: float, pa2: float, offset: float, out: np.ndarray) -> None:
    """Strain-gauge pressure [dbar]: SBE 16plus (``volts_per_count``: the sensor thermistor
    ``t0`` in counts of 1/13107 V, plus ``offset``) or SBE 37-IM recovered (``t0`` used as it
    is, no offset added), as ``ctd.ctd_sbe16plus_preswat`` / ``ctd_sbe37im_preswat_instrument_recovered``."""
    for i in range(out.shape[0]):
        tv = float(t0[i])
        if volts_per_count:
            tv = tv / 13107.0
        p = strain_gauge_one(float(p0[i]), tv, ptempa0, ptempa1, ptempa2, ptca0, ptca1, ptca2, ptcb0, ptcb1,
                             ptcb2, pa0, pa1, pa2)
        if volts_per_count:
            p = p + offset
        out[i] = p


@numba.njit(**INLINE)
def conductivity_one(f: float, t: float, p: float, g: float, h: float, i_: float, j: float,
                     cpcor: float, ctcor: float) -> float:
    """``(g + h f^2 + i f^3 + j f^4) / (1 + ctcor t + cpcor p)`` of one frequency ``f`` [kHz]
    (``ctd._sbe_conductivity``)."""
    num = f * j
    num = num + i_
    num = num * f
    num = num + h
    num = num * f
    num = num * f
    num = num + g
    den = t * ctcor
    den = den + 1.0
    den = den + p * cpcor
    return num / den


@numba.njit(**JIT)
def conductivity_loop(c0: np.ndarray, t1: np.ndarray, p1: np.ndarray, g: float, h: float, i_: float,
                      j: float, cpcor: float, ctcor: float, wbotc: float, expansion: bool,
                      out: np.ndarray) -> None:
    """Conductivity [S m-1] from frequency counts (256 per Hz), as ``ctd._sbe_conductivity``;
    with ``expansion`` the SBE 37-IM recovered cell's thermal expansion (``wbotc``) first."""
    for k in range(out.shape[0]):
        f = float(c0[k]) / 256000.0
        t = float(t1[k])
        p = float(p1[k])
        if expansion:
            e = t * wbotc
            e = e + 1.0
            f = f * math.sqrt(e)
        out[k] = conductivity_one(f, t, p, g, h, i_, j, cpcor, ctcor)


#: Every compiled loop of this module.
LOOPS = (thermistor_resistance, steinhart_hart_loop, strain_gauge_loop, conductivity_loop)


def _frozen(values: list[float], dtype: np.dtype) -> np.ndarray:
    array = np.array(values, dtype=dtype)
    array.flags.writeable = False
    return array


def warm_up() -> None:
    """Load (or compile) every loop for the types of :data:`COUNT_TYPES` and
    :data:`VALUE_TYPES` (read-only inputs, as the engine's arrays are; writable ones convert),
    then let none compile again in this process."""
    out = np.empty(2)
    for counts in COUNT_TYPES:
        c = _frozen([4.0e6, 5.0e6], counts)
        thermistor_resistance(c, out)
        for flag in (True, False):
            strain_gauge_loop(c, c, flag, *([1.0] * 12), 0.0, out)
        for values in VALUE_TYPES:
            v = _frozen([10.0, 100.0], values)
            for flag in (True, False):
                conductivity_loop(c, v, v, *([1.0] * 7), flag, out)
    steinhart_hart_loop(_frozen([1.0, 2.0], np.dtype(np.float64)), 1.0, 1.0, 1.0, 1.0, out)
    for loop in LOOPS:
        loop.disable_compile()


__all__ = ["COUNT_TYPES", "LOOPS", "VALUE_TYPES", "conductivity_loop", "conductivity_one", "steinhart_hart_loop",
           "steinhart_hart_one", "strain_gauge_loop", "strain_gauge_one", "thermistor_ratio_one",
           "thermistor_resistance", "warm_up"]
