"""The SBE 16plus CTD chain compiled as one pass: raw counts to temperature, pressure,
conductivity, practical salinity and density.

A cold request for salinity or density of an SBE 16plus V2 CTD (CTDBP, CTDPF-A/B) runs five
algorithms of :mod:`stream_engine.functions.ctd` one after another, each over every record, with
the engine's rules between them (:mod:`stream_engine.engine.compute_steps`): integer counts
holding their fill value are missing, each product is kept as float32 (the L1/L2 parameters'
dtype) and is missing (NaN) wherever one of its per-record inputs is. :func:`sbe16plus_chain`
computes the same values in a few compiled passes over the records, without the float64
intermediates, casts and masks of the step-by-step path:

1. the thermistor's resistance ratio per count (:func:`thermistor_ratio_loop`);
2. numpy's ``log`` of it, in place: the one transcendental stays numpy's, as in
   :func:`stream_engine.functions.ctd.ctd_sbe16plus_tempwat` (a compiled ``log`` is the C
   library's, which need not round like numpy's SIMD one);
3. temperature, pressure, conductivity and PSS-78 practical salinity, each rounded to float32
   where the engine rounds it, missing where the engine makes it missing
   (:func:`sbe16plus_l1_loop`); the few records below practical salinity 2 get the Hill et al.
   extension in a second pass (:func:`pracsal_hill_loop`), as ``gsw.SP_from_C`` does;
4. for density: Absolute Salinity at the deployment's position
   (:func:`stream_engine.functions.teos10_kernels.sa_from_sp_loop`), then in-situ density from it
   (:func:`density_loop`).

Every operation is the one the step-by-step path does, in the same order and precision (the
scalar formulas are shared with :mod:`stream_engine.functions.sbe_kernels` and
:mod:`stream_engine.functions.teos10_kernels`, compiled with the same options: no fast-math, no
fused multiply-add), so every value, NaN included, equals the step-by-step one bit for bit
(``tests/functions/test_ctd_chain.py``). The loops release the GIL; :func:`warm_up` loads or
compiles them before a process serves requests.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numba
import numpy as np

from stream_engine.functions import teos10_kernels as teos
from stream_engine.functions.sbe_kernels import (
    conductivity_one,
    steinhart_hart_one,
    strain_gauge_one,
    thermistor_ratio_one,
)
from stream_engine.functions.teos10 import SaarTable
from stream_engine.functions.teos10_kernels import JIT

OWNER = "ion_functions.data.ctd_functions"
#: The algorithms of the chain, by the role they play in it (qualified function names).
TEMPERATURE = f"{OWNER}.ctd_sbe16plus_tempwat"
PRESSURE = f"{OWNER}.ctd_sbe16plus_preswat"
CONDUCTIVITY = f"{OWNER}.ctd_sbe16plus_condwat"
SALINITY = f"{OWNER}.ctd_pracsal"
DENSITY = f"{OWNER}.ctd_density"
#: Calibration coefficients of each equation, in the order the loops take them (the
#: algorithms' argument names); the pressure equation's optional ``offset`` comes last.
TEMPERATURE_COEFFICIENTS = ("a0", "a1", "a2", "a3")
PRESSURE_COEFFICIENTS = ("ptempa0", "ptempa1", "ptempa2", "ptca0", "ptca1", "ptca2", "ptcb0", "ptcb1",
                         "ptcb2", "pa0", "pa1", "pa2", "offset")
CONDUCTIVITY_COEFFICIENTS = ("g", "h", "i", "j", "cpcor", "ctcor")
#: The raw count arrays the loops are compiled for (stored counts).
COUNT_TYPE = np.dtype(np.int32)
_NAN32 = np.float32(math.nan)


@numba.njit(**JIT)
def thermistor_ratio_loop(t0: np.ndarray, fill: float, out: np.ndarray) -> None:
    """The thermistor resistance ratio of every temperature count; NaN where the count is
    ``fill`` (missing: no ``log`` of a made-up ratio)."""
    for i in range(out.shape[0]):
        x = float(t0[i])
        out[i] = math.nan if x == fill else thermistor_ratio_one(x)


@numba.njit(**JIT)
def sbe16plus_l1_loop(log_r: np.ndarray, t0: np.ndarray, p0: np.ndarray, pt0: np.ndarray, c0: np.ndarray,
                      fills: np.ndarray, tcal: np.ndarray, pcal: np.ndarray, ccal: np.ndarray,
                      t_out: np.ndarray, p_out: np.ndarray, c_out: np.ndarray, sp_out: np.ndarray) -> int:
    """Temperature, pressure, conductivity and PSS-78 practical salinity (float32) from the
    counts and ``log_r`` (the ``log`` of :func:`thermistor_ratio_loop`); returns how many records
    fell below practical salinity 2 (:func:`pracsal_hill_loop` then finishes them).

    ``fills`` are the fill values of ``t0``, ``p0``, ``pt0``, ``c0`` (NaN: none); ``tcal``,
    ``pcal``, ``ccal`` the coefficients in the order of :data:`TEMPERATURE_COEFFICIENTS`,
    :data:`PRESSURE_COEFFICIENTS`, :data:`CONDUCTIVITY_COEFFICIENTS`. A product is NaN where one
    of its inputs is missing, as the engine makes it.
    """
    ft, fp, fpt, fc = fills[0], fills[1], fills[2], fills[3]
    a0, a1, a2, a3 = tcal[0], tcal[1], tcal[2], tcal[3]
    ptempa0, ptempa1, ptempa2, ptca0, ptca1, ptca2 = pcal[0], pcal[1], pcal[2], pcal[3], pcal[4], pcal[5]
    ptcb0, ptcb1, ptcb2, pa0, pa1, pa2, offset = pcal[6], pcal[7], pcal[8], pcal[9], pcal[10], pcal[11], pcal[12]
    g, h, i_, j, cpcor, ctcor = ccal[0], ccal[1], ccal[2], ccal[3], ccal[4], ccal[5]
    low = 0
    for k in range(t_out.shape[0]):
        tc, pc, ptc, cc = float(t0[k]), float(p0[k]), float(pt0[k]), float(c0[k])
        t = np.float32(steinhart_hart_one(log_r[k], a0, a1, a2, a3))
        if tc == ft:
            t = _NAN32
        tv = ptc / 13107.0
        p = strain_gauge_one(pc, tv, ptempa0, ptempa1, ptempa2, ptca0, ptca1, ptca2, ptcb0, ptcb1, ptcb2,
                             pa0, pa1, pa2)
        p = np.float32(p + offset)
        if pc == fp or ptc == fpt:
            p = _NAN32
        t64, p64 = float(t), float(p)
        c = np.float32(conductivity_one(cc / 256000.0, t64, p64, g, h, i_, j, cpcor, ctcor))
        if cc == fc or t64 != t64 or p64 != p64:
            c = _NAN32
        sp = teos._pss78(float(c) * 10.0, t64, p64)[0]
        low += sp < 2.0
        if sp < 0.0:
            sp = math.nan
        s = np.float32(sp)
        if c != c or t64 != t64 or p64 != p64:
            s = _NAN32
        t_out[k] = t
        p_out[k] = p
        c_out[k] = c
        sp_out[k] = s
    return low


@numba.njit(**JIT)
def pracsal_hill_loop(c: np.ndarray, t: np.ndarray, p: np.ndarray, sp_out: np.ndarray) -> None:
    """Practical salinity below 2 by Hill et al. (1986), as ``gsw.SP_from_C`` gives it, for the
    records of :func:`sbe16plus_l1_loop` whose PSS-78 value was below 2 (found again from the
    float32 conductivity, temperature and pressure it took)."""
    for k in range(sp_out.shape[0]):
        if sp_out[k] > 2.0:  # rounded to float32 from at least 2: no Hill (a value below 2 rounds to <= 2)
            continue
        tk = float(t[k])
        sp, rt, ft68 = teos._pss78(float(c[k]) * 10.0, tk, float(p[k]))
        if sp < 2.0:  # never where an input is NaN (then sp is NaN)
            sp = teos._hill(sp, rt, ft68, tk)
            sp_out[k] = np.float32(math.nan if sp < 0.0 else sp)


@numba.njit(**JIT)
def density_loop(sa: np.ndarray, sp: np.ndarray, t: np.ndarray, p: np.ndarray, out: np.ndarray) -> None:
    """In-situ density (float32) from Absolute Salinity ``sa`` and the float32 in-situ ``t`` and
    ``p`` (``gsw.rho(SA, gsw.CT_from_t(SA, t, p), p)``); NaN where practical salinity ``sp``,
    ``t`` or ``p`` is missing."""
    for i in range(out.shape[0]):
        s = sa[i]
        ti, q = float(t[i]), float(p[i])
        r = np.float32(1.0 / teos.specvol_one(s, teos.ct_from_t_one(s, ti, q), q))
        if sp[i] != sp[i] or ti != ti or q != q:
            r = _NAN32
        out[i] = r


class ChainValues(NamedTuple):
    """The chain's products (float32, one per record); ``density`` when it was asked for."""

    temperature: np.ndarray
    pressure: np.ndarray
    conductivity: np.ndarray
    salinity: np.ndarray
    density: np.ndarray | None

    def part(self, start: int, stop: int) -> ChainValues:
        """Records ``[start, stop)`` (views, so the chain can write into them)."""
        rho = None if self.density is None else self.density[start:stop]
        return ChainValues(self.temperature[start:stop], self.pressure[start:stop], self.conductivity[start:stop],
                           self.salinity[start:stop], rho)


