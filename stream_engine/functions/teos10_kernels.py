"""TEOS-10 formulas compiled with numba: the scalar kernels behind the CTD's L2 products.

Each function here evaluates, for one sample, exactly the expression of the GSW-C toolbox
(v3.06, the C code inside ``gsw`` 3.6) that ``gsw`` evaluates: the same published TEOS-10
coefficients, the same polynomial nesting, the same operation order and float64 throughout, so a
value equals ``gsw``'s bit for bit. What makes that hold:

* numba compiles without ``fastmath``: LLVM may not reassociate, contract ``a*b + c`` into a
  fused multiply-add or replace a division by a reciprocal, so every rounding happens where
  the C code rounds (``tests/functions/test_teos10.py`` checks millions of random samples);
* the only non-polynomial operation is ``sqrt`` (correctly rounded in both); no libm
  transcendental is involved, so no difference between libm versions can show;
* ``error_model='numpy'``: a division by zero or the square root of a negative number gives
  ``inf``/NaN like C, instead of raising;
* GSW-C's "invalid value" (9e15, which ``gsw`` turns into NaN) is NaN here.

Compiled functions are cached on disk (``cache=True``) and loaded or compiled by
:func:`stream_engine.functions.teos10.warm_up` when a worker starts, never inside a request.
"""

from __future__ import annotations

import math

import numba
import numpy as np


def _full_width_vectors() -> None:
    """Let LLVM vectorise the loops at the CPU's full width.

    On CPUs with AVX-512, LLVM's tuning prefers 256-bit vectors (``prefer-256-bit``); for these
    loops, long chains of multiplications, divisions and square roots, 512-bit vectors measured
    1.6x faster (CT_from_t + rho 42 -> 26 ns per record on the development machine). The values
    do not change: every lane does the same IEEE operations in the same order, whatever the
    width. Applies to numba's code generator for this process, so it runs before the first
    kernel is defined; a ``NUMBA_CPU_FEATURES`` set by the user is left as it is. Compiled
    kernels are cached per CPU features, so this never loads code compiled otherwise.
    """
    if numba.config.CPU_FEATURES is not None:
        return
    from numba.core.codegen import get_host_cpu_features

    features = get_host_cpu_features()
    if features:
        numba.config.CPU_FEATURES = f"{features},-prefer-256-bit"


_full_width_vectors()

#: Compile options shared by every kernel (see module docstring).
JIT = {"cache": True, "nogil": True, "error_model": "numpy", "fastmath": False}
#: The scalar formulas are inlined into the loops (numba IR inlining), so LLVM sees one loop body
#: it can vectorise; a call per sample would keep every loop scalar.
INLINE = {**JIT, "inline": "always"}

# -- TEOS-10 constants (GSW-C gsw_internal_const.h) -------------------------------------------------
CP0 = 3991.86795711963  # "specific heat" for Conservative Temperature [J kg-1 K-1]
T0 = 273.15  # Celsius zero point [K]
SSO = 35.16504  # Standard Ocean Reference Salinity [g kg-1]
UPS = SSO / 35.0  # unit conversion factor for salinities [g kg-1], computed as GSW-C does
SFAC = 0.0248826675584615  # 1 / (40 UPS)
OFFSET = 5.971840214030754e-1  # deltaS = 24 times SFAC
C3515 = 42.9140  # conductivity at SP = 35, t68 = 15, p = 0 [mS cm-1]

