"""Micro-benchmark of the CTD algorithms of ``stream_engine.functions.ctd``, in records/s.

Every algorithm is called directly (no store, no engine) on inputs shaped as the engine passes
them: raw counts as int32, computed L1 inputs (temperature, pressure, conductivity, salinity) as
float32 (their preload encoding), calibration coefficients and the position as 0-d float64 (one
value per deployment). ``--tiled`` passes the coefficients tiled per record instead, as the
engine does when a window spans two calibrations.

Rows, each at 1,048,576 records and at one DAP window (65,536 records; ``--records`` changes
both), best of several runs:

* every CTD algorithm alone;
* ``chain``: the SBE 16plus density chain as a cold DAP request computes it, temperature,
  pressure, conductivity, practical salinity, density, each result cast to float32 as stored;
* ``chain, DAP windows``: the same chain over the large input cut into windows of
  ``DAP_COMPUTE_RECORDS`` computed on ``DAP_COMPUTE_THREADS`` threads (the DAP layer's layout),
  to show how numexpr's own threads interact with the DAP compute threads.

``--numexpr`` adds the alternative the CTD module was measured against: the SBE 16plus
temperature and pressure formulas as numexpr expressions (fixed text, inputs in ``local_dict``)
with numexpr on 1 and on 2 threads, alone and in the DAP window layout.

Run: ``.venv/bin/python benchmarks/functions.py [--repeats R] [--tiled] [--numexpr]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import numexpr
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from stream_engine.config import load_settings  # noqa: E402
from stream_engine.functions import lookup  # noqa: E402

OWNER = "ion_functions.data.ctd_functions"
TEMP_CAL = dict(a0=1.281651e-3, a1=2.706002e-4, a2=-1.027561e-6, a3=1.749446e-7)
PRES_CAL = dict(
    ptempa0=-6.87701000e001, ptempa1=5.05406200e001, ptempa2=-2.15672900e-001,
    ptca0=5.24965500e005, ptca1=7.23620100e000, ptca2=-9.94485900e-002,
    ptcb0=2.51220000e001, ptcb1=-2.00000000e-004, ptcb2=0.0,
    pa0=1.73472300e000, pa1=1.57475000e-002, pa2=-6.51927800e-010,
)
COND_CAL = dict(g=-9.72193700e-001, h=1.38675900e-001, i=-1.08398500e-004, j=2.63219300e-005,
                cpcor=-9.57000000e-008, ctcor=3.2500e-006)
SBE37_PRES_CAL = dict(
    ptempa0=-6.953022e1, ptempa1=5.115592e-2, ptempa2=-3.918145e-7,
    ptca0=5.247204e5, ptca1=9.617295e-1, ptca2=6.296724e-3,
    ptcb0=2.498163e1, ptcb1=-2.75e-4, ptcb2=0.0,
    pa0=1.202594e-1, pa1=4.514834e-3, pa2=-1.091899e-11,
)
SBE37_TEMP_CAL = dict(a0=-1.179278e-04, a1=3.097942e-04, a2=-4.688854e-06, a3=2.081274e-07)
SBE37_COND_CAL = dict(g=-9.899853e-01, h=1.314100e-01, i=-4.181710e-04, j=4.723872e-05,
                      cpcor=-9.570000e-08, ctcor=3.250000e-06, wbotc=4.842900e-07)
DIGI_CAL = dict(C1=991.3651, C2=1.01360e-05, C3=-1.18210e-04, D1=0.031072, D2=0.0,
                T1=27.67412, T2=-1.08033e-04, T3=1.03670e-06, T4=1.68749e-09, T5=0.0)
LAT, LON = 46.98, -124.57


def ctd(name: str) -> Callable[..., np.ndarray]:
    return lookup(OWNER, name)


def coefficients(cal: dict[str, float], n: int, tiled: bool) -> dict[str, np.ndarray]:
    if tiled:
        return {k: np.full(n, v) for k, v in cal.items()}
    return {k: np.asarray(v, dtype=np.float64) for k, v in cal.items()}


def raw_inputs(n: int, seed: int = 7) -> dict[str, np.ndarray]:
    """Counts of the various CTDs, with a tidal signal and noise, as int32 (glider: float32)."""
    rng = np.random.default_rng(seed)
    s = np.arange(n, dtype=np.float64)
    wave = np.sin(s / 3600.0)
    tide = np.cos(s / 600.0)

    def counts(base: float, amp: float, noise: int, signal: np.ndarray = wave) -> np.ndarray:
        return (base + amp * signal + rng.integers(-noise, noise + 1, n)).astype(np.int32)

    return {
        "t0": counts(248471, 3000, 50),
        "c0": counts(1673175, 20000, 200),
        "p0": counts(528418, 500, 5, tide),
        "pt0": counts(24303, 20, 2),
        "digi_p0": counts(8833629, 2000, 20, tide),
        "digi_t0": counts(34336, 50, 2),
        "t37": counts(340357, 30000, 50),
        "c37": counts(400000, 20000, 50),
        "p37": counts(2789, 200, 2, tide),
        "t37r": counts(466000, 30000, 50),
        "c37r": counts(1484332, 40000, 50),
        "p37r": counts(632465, 20000, 20, tide),
        "pt37r": counts(1471, 30, 2),
        "t52": counts(200000, 50000, 50),
        "c52": counts(305000, 20000, 50),
        "p52": counts(201000, 50000, 50, tide),
        "glider_bar": (5.0 + 4.0 * tide).astype(np.float32),
    }


def cases(raw: dict[str, np.ndarray], tiled: bool) -> list[tuple[str, Callable[[], np.ndarray]]]:
    """``(label, call)`` for each algorithm; L1 inputs of the L2 products are computed first."""
    n = len(raw["t0"])
    tc, pc, cc = (coefficients(c, n, tiled) for c in (TEMP_CAL, PRES_CAL, COND_CAL))
    t37c, p37c, c37c = (coefficients(c, n, tiled)
                        for c in (SBE37_TEMP_CAL, SBE37_PRES_CAL, SBE37_COND_CAL))
    dc = coefficients(DIGI_CAL, n, tiled)
    lat, lon = (np.full(n, v) if tiled else np.asarray(v) for v in (LAT, LON))
    p_range = np.full(n, 1000.0) if tiled else np.asarray(1000.0)
    t = ctd("ctd_sbe16plus_tempwat")(raw["t0"], **tc).astype(np.float32)
    p = ctd("ctd_sbe16plus_preswat")(raw["p0"], raw["pt0"], **pc).astype(np.float32)
    c = ctd("ctd_sbe16plus_condwat")(raw["c0"], t, p, **cc).astype(np.float32)
    sp = ctd("ctd_pracsal")(c, t, p).astype(np.float32)
    t37 = ctd("ctd_sbe37im_tempwat_instrument_recovered")(raw["t37r"], **t37c).astype(np.float32)
    p37 = ctd("ctd_sbe37im_preswat_instrument_recovered")(
        raw["p37r"], raw["pt37r"], **p37c).astype(np.float32)
    return [
        ("sbe16plus tempwat", lambda: ctd("ctd_sbe16plus_tempwat")(raw["t0"], **tc)),
        ("sbe16plus preswat", lambda: ctd("ctd_sbe16plus_preswat")(raw["p0"], raw["pt0"], **pc)),
        ("sbe16plus condwat", lambda: ctd("ctd_sbe16plus_condwat")(raw["c0"], t, p, **cc)),
        ("sbe16digi preswat", lambda: ctd("ctd_sbe16digi_preswat")(
            raw["digi_p0"], raw["digi_t0"], **dc)),
        ("sbe37im tempwat", lambda: ctd("ctd_sbe37im_tempwat")(raw["t37"])),
        ("sbe37im preswat", lambda: ctd("ctd_sbe37im_preswat")(raw["p37"], p_range)),
        ("sbe37im condwat", lambda: ctd("ctd_sbe37im_condwat")(raw["c37"])),
        ("sbe37im tempwat recovered", lambda: ctd("ctd_sbe37im_tempwat_instrument_recovered")(
            raw["t37r"], **t37c)),
        ("sbe37im preswat recovered", lambda: ctd("ctd_sbe37im_preswat_instrument_recovered")(
            raw["p37r"], raw["pt37r"], **p37c)),
        ("sbe37im condwat recovered", lambda: ctd("ctd_sbe37im_condwat_instrument_recovered")(
            raw["c37r"], t37, p37, **c37c)),
        ("sbe52mp tempwat", lambda: ctd("ctd_sbe52mp_tempwat")(raw["t52"])),
        ("sbe52mp preswat", lambda: ctd("ctd_sbe52mp_preswat")(raw["p52"])),
        ("sbe52mp condwat", lambda: ctd("ctd_sbe52mp_condwat")(raw["c52"])),
        ("glider preswat (float32)", lambda: ctd("ctd_glider_preswat")(raw["glider_bar"])),
        ("pracsal", lambda: ctd("ctd_pracsal")(c, t, p)),
        ("density", lambda: ctd("ctd_density")(sp, t, p, lat, lon)),
        ("chain (T, P, C, SP, rho)", lambda: chain(raw, tc, pc, cc, lat, lon)),
    ]


def chain(raw: dict[str, np.ndarray], tc: dict, pc: dict, cc: dict, lat, lon,
          sl: slice = slice(None)) -> np.ndarray:
    """Density from counts as a cold DAP request computes it (float32 between the steps)."""
    def part(v):
        return v[sl] if isinstance(v, np.ndarray) and v.ndim else v

    tc, pc, cc = ({k: part(v) for k, v in d.items()} for d in (tc, pc, cc))
    t = ctd("ctd_sbe16plus_tempwat")(raw["t0"][sl], **tc).astype(np.float32)
    p = ctd("ctd_sbe16plus_preswat")(raw["p0"][sl], raw["pt0"][sl], **pc).astype(np.float32)
    c = ctd("ctd_sbe16plus_condwat")(raw["c0"][sl], t, p, **cc).astype(np.float32)
    sp = ctd("ctd_pracsal")(c, t, p).astype(np.float32)
    return ctd("ctd_density")(sp, t, p, part(lat), part(lon)).astype(np.float32)


NUMEXPR_TEMP = (
    "log(((t0 - 524288.0) / 1.6e7 * 2.9e9 + 1.024e8) / (2.048e4 - (t0 - 524288.0) / 1.6e7 * 2.0e5))",
    "1.0 / (a0 + L * (a1 + L * (a2 + L * a3))) - 273.15",
)
NUMEXPR_PRES = (
    "ptempa0 + tv * (ptempa1 + tv * ptempa2)",
    "(p0 - ptca0 - t * (ptca1 + t * ptca2)) * ptcb0 / (ptcb0 + t * (ptcb1 + t * ptcb2))",
    "(pa0 + n * (pa1 + n * pa2)) * 0.689475729 - 10.1325",
)


def numexpr_tempwat(t0: np.ndarray, cal: dict) -> np.ndarray:
    log_r = numexpr.evaluate(NUMEXPR_TEMP[0], local_dict={"t0": t0}, global_dict={})
    return numexpr.evaluate(NUMEXPR_TEMP[1], local_dict={"L": log_r, **cal}, global_dict={},
                            out=log_r)


def numexpr_preswat(p0: np.ndarray, pt0: np.ndarray, cal: dict) -> np.ndarray:
    tv = np.divide(pt0, 13107.0, dtype=np.float64)
    t = numexpr.evaluate(NUMEXPR_PRES[0], local_dict={"tv": tv, **cal}, global_dict={}, out=tv)
    n = numexpr.evaluate(NUMEXPR_PRES[1], local_dict={"t": t, "p0": p0, **cal}, global_dict={})
    return numexpr.evaluate(NUMEXPR_PRES[2], local_dict={"n": n, **cal}, global_dict={}, out=n)


def run_all(pool: ThreadPoolExecutor, call: Callable[[slice], object], spans: list[slice]) -> None:
    list(pool.map(call, spans))


def numexpr_rows(big: dict[str, np.ndarray], sizes: list[int], repeats: int, window: int,
                 threads: int) -> dict[str, list[float]]:
    """numexpr variants of two formulas vs the module's, checked equal to 1e-12 first."""
    tc, pc = (coefficients(c, 1, False) for c in (TEMP_CAL, PRES_CAL))
    pairs = {
        "tempwat": (lambda sl: numexpr_tempwat(big["t0"][sl], tc),
                    lambda sl: ctd("ctd_sbe16plus_tempwat")(big["t0"][sl], **tc)),
        "preswat": (lambda sl: numexpr_preswat(big["p0"][sl], big["pt0"][sl], pc),
                    lambda sl: ctd("ctd_sbe16plus_preswat")(big["p0"][sl], big["pt0"][sl], **pc)),
    }
    spans = [slice(i, min(i + window, sizes[0])) for i in range(0, sizes[0], window)]
    pool = ThreadPoolExecutor(max_workers=threads)
    rows: dict[str, list[float]] = {}
    saved = numexpr.get_num_threads()
    try:
        for name, (alternative, ours) in pairs.items():
            np.testing.assert_allclose(alternative(slice(None)), ours(slice(None)), rtol=1e-12)
            for label, call, nthreads in [(f"{name}: numpy in place (module)", ours, saved),
                                          (f"{name}: numexpr, 1 thread", alternative, 1),
                                          (f"{name}: numexpr, 2 threads", alternative, 2)]:
                numexpr.set_num_threads(nthreads)
                rates = [n / best_time(partial(call, slice(0, n)), repeats, 0.3) for n in sizes]
                rates.append(sizes[0] / best_time(partial(run_all, pool, call, spans), repeats, 0.3))
                rows[label] = rates
    finally:
        numexpr.set_num_threads(saved)
        pool.shutdown()
    return rows