def chain_values(n: int, density: bool) -> ChainValues:
    """Room for the chain's products of ``n`` records (density only if ``density``)."""
    t, p, c, sp = (np.empty(n, dtype=np.float32) for _ in range(4))
    return ChainValues(t, p, c, sp, np.empty(n, dtype=np.float32) if density else None)


def sbe16plus_chain(t0: np.ndarray, p0: np.ndarray, pt0: np.ndarray, c0: np.ndarray, fills: np.ndarray,
                    temperature: np.ndarray, pressure: np.ndarray, conductivity: np.ndarray,
                    position: SaarTable | None = None, out: ChainValues | None = None,
                    scratch: np.ndarray | None = None) -> ChainValues:
    """The whole chain on one run of records with one calibration.

    Parameters
    ----------
    t0, p0, pt0, c0
        Temperature, pressure, pressure-thermistor and conductivity counts (flat, int32, one
        length).
    fills
        float64 ``[4]``: the fill value of each count array (NaN: none).
    temperature, pressure, conductivity
        float64 coefficients in the order of :data:`TEMPERATURE_COEFFICIENTS`,
        :data:`PRESSURE_COEFFICIENTS` (``offset`` 0 when the stream has none) and
        :data:`CONDUCTIVITY_COEFFICIENTS`.
    position
        The SAAR table of the deployment's position (:func:`stream_engine.functions.teos10.saar_table`);
        density is computed only with one.
    out
        Where to write the products (:func:`chain_values` of the counts' length, or slices of
        a larger one); ``None``: new arrays.
    scratch
        float64 working room of at least the counts' length, which a caller reuses from call to
        call (a new array's pages are faulted in again on every call); ``None``: a new one.

    Returns
    -------
    ChainValues
        Exactly what ``ctd_sbe16plus_tempwat``, ``_preswat``, ``_condwat``, ``ctd_pracsal``
        and ``ctd_density`` give through the engine's steps.
    """
    n = len(t0)
    if out is None:
        out = chain_values(n, position is not None)
    t, p, c, sp, rho = out
    log_r = np.empty(n, dtype=np.float64) if scratch is None else scratch[:n]
    thermistor_ratio_loop(t0, fills[0], log_r)
    np.log(log_r, out=log_r)
    if sbe16plus_l1_loop(log_r, t0, p0, pt0, c0, fills, temperature, pressure, conductivity, t, p, c, sp):
        pracsal_hill_loop(c, t, p, sp)
    if position is not None and rho is not None:
        sa = log_r  # the ratios are no longer needed
        teos.sa_from_sp_loop(sp, p, teos.SAAR_LEVELS, teos.SAAR_LEVEL_INDEX, position.upper, position.step, sa)
        density_loop(sa, sp, t, p, rho)
    return out