# PSS-78 coefficients
A0, A1, A2, A3, A4, A5 = 0.0080, -0.1692, 25.3851, 14.0941, -7.0261, 2.7081
B0, B1, B2, B3, B4, B5 = 0.0005, -0.0056, -0.0066, -0.0375, 0.0636, -0.0144
C0, C1, C2, C3, C4 = 0.6766097, 2.00564e-2, 1.104259e-4, -6.9698e-7, 1.0031e-9
D1, D2, D3, D4 = 3.426e-2, 4.464e-4, 4.215e-1, -3.107e-3
E1, E2, E3 = 2.070e-5, -6.370e-10, 3.989e-15
K = 0.0162
# Hill et al. (1986) extension below SP = 2: the starting polynomial of Rtx at SP = 2
G0, G1, G2 = 2.641463563366498e-1, 2.007883247811176e-4, -4.107694432853053e-6
G3, G4, G5 = 8.401670882091225e-8, -1.711392021989210e-9, 3.374193893377380e-11
G6, G7, G8 = -5.923731174730784e-13, 8.057771569962299e-15, -7.054313817447962e-17
G9 = 2.859992717347235e-19

# Roquet et al. (2015) 75-term specific volume polynomial
V000, V001, V002, V003 = 1.0769995862e-3, -6.0799143809e-5, 9.9856169219e-6, -1.1309361437e-6
V004, V005, V006, V010 = 1.0531153080e-7, -1.2647261286e-8, 1.9613503930e-9, -3.1038981976e-4
V011, V012, V013, V014 = 2.4262468747e-5, -5.8484432984e-7, 3.6310188515e-7, -1.1147125423e-7
V020, V021, V022, V023 = 6.6928067038e-4, -3.4792460974e-5, -4.8122251597e-6, 1.6746303780e-8
V030, V031, V032, V040 = -8.5047933937e-4, 3.7470777305e-5, 4.9263106998e-6, 5.8086069943e-4
V041, V042, V050, V051 = -1.7322218612e-5, -1.7811974727e-6, -2.1092370507e-4, 3.0927427253e-6
V060, V100, V101, V102 = 3.1932457305e-5, -1.5649734675e-5, 1.8505765429e-5, -1.1736386731e-6
V103, V104, V110, V111 = -3.6527006553e-7, 3.1454099902e-7, 3.5009599764e-5, -9.5677088156e-6
V112, V113, V120, V121 = -5.5699154557e-6, -2.7295696237e-7, -4.3592678561e-5, 1.1100834765e-5
V122, V130, V131, V132 = 5.4620748834e-6, 3.4532461828e-5, -9.8447117844e-6, -1.3544185627e-6
V140, V141, V150, V200 = -1.1959409788e-5, 2.5909225260e-6, 1.3864594581e-6, 2.7762106484e-5
V201, V202, V203, V210 = -1.1716606853e-5, 2.1305028740e-6, 2.8695905159e-7, -3.7435842344e-5
V211, V212, V220, V221 = -2.3678308361e-7, 3.9137387080e-7, 3.5907822760e-5, 2.9283346295e-6
V222, V230, V231, V240 = -6.5731104067e-7, -1.8698584187e-5, -4.8826139200e-7, 3.8595339244e-6
V300, V301, V302, V310 = -1.6521159259e-5, 7.9279656173e-6, -4.6132540037e-7, 2.4141479483e-5
V311, V312, V320, V321 = -3.4558773655e-6, 7.7618888092e-9, -1.4353633048e-5, 3.1655306078e-7
V330, V400, V401, V402 = 2.2863324556e-6, 6.9111322702e-6, -3.4102187482e-6, -6.3352916514e-8
V410, V411, V420, V500 = -8.7595873154e-6, 1.2956717783e-6, 4.3703680598e-6, -8.0539615540e-7
V501, V510, V600 = 5.0736766814e-7, -3.3052758900e-7, 2.0543094268e-7


# -- practical salinity ---------------------------------------------------------------------------