def best_time(call: Callable[[], object], repeats: int, min_seconds: float) -> float:
    """Best wall time of one call, over ``repeats`` runs or ``min_seconds``, whichever is longer."""
    call()
    best, spent, runs = float("inf"), 0.0, 0
    while runs < repeats or spent < min_seconds:
        start = time.perf_counter()
        call()
        elapsed = time.perf_counter() - start
        best, spent, runs = min(best, elapsed), spent + elapsed, runs + 1
    return best


def windowed(raw, tiled: bool, window: int, threads: int) -> Callable[[], None]:
    n = len(raw["t0"])
    tc, pc, cc = (coefficients(c, n, tiled) for c in (TEMP_CAL, PRES_CAL, COND_CAL))
    lat, lon = (np.full(n, v) if tiled else np.asarray(v) for v in (LAT, LON))
    spans = [slice(i, min(i + window, n)) for i in range(0, n, window)]
    pool = ThreadPoolExecutor(max_workers=threads)

    def run() -> None:
        list(pool.map(lambda sl: chain(raw, tc, pc, cc, lat, lon, sl), spans))

    return run


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, nargs="+", default=[1_048_576, 65_536])
    parser.add_argument("--repeats", type=int, default=5, help="best of at least this many runs")
    parser.add_argument("--numexpr", action="store_true",
                        help="also time numexpr versions of two formulas (1 and 2 threads)")
    parser.add_argument("--tiled", action="store_true",
                        help="calibration coefficients tiled per record, not 0-d")
    args = parser.parse_args(argv)
    settings = load_settings()
    window, threads = settings.DAP_COMPUTE_RECORDS, settings.DAP_COMPUTE_THREADS
    sizes = sorted(set(args.records), reverse=True)
    print(f"numpy {np.__version__}, numexpr {numexpr.__version__} "
          f"({numexpr.get_num_threads()} threads), {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.2f}, coefficients {'tiled' if args.tiled else '0-d'}")
    results: dict[str, list[float]] = {}
    for n in sizes:
        for label, call in cases(raw_inputs(n), args.tiled):
            seconds = best_time(call, args.repeats, 0.3)
            results.setdefault(label, []).append(n / seconds)
    big = raw_inputs(sizes[0])
    label = f"chain, DAP windows ({window:,} x {threads} threads)"
    results[label] = [sizes[0] / best_time(windowed(big, args.tiled, window, threads),
                                           args.repeats, 0.3)]
    header = "".join(f"{n:>14,}" for n in sizes)
    print(f"{'records/s':<44}{header}")
    for label, rates in results.items():
        print(f"{label:<44}" + "".join(f"{r / 1e6:>13.2f}M" for r in rates))
    if args.numexpr:
        print(f"\n{'records/s':<44}{header}{'DAP windows':>14}")
        for label, rates in numexpr_rows(big, sizes, args.repeats, window, threads).items():
            print(f"{label:<44}" + "".join(f"{r / 1e6:>13.2f}M" for r in rates))
    print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