#: Every compiled loop of this module.
LOOPS = (thermistor_ratio_loop, sbe16plus_l1_loop, pracsal_hill_loop, density_loop)


def _frozen(values: list[float], dtype: type) -> np.ndarray:
    array = np.array(values, dtype=dtype)
    array.flags.writeable = False
    return array


def warm_up() -> None:
    """Load (or compile) every loop for the inputs the engine passes (read-only int32 counts,
    float32 products, float64 coefficients; writable arrays convert), then let none compile
    again in this process. Needs :func:`stream_engine.functions.teos10.warm_up` first (it
    prepares ``sa_from_sp_loop`` for float32 inputs)."""
    from stream_engine.functions.teos10 import saar_table

    counts = _frozen([500_000, 600_000], np.int32)
    fills = _frozen([-9999999.0] * 4, np.float64)
    position = saar_table(-124.0, 44.0)
    sbe16plus_chain(counts, counts, counts, counts, fills, _frozen([1e-3] * 4, np.float64),
                    _frozen([1.0] * 13, np.float64), _frozen([1.0] * 6, np.float64), position)
    low = _frozen([0.001, 0.01], np.float32)
    pracsal_hill_loop(low, low, low, np.empty(2, dtype=np.float32))
    for loop in LOOPS:
        loop.disable_compile()


__all__ = ["CONDUCTIVITY", "CONDUCTIVITY_COEFFICIENTS", "COUNT_TYPE", "ChainValues", "DENSITY", "LOOPS",
           "PRESSURE", "PRESSURE_COEFFICIENTS", "SALINITY", "TEMPERATURE", "TEMPERATURE_COEFFICIENTS",
           "chain_values", "density_loop", "pracsal_hill_loop", "sbe16plus_chain", "sbe16plus_l1_loop",
           "thermistor_ratio_loop", "warm_up"]