@numba.njit(**INLINE)
def _hill_ratio_at_sp2(t: float) -> float:
    """Hill ratio at SP = 2 (GSW-C ``gsw_hill_ratio_at_sp2``), one modified Newton step."""
    t68 = t * 1.00024
    ft68 = (t68 - 15.0) / (1.0 + K * (t68 - 15.0))
    rtx0 = G0 + t68 * (G1 + t68 * (G2 + t68 * (G3 + t68 * (G4 + t68 * (G5
           + t68 * (G6 + t68 * (G7 + t68 * (G8 + t68 * G9))))))))
    dsp_drtx = (A1 + (2 * A2 + (3 * A3 + (4 * A4 + 5 * A5 * rtx0) * rtx0) * rtx0) * rtx0
                + ft68 * (B1 + (2 * B2 + (3 * B3 + (4 * B4 + 5 * B5 * rtx0) * rtx0) * rtx0) * rtx0))
    sp_est = (A0 + (A1 + (A2 + (A3 + (A4 + A5 * rtx0) * rtx0) * rtx0) * rtx0) * rtx0
              + ft68 * (B0 + (B1 + (B2 + (B3 + (B4 + B5 * rtx0) * rtx0) * rtx0) * rtx0) * rtx0))
    rtx = rtx0 - (sp_est - 2.0) / dsp_drtx
    rtxm = 0.5 * (rtx + rtx0)
    dsp_drtx = (A1 + (2 * A2 + (3 * A3 + (4 * A4 + 5 * A5 * rtxm) * rtxm) * rtxm) * rtxm
                + ft68 * (B1 + (2 * B2 + (3 * B3 + (4 * B4 + 5 * B5 * rtxm) * rtxm) * rtxm) * rtxm))
    rtx = rtx0 - (sp_est - 2.0) / dsp_drtx
    x = 400.0 * rtx * rtx
    sqrty = 10.0 * rtx
    part1 = 1.0 + x * (1.5 + x)
    part2 = 1.0 + sqrty * (1.0 + sqrty * (1.0 + sqrty))
    sp_hill_raw_at_sp2 = 2.0 - A0 / part1 - B0 * ft68 / part2
    return 2.0 / sp_hill_raw_at_sp2


@numba.njit(**INLINE)
def _pss78(c: float, t: float, p: float) -> tuple[float, float, float]:
    """PSS-78 practical salinity from conductivity [mS cm-1], t, p, with the conductivity ratio
    ``rt`` and ``rtx = sqrt(rt)`` it was computed from (``gsw_sp_from_c`` without its Hill
    extension); NaN where ``rt < 0``."""
    t68 = t * 1.00024e0
    ft68 = (t68 - 15e0) / (1e0 + K * (t68 - 15e0))
    r = c / C3515
    rt_lc = C0 + (C1 + (C2 + (C3 + C4 * t68) * t68) * t68) * t68
    rp = 1e0 + (p * (E1 + E2 * p + E3 * p * p)) / (1e0 + D1 * t68 + D2 * t68 * t68 + (D3 + D4 * t68) * r)
    rt = r / (rp * rt_lc)
    rtx = math.sqrt(rt)
    sp = (A0 + (A1 + (A2 + (A3 + (A4 + A5 * rtx) * rtx) * rtx) * rtx) * rtx
          + ft68 * (B0 + (B1 + (B2 + (B3 + (B4 + B5 * rtx) * rtx) * rtx) * rtx) * rtx))
    return (math.nan if rt < 0.0 else sp), rt, ft68


@numba.njit(**INLINE)
def _hill(sp: float, rt: float, ft68: float, t: float) -> float:
    """Practical salinity below 2 (Hill et al. 1986, equal to PSS-78 at SP = 2)."""
    hill_ratio = _hill_ratio_at_sp2(t)
    x = 400e0 * rt
    sqrty = 10e0 * math.sqrt(rt)
    part1 = 1e0 + x * (1.5e0 + x)
    part2 = 1e0 + sqrty * (1e0 + sqrty * (1e0 + sqrty))
    sp_hill_raw = sp - A0 / part1 - B0 * ft68 / part2
    return hill_ratio * sp_hill_raw


# -- conservative temperature ---------------------------------------------------------------------


