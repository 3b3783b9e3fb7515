"""Salinity, density and corrected oxygen for 1,000,000 records: engine vs direct numpy/gsw.

Generates a CTD (``ctdbp_cdef_instrument_recovered``, raw counts) and an optode
(``dosta_abcdjm_dcl_instrument_recovered``) of N records each (1 Hz, the optode offset by half a
second) into a temporary embedded store with one deployment of calibrations each, then times

* engine: ``resolve`` + ``compute`` of ``practical_salinity`` and ``density`` on the CTD and of
  ``dissolved_oxygen`` on the optode (CTD T/S/P computed by a sub-plan and interpolated);
* direct: the same registered algorithms called on in-memory numpy arrays, with ``np.interp`` for
  the CTD values on optode times.

The engine runs with the configured settings, so with the product cache
(``COMPUTE_CACHE_BYTES``): the optode's external sub-plan reuses the CTD temperature, pressure and
salinity the CTD request has just computed on the same records, as the direct run computes them
once. For reference the engine is timed again with the cache off. Both sides must give identical
values (asserted).

Run: ``.venv/bin/python benchmarks/products.py [N [REPEATS [METBK_N [METBK_REPEATS [ADCP_N
[ADCP_REPEATS]]]]]]``; it then runs ``benchmarks/products_metbk.py`` (every METBK product, 10,000
one-minute records by default) and ``benchmarks/products_adcp.py`` (every ADCP product, 20,000
ensembles of 50 bins by default). Engine and direct runs are
interleaved REPEATS times (default 3, the cache emptied before each engine run) and the best time
of each is reported, with the ratio (target: engine <= 1.5 x direct).
"""

from __future__ import annotations

import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from stream_engine.assets import ntp_to_unix_ms  # noqa: E402
from stream_engine.config import load_settings  # noqa: E402
from stream_engine.engine.cache import shared_cache  # noqa: E402
from stream_engine.engine.compute import compute  # noqa: E402
from stream_engine.engine.resolve import resolve  # noqa: E402
from stream_engine.functions.registry import load_families, lookup  # noqa: E402
from stream_engine.preload import load_preload  # noqa: E402
from stream_engine.store.base import StreamKey, TimeRange  # noqa: E402
from stream_engine.store.embedded import EmbeddedStore  # noqa: E402

T0 = 3_700_000_000.0
CTD = StreamKey("CE07SHSM", "MFD37", "03-CTDBPC000", "recovered_inst", "ctdbp_cdef_instrument_recovered")
OPT = StreamKey("CE07SHSM", "MFD37", "04-DOSTAD000", "recovered_host", "dosta_abcdjm_dcl_instrument_recovered")
CTD_CAL = dict(
    a0=1.281651e-3, a1=2.706002e-4, a2=-1.027561e-6, a3=1.749446e-7,
    ptempa0=-6.87701000e001, ptempa1=5.05406200e001, ptempa2=-2.15672900e-001,
    ptca0=5.24965500e005, ptca1=7.23620100e000, ptca2=-9.94485900e-002,
    ptcb0=2.51220000e001, ptcb1=-2.00000000e-004, ptcb2=0.0,
    pa0=1.73472300e000, pa1=1.57475000e-002, pa2=-6.51927800e-010,
    g=-9.72193700e-001, h=1.38675900e-001, i=-1.08398500e-004, j=2.63219300e-005,
    cpcor=-9.57000000e-008, ctcor=3.2500e-006,
)
OPT_CAL = dict(csv=[0.002848, 0.000114, 1.51e-6, 70.42301, -0.10302, -12.9462, 1.265377], conc_coef=[0.0, 1.0])
LAT, LON = 46.98, -124.57


def _event(refdes: str, cals: dict) -> dict:
    return {
        "eventType": "DEPLOYMENT", "referenceDesignator": refdes, "deploymentNumber": 1,
        "eventStartTime": ntp_to_unix_ms(T0 - 3600), "eventStopTime": None,
        "location": {"latitude": LAT, "longitude": LON, "depth": 87.0},
        "sensor": {"calibration": [
            {"name": f"CC_{k}", "calData": [{"value": v, "eventStartTime": ntp_to_unix_ms(T0 - 86400)}]}
            for k, v in cals.items()
        ]},
    }


def generate(n: int) -> dict[str, dict[str, np.ndarray]]:
    rng = np.random.default_rng(7)
    s = np.arange(n, dtype=np.float64)
    wave = np.sin(s / 3600.0)
    ctd = {
        "time": T0 + s,
        "deployment": np.ones(n, np.int32),
        "temperature": (248471 + 3000 * wave + rng.integers(-50, 50, n)).astype(np.int32),
        "conductivity": (1673175 + 20000 * wave + rng.integers(-200, 200, n)).astype(np.int32),
        "pressure": (528418 + 500 * np.cos(s / 600.0)).astype(np.int32),
        "pressure_temp": np.full(n, 24303, np.int32),
    }
    opt = {
        "time": T0 + 0.5 + s,
        "deployment": np.ones(n, np.int32),
        "calibrated_phase": (40.0 + 5.0 * wave + rng.normal(0, 0.05, n)).astype(np.float32),
        "optode_temperature": (15.0 + 3.0 * wave).astype(np.float32),
        "estimated_oxygen_concentration": np.full(n, 250.0, np.float32),
    }
    return {"ctd": ctd, "opt": opt}


