"""Every METBK product of ``metbk_a_dcl_instrument`` for N one-minute records: engine vs direct.

Generates a met buoy (``metbk_a_dcl_instrument``, one record a minute, starting at local solar
midnight so the warm layer runs and the per-minute heat fluxes are computed) and its co-located
current meter (``velpt_ab_dcl_instrument``, one record every 15 minutes) into a temporary embedded
store, with the deployment-4 calibrations of CE02SHSM (``CC_use_velpt`` = 1), then times

* engine: ``resolve`` + ``compute`` of every product of the METBK stream (the VELPT currents
  computed by a sub-plan, corrected for declination and interpolated onto the METBK times);
* direct: the same registered algorithms on in-memory numpy arrays, products rounded to the
  dictionary's float32 as the engine stores them, ``np.interp`` for the currents.

Both sides must give identical values (asserted). The bulk-flux memory of
:mod:`stream_engine.functions.met_fluxes` and the product cache are emptied before every run.

Run: ``.venv/bin/python benchmarks/products_metbk.py [N [REPEATS]]`` (also run by
``benchmarks/products.py``); best of REPEATS interleaved runs, ratio target engine <= 1.5 x direct.
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
from stream_engine.functions.met_fluxes import forget_bulk_results  # noqa: E402
from stream_engine.functions.registry import load_families, lookup  # noqa: E402
from stream_engine.preload import load_preload  # noqa: E402
from stream_engine.store.base import StreamKey, TimeRange  # noqa: E402
from stream_engine.store.embedded import EmbeddedStore  # noqa: E402

LAT, LON = 44.63929, -124.30404
T0 = 3_696_278_400.0 - LON * 240.0  # 2017-02-17, local solar midnight at the buoy
METBK = StreamKey("CE02SHSM", "SBD11", "06-METBKA000", "telemetered", "metbk_a_dcl_instrument")
VELPT = StreamKey("CE02SHSM", "SBD11", "04-VELPTA000", "telemetered", "velpt_ab_dcl_instrument")
MET_CAL = {
    "height_of_air_temperature_measurement_m": 4.034, "height_of_air_humidity_measurement_m": 4.034,
    "height_of_windspeed_sensor_above_sealevel_m": 4.519,
    "depth_of_conductivity_and_temperature_measurements_m": 1.168,
    "zinvpbl": 600.0, "jwarm": 1.0, "jcool": 1.0, "use_velpt": 1.0,
}
MET = "ion_functions.data.met_functions"
VEL = "ion_functions.data.vel_functions"


def _event(refdes: str, cals: dict) -> dict:
    return {
        "eventType": "DEPLOYMENT", "referenceDesignator": refdes, "deploymentNumber": 4,
        "eventStartTime": ntp_to_unix_ms(T0 - 86400), "eventStopTime": None,
        "location": {"latitude": LAT, "longitude": LON, "depth": 1.0},
        "sensor": {"calibration": [
            {"name": f"CC_{k}", "calData": [{"value": v, "eventStartTime": ntp_to_unix_ms(T0 - 86400)}]}
            for k, v in cals.items()
        ]},
    }


def generate(n: int) -> dict[str, dict[str, np.ndarray]]:
    rng = np.random.default_rng(3)
    t = T0 + 60.0 * np.arange(n) + rng.uniform(0, 5, n)
    day = np.sin(2 * np.pi * ((t - T0) / 86400.0 - 0.25))
    f32 = np.float32
    met = {
        "time": t, "deployment": np.full(n, 4, np.int32),
        "barometric_pressure": (1015 + rng.normal(0, 0.3, n)).astype(f32),
        "relative_humidity": (80 + 10 * rng.random(n)).astype(f32),
        "air_temperature": (10 + 2 * day + rng.normal(0, 0.1, n)).astype(f32),
        "longwave_irradiance": (320 + rng.normal(0, 5, n)).astype(f32),
        "precipitation": np.cumsum(rng.random(n) * 0.01).astype(f32),
        "sea_surface_temperature": (11 + 0.5 * day + rng.normal(0, 0.01, n)).astype(f32),
        "sea_surface_conductivity": (3.6 + rng.normal(0, 0.001, n)).astype(f32),
        "shortwave_irradiance": np.clip(900 * day, 0, None).astype(f32),
        "eastward_wind_velocity": (3 + rng.normal(0, 2, n)).astype(f32),
        "northward_wind_velocity": (-2 + rng.normal(0, 2, n)).astype(f32),
    }
    m = n // 15 + 2
    vel = {
        "time": T0 - 300.0 + 900.0 * np.arange(m), "deployment": np.full(m, 4, np.int32),
        "velocity_beam1": rng.integers(-300, 300, m).astype(np.int16),
        "velocity_beam2": rng.integers(-300, 300, m).astype(np.int16),
        "velocity_beam3": rng.integers(-50, 50, m).astype(np.int16),
    }
    return {"met": met, "vel": vel}


def fill(store: EmbeddedStore, preload, data) -> None:
    store.write(METBK, data["met"], bin_seconds=preload.stream(METBK.stream).bin_seconds)
    store.write(VELPT, data["vel"], bin_seconds=preload.stream(VELPT.stream).bin_seconds)
    store.put_asset_events(METBK.refdes, [_event(METBK.refdes, MET_CAL)])
    store.put_asset_events(VELPT.refdes, [_event(VELPT.refdes, {})])


def engine_run(store, preload, settings, time_range) -> dict[str, np.ndarray]:
    products = [p.id for p in preload.stream_parameters(METBK.stream) if p.is_function]
    plan = resolve(store, preload, METBK, products, time_range, settings=settings)
    assert not plan.unavailable, plan.unavailable
    out = compute(store, preload, plan, settings=settings)
    return {step.name: out[step.name] for step in plan.products}


def direct_run(data) -> dict[str, np.ndarray]:
    m, v = data["met"], data["vel"]
    f32 = np.float32
    c = MET_CAL
    ve = lookup(VEL, "velpt_mag_corr_east")(v["velocity_beam1"], v["velocity_beam2"], LAT, LON, v["time"]).astype(f32)
    vn = lookup(VEL, "velpt_mag_corr_north")(v["velocity_beam1"], v["velocity_beam2"], LAT, LON, v["time"]).astype(f32)
    t = m["time"]
    ve_i, vn_i = np.interp(t, v["time"], ve), np.interp(t, v["time"], vn)
    wind = (m["eastward_wind_velocity"], m["northward_wind_velocity"], LAT, LON, t,
            c["height_of_windspeed_sensor_above_sealevel_m"])
    out = {
        "met_barpres": lookup(MET, "met_barpres")(m["barometric_pressure"]),
        "met_windavg_mag_corr_east": lookup(MET, "met_windavg_mag_corr_east")(*wind),
        "met_windavg_mag_corr_north": lookup(MET, "met_windavg_mag_corr_north")(*wind),
        "met_current_direction": lookup(MET, "met_current_direction")(ve_i, vn_i, c["use_velpt"]),
        "met_current_speed": lookup(MET, "met_current_speed")(ve_i, vn_i, c["use_velpt"]),
        "met_netsirr": lookup(MET, "met_netsirr")(m["shortwave_irradiance"]),
        "met_salsurf": lookup(MET, "met_salsurf")(m["sea_surface_conductivity"], m["sea_surface_temperature"],
                                                  c["depth_of_conductivity_and_temperature_measurements_m"]),
        "met_spechum": lookup(MET, "met_spechum")(m["air_temperature"], m["barometric_pressure"],
                                                  m["relative_humidity"]),
    }
    out = {k: x.astype(f32) for k, x in out.items()}
    rel = (out["met_windavg_mag_corr_east"], out["met_windavg_mag_corr_north"], ve_i, vn_i, c["use_velpt"])
    out["met_relwind_direction"] = lookup(MET, "met_relwind_direction")(*rel).astype(f32)
    out["met_relwind_speed"] = lookup(MET, "met_relwind_speed")(*rel).astype(f32)
    fluxes = {
        "tC_sea": m["sea_surface_temperature"], "wnd": out["met_relwind_speed"], "tC_air": m["air_temperature"],
        "relhum": m["relative_humidity"], "timestamp": t, "lon": LON,
        "ztmpwat": c["depth_of_conductivity_and_temperature_measurements_m"],
        "zwindsp": c["height_of_windspeed_sensor_above_sealevel_m"],
        "ztmpair": c["height_of_air_temperature_measurement_m"], "zhumair": c["height_of_air_humidity_measurement_m"],
        "lat": LAT, "pr_air": m["barometric_pressure"], "Rshort_down": m["shortwave_irradiance"],
        "Rlong_down": m["longwave_irradiance"], "cumu_prcp": m["precipitation"], "zinvpbl": c["zinvpbl"],
        "jwarm": c["jwarm"], "jcool": c["jcool"],
    }
    for name in ("heatflx", "latnflx", "netlirr", "sensflx"):
        out[f"met_{name}_minute"] = lookup(MET, f"met_{name}_minute").compute(fluxes).astype(f32)
    return out


def main(n: int = 10_000, repeats: int = 3) -> None:
    load_families()
    preload = load_preload(REPO / "preload_database")
    settings = load_settings()
    data = generate(n)
    best = {"engine": math.inf, "direct": math.inf}
    with tempfile.TemporaryDirectory() as tmp, EmbeddedStore(tmp, synchronous="NORMAL") as store:
        fill(store, preload, data)
        time_range = TimeRange(T0 - 3600, T0 + 60.0 * n + 3600)
        engine_run(store, preload, settings, TimeRange(T0, T0 + 600))  # warm-up
        for _ in range(repeats):  # interleaved, best of each: the machine is shared
            shared_cache(settings).clear()
            forget_bulk_results()
            t = time.perf_counter()
            engine = engine_run(store, preload, settings, time_range)
            best["engine"] = min(best["engine"], time.perf_counter() - t)
            forget_bulk_results()
            t = time.perf_counter()
            direct = direct_run(data)
            best["direct"] = min(best["direct"], time.perf_counter() - t)
    for name in sorted(direct):
        np.testing.assert_array_equal(engine[name], direct[name], err_msg=f"{name}: engine and direct differ")
    finite = np.isfinite(engine["met_heatflx_minute"]).mean()
    print(f"METBK: {len(direct)} products of {n:,} records identical to direct (heat flux finite {finite:.1%})")
    e, d = best["engine"], best["direct"]
    print(f"best of {repeats}: engine {e:.3f} s   direct {d:.3f} s   ratio {e / d:.2f}x (target <= 1.5x)")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