@numba.njit(**INLINE)
def _entropy_part(sa: float, t: float, p: float) -> float:
    """Entropy minus its terms linear in SA (GSW-C ``gsw_entropy_part``)."""
    x2 = SFAC * sa
    x = math.sqrt(x2)
    y = t * 0.025
    z = p * 1e-4
    g03 = (z * (-270.983805184062 + z * (776.153611613101 + z * (-196.51255088122
           + (28.9796526294175 - 2.13290083518327 * z) * z)))
           + y * (-24715.571866078 + z * (2910.0729080936 + z * (-1513.116771538718
                  + z * (546.959324647056 + z * (-111.1208127634436 + 8.68841343834394 * z))))
                  + y * (2210.2236124548363 + z * (-2017.52334943521 + z * (1498.081172457456
                         + z * (-718.6359919632359 + (146.4037555781616 - 4.9892131862671505 * z) * z)))
                         + y * (-592.743745734632 + z * (1591.873781627888 + z * (-1207.261522487504
                                + (608.785486935364 - 105.4993508931208 * z) * z))
                                + y * (290.12956292128547 + z * (-973.091553087975 + z * (602.603274510125
                                       + z * (-276.361526170076 + 32.40953340386105 * z)))
                                       + y * (-113.90630790850321 + y * (21.35571525415769
                                              - 67.41756835751434 * z)
                                              + z * (381.06836198507096 + z * (-133.7383902842754
                                                     + 49.023632509086724 * z))))))))
    g08 = x2 * (z * (729.116529735046 + z * (-343.956902961561 + z * (124.687671116248
                + z * (-31.656964386073 + 7.04658803315449 * z))))
                + x * (x * (y * (-137.1145018408982 + y * (148.10030845687618
                            + y * (-68.5590309679152 + 12.4848504784754 * y)))
                            - 22.6683558512829 * z)
                       + z * (-175.292041186547 + (83.1923927801819 - 29.483064349429 * z) * z)
                       + y * (-86.1329351956084 + z * (766.116132004952 + z * (-108.3834525034224
                              + 51.2796974779828 * z))
                              + y * (-30.0682112585625 - 1380.9597954037708 * z
                                     + y * (3.50240264723578 + 938.26075044542 * z))))
                + y * (1760.062705994408 + y * (-675.802947790203 + y * (365.7041791005036
                       + y * (-108.30162043765552 + 12.78101825083098 * y)
                       + z * (-1190.914967948748 + (298.904564555024 - 145.9491676006352 * z) * z))
                       + z * (2082.7344423998043 + z * (-614.668925894709
                              + (340.685093521782 - 33.3848202979239 * z) * z)))
                       + z * (-1721.528607567954 + z * (674.819060538734 + z * (-356.629112415276
                              + (88.4080716616 - 15.84003094423364 * z) * z)))))
    return -(g03 + g08) * 0.025


@numba.njit(**INLINE)
def _entropy_part_zerop(sa: float, pt0: float) -> float:
    """:func:`_entropy_part` at p = 0 (GSW-C ``gsw_entropy_part_zerop``)."""
    x2 = SFAC * sa
    x = math.sqrt(x2)
    y = pt0 * 0.025
    g03 = y * (-24715.571866078 + y * (2210.2236124548363 + y * (-592.743745734632
               + y * (290.12956292128547 + y * (-113.90630790850321 + y * 21.35571525415769)))))
    g08 = x2 * (x * (x * (y * (-137.1145018408982 + y * (148.10030845687618
                               + y * (-68.5590309679152 + 12.4848504784754 * y))))
                     + y * (-86.1329351956084 + y * (-30.0682112585625 + y * 3.50240264723578)))
                + y * (1760.062705994408 + y * (-675.802947790203 + y * (365.7041791005036
                       + y * (-108.30162043765552 + 12.78101825083098 * y)))))
    return -(g03 + g08) * 0.025


