"""Quick-look plots on a 10-million-record stream: the whole range and narrow ranges.

Run: ``.venv/bin/python benchmarks/quicklook.py [--records 10000000]``. Never part of the test
suite. The baseline, measured in the same run, is reading the plotted column (and time) of the
same range from the store with nothing else; the plot's figures are ratios against it. "cold"
is the first plot of a freshly opened store (page cache warm from writing, nothing computed
before); "warm" the best of three repeats. Also: a computed product (practical salinity of the
demo CTD, 40,320 records) against computing the same product for the whole range.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from stream_engine import demo  # noqa: E402
from stream_engine.catalog.plot import render  # noqa: E402
from stream_engine.catalog.quicklook import quicklook_series  # noqa: E402
from stream_engine.config import REPO_ROOT, load_settings  # noqa: E402
from stream_engine.engine.compute import compute  # noqa: E402
from stream_engine.engine.resolve import resolve  # noqa: E402
from stream_engine.preload import load_preload  # noqa: E402
from stream_engine.store.base import StreamKey, TimeRange  # noqa: E402
from stream_engine.store.embedded import EmbeddedStore  # noqa: E402

BIG = StreamKey("CE05MOAS", "GL999", "05-CTDGVM000", "recovered_host", "ctdgv_m_glider_instrument_recovered")
START, DT = 3.8e9, 0.5


def timed(fn: Callable[[], object], repeat: int = 5) -> tuple[float, float]:
    """First-run and best-of-``repeat`` wall times."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return times[0], min(times)


def write_big(store: EmbeddedStore, bin_seconds: int, n: int) -> None:
    step = 2_000_000
    for lo in range(0, n, step):
        index = np.arange(lo, min(lo + step, n))
        pressure = 50 + 40 * np.sin(index / 3000.0) + np.random.default_rng(lo).normal(0, 0.5, len(index))
        store.write(BIG, {"time": START + index * DT, "deployment": np.ones(len(index), np.int32),
                          "sci_water_pressure": pressure.astype(np.float32)}, bin_seconds=bin_seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000_000)
    args = parser.parse_args()
    preload = load_preload(REPO_ROOT / "preload_database")
    settings = load_settings(environ={})
    with tempfile.TemporaryDirectory() as folder:
        with EmbeddedStore(Path(folder)) as store:
            demo.fill_demo(store, preload)
            write_big(store, preload.stream(BIG.stream).bin_seconds, args.records)
        with EmbeddedStore(Path(folder)) as store:
            print(f"{'case':44} {'cold s':>8} {'warm s':>8} {'data s':>7} {'draw s':>7} "
                  f"{'baseline s':>11} {'ratio':>6}")
            coverage = store.coverage(BIG)
            span = coverage.last - coverage.first
            for label, lo, hi in (("10M records, whole range", coverage.first, coverage.last),
                                  ("one day (172,800 records)", coverage.first + span / 2,
                                   coverage.first + span / 2 + 86400)):
                window = TimeRange(lo, float(np.nextafter(hi, np.inf)))

                def data(window: TimeRange = window) -> object:
                    return quicklook_series(store, preload, BIG, "sci_water_pressure", window,
                                            settings=settings)

                def plot(window: TimeRange = window) -> bytes:
                    return render(data(window), "benchmark", "png")  # type: ignore[arg-type]

                def read(window: TimeRange = window) -> object:
                    return store.read(BIG, ["sci_water_pressure"], time_range=window)

                cold, warm = timed(plot)
                _, series_time = timed(data)
                series = data()
                _, draw = timed(lambda series=series: render(series, "benchmark", "png"))
                _, base = timed(read)
                print(f"{'plot PNG, ' + label:44} {cold:8.3f} {warm:8.3f} {series_time:7.3f} "
                      f"{draw:7.3f} {base:11.3f} {warm / base:6.2f}")
            key = demo.CTD
            c = store.coverage(key)
            window = TimeRange(c.first, float(np.nextafter(c.last, np.inf)))

            def product_plot() -> bytes:
                series = quicklook_series(store, preload, key, "sea_water_practical_salinity", window,
                                          settings=settings)
                return render(series, "benchmark", "svg")

            def product_compute() -> object:
                plan = resolve(store, preload, key, [p.id for p in preload.stream_parameters(key.stream)
                                                     if p.name == "practical_salinity"], window,
                               settings=settings)
                return compute(store, preload, plan, settings=settings, require_deployment=False,
                               use_cache=False)

            cold, warm = timed(product_plot)
            _, base = timed(product_compute)
            print(f"{'plot SVG, product over 40,320 records':44} {cold:8.3f} {warm:8.3f} {'':7} {'':7} "
                  f"{base:11.3f} {warm / base:6.2f}")


if __name__ == "__main__":
    main()