def fill(store: EmbeddedStore, preload, data) -> None:
    store.write(CTD, data["ctd"], bin_seconds=preload.stream(CTD.stream).bin_seconds)
    store.write(OPT, data["opt"], bin_seconds=preload.stream(OPT.stream).bin_seconds)
    store.put_asset_events(CTD.refdes, [_event(CTD.refdes, CTD_CAL)])
    store.put_asset_events(OPT.refdes, [_event(OPT.refdes, OPT_CAL)])


def engine_run(store, preload, settings, time_range):
    ctd_plan = resolve(store, preload, CTD, [13, 5], time_range, settings=settings)
    opt_plan = resolve(store, preload, OPT, [14], time_range, settings=settings)
    ctd_out = compute(store, preload, ctd_plan, settings=settings)
    opt_out = compute(store, preload, opt_plan, settings=settings)
    return ctd_out["practical_salinity"], ctd_out["density"], opt_out["dissolved_oxygen"]


def direct_run(data):
    ctd_f = "ion_functions.data.ctd_functions"
    c, o = data["ctd"], data["opt"]
    cal = CTD_CAL
    t = lookup(ctd_f, "ctd_sbe16plus_tempwat")(c["temperature"], cal["a0"], cal["a1"], cal["a2"], cal["a3"])
    p = lookup(ctd_f, "ctd_sbe16plus_preswat")(
        c["pressure"], c["pressure_temp"], *(cal[k] for k in (
            "ptempa0", "ptempa1", "ptempa2", "ptca0", "ptca1", "ptca2", "ptcb0", "ptcb1", "ptcb2",
            "pa0", "pa1", "pa2")))
    t, p = t.astype(np.float32), p.astype(np.float32)
    cond = lookup(ctd_f, "ctd_sbe16plus_condwat")(
        c["conductivity"], t, p, cal["g"], cal["h"], cal["i"], cal["j"], cal["cpcor"], cal["ctcor"]
    ).astype(np.float32)
    sp = lookup(ctd_f, "ctd_pracsal")(cond, t, p).astype(np.float32)
    rho = lookup(ctd_f, "ctd_density")(sp, t, p, LAT, LON).astype(np.float32)
    do = lookup("ion_functions.data.do2_functions", "do2_SVU")(
        o["calibrated_phase"], o["optode_temperature"], np.asarray(OPT_CAL["csv"]), OPT_CAL["conc_coef"]
    ).astype(np.float32)
    ti = o["time"]
    doxy = lookup("ion_functions.data.do2_functions", "do2_salinity_correction")(
        do, np.interp(ti, c["time"], p), np.interp(ti, c["time"], t), np.interp(ti, c["time"], sp), LAT, LON)
    return sp, rho, doxy.astype(np.float32)


def main(n: int = 1_000_000, repeats: int = 3) -> None:
    load_families()
    preload = load_preload(REPO / "preload_database")
    settings = load_settings()
    no_cache = settings.replace(COMPUTE_CACHE_BYTES=0)
    cache = shared_cache(settings)
    data = generate(n)
    best = {"engine": math.inf, "direct": math.inf, "uncached": math.inf}
    with tempfile.TemporaryDirectory() as tmp, EmbeddedStore(tmp, synchronous="NORMAL") as store:
        t = time.perf_counter()
        fill(store, preload, data)
        print(f"wrote {n:,} CTD + {n:,} optode records in {time.perf_counter() - t:.2f} s")
        time_range = TimeRange(T0, T0 + n)
        engine_run(store, preload, settings, TimeRange(T0, T0 + 1000))  # warm-up
        direct_run(generate(1000))
        for _ in range(repeats):  # interleaved, best of each: the machine is shared
            shared_cache(settings).clear()  # nothing carries over from an earlier repetition
            hits = cache.hits
            t = time.perf_counter()
            engine = engine_run(store, preload, settings, time_range)
            best["engine"] = min(best["engine"], time.perf_counter() - t)
            hits, held, bound = cache.hits - hits, cache.nbytes, cache.max_bytes
            t = time.perf_counter()
            direct = direct_run(data)
            best["direct"] = min(best["direct"], time.perf_counter() - t)
            t = time.perf_counter()
            uncached = engine_run(store, preload, no_cache, time_range)
            best["uncached"] = min(best["uncached"], time.perf_counter() - t)
    for name, a, b, c in zip(("practical_salinity", "density", "dissolved_oxygen"), engine, direct, uncached,
                             strict=True):
        assert a.shape == b.shape == (n,), (name, a.shape, b.shape)
        np.testing.assert_array_equal(a, b, err_msg=f"{name}: engine and direct differ")
        np.testing.assert_array_equal(a, c, err_msg=f"{name}: engine with and without the cache differ")
        print(f"  {name:20s} finite {np.isfinite(a).mean():6.1%}  identical to direct")
    print(f"product cache: {hits} hit(s) per engine run, {held / 2**20:.0f} MiB held (bound {bound / 2**20:.0f} MiB)")
    e, d, u = best["engine"], best["direct"], best["uncached"]
    print(f"best of {repeats}: engine without cache {u:.3f} s ({u / d:.2f}x)")
    print(f"best of {repeats}: engine {e:.3f} s   direct {d:.3f} s   ratio {e / d:.2f}x (target <= 1.5x)")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
    from products_metbk import main as metbk_main  # the METBK family, on its own record count

    metbk_main(*(int(a) for a in sys.argv[3:5]))
    from products_adcp import main as adcp_main  # ADCP profiles, on its own ensemble count

    adcp_main(*(int(a) for a in sys.argv[5:7]))