@numba.njit(**INLINE)
def _gibbs_pt0_pt0(sa: float, pt0: float) -> float:
    """Second temperature derivative of the Gibbs function at p = 0 (``gsw_gibbs_pt0_pt0``)."""
    x2 = SFAC * sa
    x = math.sqrt(x2)
    y = pt0 * 0.025
    g03 = (-24715.571866078 + y * (4420.4472249096725 + y * (-1778.231237203896
           + y * (1160.5182516851419 + y * (-569.531539542516 + y * 128.13429152494615)))))
    g08 = x2 * (1760.062705994408 + x * (-86.1329351956084 + x * (-137.1145018408982
                + y * (296.20061691375236 + y * (-205.67709290374563 + 49.9394019139016 * y)))
                + y * (-60.136422517125 + y * 10.50720794170734))
                + y * (-1351.605895580406 + y * (1097.1125373015109 + y * (-433.20648175062206
                       + 63.905091254154904 * y))))
    return (g03 + g08) * 0.000625


@numba.njit(**INLINE)
def pt0_from_t_one(sa: float, t: float, p: float) -> float:
    """Potential temperature referenced to 0 dbar: two modified Newton-Raphson iterations on
    entropy from the published starting polynomial (``gsw_pt0_from_t``)."""
    s1 = sa / UPS
    pt0 = t + p * (8.65483913395442e-6 - s1 * 1.41636299744881e-6 - p * 7.38286467135737e-9
                   + t * (-8.38241357039698e-6 + s1 * 2.83933368585534e-8 + t * 1.77803965218656e-8
                          + p * 1.71155619208233e-10))
    dentropy_dt = CP0 / ((T0 + pt0) * (1.0 - 0.05 * (1.0 - sa / SSO)))
    true_entropy_part = _entropy_part(sa, t, p)
    for _ in range(2):
        pt0_old = pt0
        dentropy = _entropy_part_zerop(sa, pt0_old) - true_entropy_part
        pt0 = pt0_old - dentropy / dentropy_dt
        pt0m = 0.5 * (pt0 + pt0_old)
        dentropy_dt = -_gibbs_pt0_pt0(sa, pt0m)
        pt0 = pt0_old - dentropy / dentropy_dt
    return pt0


@numba.njit(**INLINE)
def ct_from_pt_one(sa: float, pt: float) -> float:
    """Conservative Temperature from potential temperature: potential enthalpy / cp0."""
    x2 = SFAC * sa
    x = math.sqrt(x2)
    y = pt * 0.025e0
    pot_enthalpy = (61.01362420681071e0 + y * (168776.46138048015e0 + y * (-2735.2785605119625e0
                    + y * (2574.2164453821433e0 + y * (-1536.6644434977543e0 + y * (545.7340497931629e0
                           + (-50.91091728474331e0 - 18.30489878927802e0 * y) * y)))))
                    + x2 * (268.5520265845071e0 + y * (-12019.028203559312e0 + y * (3734.858026725145e0
                            + y * (-2046.7671145057618e0 + y * (465.28655623826234e0 + (-0.6370820302376359e0
                                   - 10.650848542359153e0 * y) * y))))
                            + x * (937.2099110620707e0 + y * (588.1802812170108e0 + y * (248.39476522971285e0
                                   + (-3.871557904936333e0 - 2.6268019854268356e0 * y) * y))
                                   + x * (-1687.914374187449e0 + x * (246.9598888781377e0
                                          + x * (123.59576582457964e0 - 48.5891069025409e0 * x))
                                          + y * (936.3206544460336e0 + y * (-942.7827304544439e0
                                                 + y * (369.4389437509002e0 + (-33.83664947895248e0
                                                        - 9.987880382780322e0 * y) * y)))))))
    return pot_enthalpy / CP0


@numba.njit(**INLINE)
def ct_from_t_one(sa: float, t: float, p: float) -> float:
    """Conservative Temperature from in-situ temperature (``gsw_ct_from_t``)."""
    return ct_from_pt_one(sa, pt0_from_t_one(sa, t, p))


# -- density --------------------------------------------------------------------------------------


