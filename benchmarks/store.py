"""Embedded store vs a plain NetCDF4 file, and Cassandra vs the embedded store: ingest rate, full
reads, narrow time-range reads, a cold DAP ``.dods``.

Run: ``.venv/bin/python benchmarks/store.py [--records 1000000] [--big-records 10000000]
[--cassandra HOST:PORT | --no-cassandra]`` (without ``--cassandra`` a node is started for the run).
Never part of the test suite. Prints a compact table; see benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from stream_engine.store.base import IndexRange, StreamKey, TimeRange  # noqa: E402
from stream_engine.store.embedded import EmbeddedStore  # noqa: E402

T0 = 3_913_056_000.0  # 2024-01-01T00:00:00Z in NTP seconds
DAY = 86400


def best_of(fn: Callable[[], object], repeat: int = 3) -> tuple[float, object]:
    """Smallest wall time of ``repeat`` runs (warm page cache), and the last result."""
    best, result = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t)
    return best, result


def records(n: int, hz: float, params: int, seed: int = 0) -> dict[str, np.ndarray]:
    """``n`` records at about ``hz`` (jittered, strictly increasing) with ``params`` float64 columns."""
    rng = np.random.default_rng(seed)
    dt = (1.0 / hz) * (1.0 + 0.05 * rng.standard_normal(n)).clip(0.5, 1.5)
    out = {"time": T0 + np.cumsum(dt), "deployment": np.ones(n, dtype=np.int32)}
    for i in range(params):
        out[f"p{i}"] = rng.standard_normal(n) * 10 + i
    return out


def ingest(store: EmbeddedStore, key: StreamKey, data: dict[str, np.ndarray], batch: int) -> float:
    t = time.perf_counter()
    n = len(data["time"])
    for lo in range(0, n, batch):
        store.write(key, {k: v[lo : lo + batch] for k, v in data.items()}, bin_seconds=DAY)
    return time.perf_counter() - t


def netcdf_write(path: Path, data: dict[str, np.ndarray]) -> float:
    import netCDF4

    t = time.perf_counter()
    with netCDF4.Dataset(path, "w", format="NETCDF4") as ds:
        ds.createDimension("obs", len(data["time"]))
        for name, values in data.items():
            var = ds.createVariable(name, values.dtype, ("obs",), zlib=False)
            var[:] = values
    return time.perf_counter() - t


def netcdf_read(path: Path, names: list[str], mask: bool) -> dict[str, np.ndarray]:
    import netCDF4

    with netCDF4.Dataset(path) as ds:
        ds.set_auto_mask(mask)
        return {name: ds.variables[name][:] for name in names}


def rate(n: int, seconds: float) -> str:
    return f"{n / seconds / 1e6:8.2f} M rec/s  ({seconds * 1000:8.1f} ms)"


def netcdf_and_big(tmp: Path, data: dict[str, np.ndarray], names: list[str],
                   r_emb: float, big_n: int) -> list[tuple[str, str]]:
    """Lines (c) (embedded vs a plain NetCDF4 file) and (d) (10M records, time/index ranges)."""
    rows: list[tuple[str, str]] = []
    n = len(data["time"])
    nc = tmp / "bench.nc"
    wn = netcdf_write(nc, data)
    rows.append(("(c) netCDF4 write (no compression)", rate(n, wn)))
    r_nc, got = best_of(lambda: netcdf_read(nc, names, mask=True))
    assert all(np.array_equal(np.asarray(got[k]), data[k]) for k in names), "netCDF4 read differs"
    rows.append(("(c) netCDF4 full read (default auto-mask)", rate(n, r_nc)))
    r_raw, _ = best_of(lambda: netcdf_read(nc, names, mask=False))
    rows.append(("(c) netCDF4 full read (set_auto_mask(False))", rate(n, r_raw)))
    rows.append(("    read ratio embedded/netCDF4 (default)  [target >= 1.0]", f"{r_nc / r_emb:8.2f} x"))
    rows.append(("    read ratio embedded/netCDF4 (raw)", f"{r_raw / r_emb:8.2f} x"))
    del got

    big = records(big_n, hz=10.0, params=2, seed=1)
    big_key = StreamKey("BENCH01", "NODE01", "01-ADCPTA000", "streamed", "bench_10hz")
    big_store = EmbeddedStore(tmp / "embedded-big")
    w = ingest(big_store, big_key, big, 1_000_000)
    rows.append((f"(d) embedded ingest {big_n:,} x 3 cols, batches of 1,000,000", rate(big_n, w)))
    r_full, _ = best_of(lambda: big_store.read(big_key, ["p0", "p1"]), repeat=2)
    rows.append((f"(d) full read, {len(big_store.partitions(big_key))} bins", rate(big_n, r_full)))
    mid = big_n // 2
    window = TimeRange(float(big["time"][mid]), float(big["time"][mid + big_n // 100]))
    r_tr, got = best_of(lambda: big_store.read(big_key, ["p0", "p1"], time_range=window), repeat=5)
    assert len(got["time"]) == big_n // 100, len(got["time"])
    rows.append(("(d) 1% time-range read", rate(big_n // 100, r_tr)))
    rows.append(("    time-range / full read  [target <= 3%]", f"{100 * r_tr / r_full:8.2f} %"))
    sub = IndexRange(mid, mid + big_n // 100)
    r_ix, got = best_of(lambda: big_store.read(big_key, ["p0", "p1"], index_range=sub), repeat=5)
    rows.append(("(d) 1% index-range read", f"{100 * r_ix / r_full:8.2f} % of full read"))
    big_store.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--big-records", type=int, default=10_000_000)
    parser.add_argument("--batch", type=int, default=100_000, help="records per write() call")
    parser.add_argument("--cassandra", metavar="HOST:PORT", help="a running Cassandra node (default: start one)")
    parser.add_argument("--no-cassandra", action="store_true", help="skip the Cassandra lines (e), (f)")
    parser.add_argument("--only-cassandra", action="store_true", help="skip the NetCDF and 10M lines (c), (d)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="se-bench-"))
    rows: list[tuple[str, str]] = []
    try:
        n = args.records
        data = records(n, hz=1.0, params=10)
        names = list(data)
        key = StreamKey("BENCH01", "NODE01", "01-CTDBPA000", "telemetered", "bench_1hz")
        store = EmbeddedStore(tmp / "embedded")
        w = ingest(store, key, data, args.batch)
        rows.append((f"(a) embedded ingest {n:,} x {len(names)} cols, batches of {args.batch:,}", rate(n, w)))
        parts = store.partitions(key)
        r_emb, got = best_of(lambda: store.read(key))
        assert all(np.array_equal(got[k], data[k]) for k in names), "embedded read differs"
        rows.append((f"(b) embedded full read, {len(parts)} bins", rate(n, r_emb)))
        mid = n // 2
        window = TimeRange(float(data["time"][mid]), float(data["time"][mid + n // 100]))
        r_emb_tr, _ = best_of(lambda: store.read(key, ["p0", "p1"], time_range=window), repeat=5)
        rows.append(("(b) embedded 1% time-range read (2 columns)", rate(n // 100, r_emb_tr)))
        if not args.no_cassandra:
            from store_cassandra import cassandra_node, cold_dods, rates

            embedded = {"ingest": w, "read": r_emb, "range": r_emb_tr}
            with cassandra_node(args.cassandra) as (host, port, what):
                rows.append((f"    cassandra: {what}; load average at start {os.getloadavg()[0]:.1f}", ""))
                rows += rates(n, data, key, host, port, embedded, rate, best_of, args.batch)
                rows += cold_dods(host, port, tmp)

        if not args.only_cassandra:
            rows += netcdf_and_big(tmp, data, names, r_emb, args.big_records)
        store.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"{label:<{width}}  {value}")
    print(f"load average at the end: {os.getloadavg()[0]:.1f} (2 cores)")


if __name__ == "__main__":
    main()
