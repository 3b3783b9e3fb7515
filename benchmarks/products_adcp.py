"""Every product of an ADCP in beam coordinates for N ensembles of 50 bins: engine vs direct.

Generates a Teledyne RDI ADCP (``adcp_velocity_beam``: beam velocities, percent good and echo
intensity ``(obs, bin)``, compass, pressure; one ensemble a second) into a temporary embedded
store with one deployment (location, deployment depth, beam scale factors), then times

* engine: ``resolve`` + ``compute`` of every product of the stream (east, north, up and error
  velocity profiles, echo intensity of the four beams in dB, bin depths, depth);
* direct: the same registered algorithms on in-memory numpy arrays, products rounded to the
  dictionary's float32 as the engine returns them.

Both sides must give identical values (asserted). The product cache is emptied before every
engine run, so the figures are cold.

Run: ``.venv/bin/python benchmarks/products_adcp.py [N [REPEATS]]`` (also run by
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
from stream_engine.functions.registry import load_families, lookup  # noqa: E402
from stream_engine.preload import load_preload  # noqa: E402
from stream_engine.store.base import StreamKey, TimeRange  # noqa: E402
from stream_engine.store.embedded import EmbeddedStore  # noqa: E402

T0 = 3_684_000_000.0  # 2016-09
BINS = 50
LAT, LON, DEPTH = 45.82, -129.75, 2600.0
SCALE = (0.45, 0.46, 0.47, 0.48)
ADCP = StreamKey("RS03AXBS", "LJ03A", "10-ADCPTE301", "streamed", "adcp_velocity_beam")
PRODUCTS = {
    3819: "eastward_seawater_velocity", 3820: "northward_seawater_velocity",
    3821: "upward_seawater_velocity", 3822: "error_seawater_velocity",
    2769: "corrected_echo_intensity_beam1", 2770: "corrected_echo_intensity_beam2",
    2771: "corrected_echo_intensity_beam3", 2772: "corrected_echo_intensity_beam4",
    7983: "bin_depths", 8090: "depth",
}
AF = "ion_functions.data.adcp_functions"


def _event() -> dict:
    cals = {**{f"CC_scale_factor{k + 1}": SCALE[k] for k in range(4)}, "CC_depth": DEPTH}
    return {
        "eventType": "DEPLOYMENT", "referenceDesignator": ADCP.refdes, "deploymentNumber": 1,
        "eventStartTime": ntp_to_unix_ms(T0 - 3600), "eventStopTime": None,
        "location": {"latitude": LAT, "longitude": LON, "depth": DEPTH},
        "sensor": {"calibration": [
            {"name": k, "calData": [{"value": v, "eventStartTime": ntp_to_unix_ms(T0 - 86400)}]}
            for k, v in cals.items()
        ]},
    }


def generate(n: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(11)
    s = np.arange(n, dtype=np.float64)
    profile = np.linspace(1.0, 0.2, BINS)
    data: dict[str, np.ndarray] = {
        "time": T0 + s,
        "deployment": np.ones(n, np.int32),
        "heading": (8500 + 300 * np.sin(s / 600.0)).astype(np.uint16),
        "pitch": rng.integers(-80, 80, n).astype(np.int16),
        "roll": rng.integers(-40, 40, n).astype(np.int16),
        "sysconfig_vertical_orientation": np.ones(n, np.int8),
        "num_cells": np.full(n, BINS, np.uint8),
        "cell_length": np.full(n, 800, np.uint16),
        "bin_1_distance": np.full(n, 1235, np.uint16),
        "pressure": (2_660_000 + rng.integers(-3000, 3000, n)).astype(np.uint32),
    }
    for k in range(1, 5):
        speed = 200 * np.sin(s / 900.0 + k)[:, None] * profile
        data[f"velocity_beam{k}"] = (speed + rng.normal(0, 30, (n, BINS))).astype(np.int16)
        good = np.where(np.arange(BINS) < 35, 100, rng.integers(0, 60, (n, BINS)))
        data[f"percent_good_beam{k}"] = good.astype(np.uint8)
        data[f"echo_intensity_beam{k}"] = (180 - 2.5 * np.arange(BINS) + rng.integers(0, 5, (n, BINS))).astype(np.uint8)
    return data


def fill(store: EmbeddedStore, preload, data) -> None:
    store.write(ADCP, data, bin_seconds=preload.stream(ADCP.stream).bin_seconds)
    store.put_asset_events(ADCP.refdes, [_event()])


def engine_run(store, preload, settings, time_range) -> dict[str, np.ndarray]:
    plan = resolve(store, preload, ADCP, list(PRODUCTS), time_range, settings=settings)
    out = compute(store, preload, plan, settings=settings)
    return {name: out[name] for name in PRODUCTS.values()}


def direct_run(d: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    f32 = np.float32
    beams = [d[f"velocity_beam{k}"] for k in range(1, 5)] + [d[f"percent_good_beam{k}"] for k in range(1, 5)]
    compass = [d["heading"], d["pitch"], d["roll"], d["sysconfig_vertical_orientation"]]
    out = {
        "eastward_seawater_velocity": lookup(AF, "adcp_beam_eastward")(*beams, *compass, LAT, LON, d["time"]),
        "northward_seawater_velocity": lookup(AF, "adcp_beam_northward")(*beams, *compass, LAT, LON, d["time"]),
        "upward_seawater_velocity": lookup(AF, "adcp_beam_vertical")(*beams, *compass),
        "error_seawater_velocity": lookup(AF, "adcp_beam_error")(*beams),
    }
    for k in range(1, 5):
        out[f"corrected_echo_intensity_beam{k}"] = lookup(AF, "adcp_backscatter")(d[f"echo_intensity_beam{k}"],
                                                                                  SCALE[k - 1])
    select = lookup("ion_functions.data.generic_functions", "select_arg_within_tolerance_of_std")
    depth_of = lookup(AF, "depth_from_pressure_dbar")
    pressure = select(d["pressure"], None, DEPTH, 0.001).astype(f32)
    sensor_depth = select(depth_of(pressure, LAT).astype(f32), DEPTH, DEPTH).astype(f32)
    out["bin_depths"] = lookup(AF, "adcp_bin_depths_meters")(
        d["bin_1_distance"], d["cell_length"], d["num_cells"], sensor_depth, d["sysconfig_vertical_orientation"])
    out["depth"] = depth_of(d["pressure"], LAT, 0.0001)
    return {name: values.astype(f32) for name, values in out.items()}


def main(n: int = 20_000, repeats: int = 3) -> None:
    load_families()
    preload = load_preload(REPO / "preload_database")
    settings = load_settings()
    data = generate(n)
    best = {"engine": math.inf, "direct": math.inf}
    with tempfile.TemporaryDirectory() as tmp, EmbeddedStore(tmp, synchronous="NORMAL") as store:
        fill(store, preload, data)
        time_range = TimeRange(T0, T0 + n)
        engine_run(store, preload, settings, TimeRange(T0, T0 + 100))  # warm-up
        direct_run(generate(100))
        for _ in range(repeats):  # interleaved, best of each: the machine is shared
            shared_cache(settings).clear()
            t = time.perf_counter()
            engine = engine_run(store, preload, settings, time_range)
            best["engine"] = min(best["engine"], time.perf_counter() - t)
            t = time.perf_counter()
            direct = direct_run(data)
            best["direct"] = min(best["direct"], time.perf_counter() - t)
    for name in sorted(direct):
        np.testing.assert_array_equal(engine[name], direct[name], err_msg=f"{name}: engine and direct differ")
    finite = np.isfinite(engine["eastward_seawater_velocity"]).mean()
    print(f"ADCP: {len(direct)} products of {n:,} ensembles x {BINS} bins identical to direct "
          f"(east velocity finite {finite:.1%})")
    e, d = best["engine"], best["direct"]
    print(f"best of {repeats}: engine {e:.3f} s   direct {d:.3f} s   ratio {e / d:.2f}x (target <= 1.5x)")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