@numba.njit(**INLINE)
def specvol_one(sa: float, ct: float, p: float) -> float:
    """Specific volume from the 75-term polynomial of Roquet et al. (``gsw_specvol``)."""
    xs = math.sqrt(SFAC * sa + OFFSET)
    ys = ct * 0.025
    z = p * 1e-4
    return (V000
            + xs * (V010 + xs * (V020 + xs * (V030 + xs * (V040 + xs * (V050 + V060 * xs)))))
            + ys * (V100 + xs * (V110 + xs * (V120 + xs * (V130 + xs * (V140 + V150 * xs))))
                    + ys * (V200 + xs * (V210 + xs * (V220 + xs * (V230 + V240 * xs)))
                            + ys * (V300 + xs * (V310 + xs * (V320 + V330 * xs))
                                    + ys * (V400 + xs * (V410 + V420 * xs)
                                            + ys * (V500 + V510 * xs + V600 * ys)))))
            + z * (V001 + xs * (V011 + xs * (V021 + xs * (V031 + xs * (V041 + V051 * xs))))
                   + ys * (V101 + xs * (V111 + xs * (V121 + xs * (V131 + V141 * xs)))
                           + ys * (V201 + xs * (V211 + xs * (V221 + V231 * xs))
                                   + ys * (V301 + xs * (V311 + V321 * xs) + ys * (V401 + V411 * xs + V501 * ys))))
                   + z * (V002 + xs * (V012 + xs * (V022 + xs * (V032 + V042 * xs)))
                          + ys * (V102 + xs * (V112 + xs * (V122 + V132 * xs))
                                  + ys * (V202 + xs * (V212 + V222 * xs) + ys * (V302 + V312 * xs + V402 * ys)))
                          + z * (V003 + xs * (V013 + V023 * xs) + ys * (V103 + V113 * xs + V203 * ys)
                                 + z * (V004 + V014 * xs + V104 * ys + z * (V005 + V006 * z))))))


@numba.njit(**INLINE)
def rho_one(sa: float, ct: float, p: float) -> float:
    """In-situ density [kg m-3] (``gsw_rho``: the reciprocal of the specific volume)."""
    return 1.0 / specvol_one(sa, ct, p)


# -- loops over records ---------------------------------------------------------------------------


@numba.njit(**JIT)
def sp_from_c_loop(c: np.ndarray, scale: float, t: np.ndarray, p: np.ndarray, out: np.ndarray) -> None:
    """``gsw.SP_from_C`` of conductivity ``c * scale`` [mS cm-1] (the product rounded in float64,
    as ``np.multiply(c, scale, dtype=float64)`` rounds it; ``scale`` 1 leaves ``c`` as it is).
    Inputs may be float32 (each value is converted to float64 first, exactly, as numpy would);
    the PSS-78 pass has no branch, so it vectorises; the few samples below SP = 2 get the Hill
    extension in a second pass."""
    n = out.shape[0]
    low = 0
    for i in range(n):
        sp = _pss78(float(c[i]) * scale, float(t[i]), float(p[i]))[0]
        out[i] = sp
        low += sp < 2.0
    if low:
        for i in range(n):
            sp = out[i]
            if sp < 2.0:
                ti = float(t[i])
                sp, rt, ft68 = _pss78(float(c[i]) * scale, ti, float(p[i]))
                out[i] = _hill(sp, rt, ft68, ti)
    for i in range(n):
        if out[i] < 0.0:
            out[i] = math.nan


@numba.njit(**JIT)
def ct_from_t_loop(sa: np.ndarray, t: np.ndarray, p: np.ndarray, out: np.ndarray) -> None:
    for i in range(out.shape[0]):
        out[i] = ct_from_t_one(sa[i], t[i], p[i])


@numba.njit(**JIT)
def rho_loop(sa: np.ndarray, ct: np.ndarray, p: np.ndarray, out: np.ndarray) -> None:
    for i in range(out.shape[0]):
        out[i] = 1.0 / specvol_one(sa[i], ct[i], p[i])


@numba.njit(**JIT)
def rho_t_loop(sa: np.ndarray, t: np.ndarray, p: np.ndarray, out: np.ndarray) -> None:
    """In-situ density from SA, in-situ t and p (``gsw.rho(SA, gsw.CT_from_t(SA, t, p), p)``);
    ``t`` and ``p`` may be float32 (converted to float64 first, exactly)."""
    for i in range(out.shape[0]):
        s = sa[i]
        q = float(p[i])
        out[i] = 1.0 / specvol_one(s, ct_from_t_one(s, float(t[i]), q), q)


# -- Absolute Salinity at one position --------------------------------------------------------------

#: The pressures [dbar] of the standard levels of the TEOS-10 Absolute Salinity Anomaly Ratio
#: atlas (McDougall et al. 2012), between which ``gsw_saar`` interpolates linearly in pressure.
SAAR_LEVELS = np.array([
    0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 76.0, 101.0, 126.0, 151.0, 176.0, 202.0, 252.0, 303.0, 353.0,
    404.0, 505.0, 606.0, 707.0, 808.0, 909.0, 1010.0, 1111.0, 1213.0, 1314.0, 1416.0, 1517.0, 1771.0,
    2025.0, 2279.0, 2534.0, 2789.0, 3045.0, 3300.0, 3556.0, 3812.0, 4069.0, 4325.0, 4583.0, 4840.0,
    5098.0, 5355.0, 5614.0, 5872.0, 6131.0,
])


def _level_index() -> np.ndarray:
    """``gsw_util_indx``'s level for every whole decibar up to the deepest level: the levels
    being whole decibars, the level below ``p`` (``levels[k] < p <= levels[k + 1]``, moved up
    one where ``p`` is a level) is the number of levels ``<= floor(p)`` after the first, at most
    the last interval's."""
    whole = np.arange(int(SAAR_LEVELS[-1]) + 1, dtype=np.float64)
    count = np.searchsorted(SAAR_LEVELS[1:], whole, side="right")
    return np.minimum(count, len(SAAR_LEVELS) - 2).astype(np.int64)


#: :func:`_level_index` (a lookup instead of a search, so the loops stay branch-free).
SAAR_LEVEL_INDEX = _level_index()
assert np.array_equal(SAAR_LEVELS, np.round(SAAR_LEVELS))


@numba.njit(**INLINE)
def saar_one(p: float, levels: np.ndarray, index: np.ndarray, upper: np.ndarray, step: np.ndarray) -> float:
    """SAAR at pressure ``p`` from one position's values at the standard ``levels``.

    ``upper[k]`` is the atlas value at level ``k`` and ``step[k]`` the difference to the next
    level (0 where that level has no value), both as ``gsw_saar`` forms them at this position;
    the level (``index``: :data:`SAAR_LEVEL_INDEX`) and the interpolation weight are
    ``gsw_saar``'s. Pressures below the deepest level take its value, as ``gsw_saar`` clips
    them; negative pressures extrapolate from the first interval, as there.
    """
    last = levels[levels.shape[0] - 1]
    q = last if p > last else p
    inside = q >= 0.0 and q <= last  # False for NaN: any index will do, t1 is NaN
    k = index[int(q) if inside else 0]
    t1 = (q - levels[k]) / (levels[k + 1] - levels[k])
    return upper[k] + t1 * step[k]


@numba.njit(**JIT)
def sa_from_sp_loop(sp: np.ndarray, p: np.ndarray, levels: np.ndarray, index: np.ndarray,
                    upper: np.ndarray, step: np.ndarray, out: np.ndarray) -> None:
    """``gsw.SA_from_SP`` at one position outside the Baltic, from its SAAR table (``sp`` and
    ``p`` may be float32, converted to float64 first, exactly)."""
    for i in range(out.shape[0]):
        out[i] = UPS * float(sp[i]) * (1.0 + saar_one(float(p[i]), levels, index, upper, step))
