"""The JSON API (and exports) against a do-it-yourself baseline, on the same CTD data.

One run builds a NetCDF4 file of CTD records (``dap_support/data.py``: the demo CTD's raw
SBE 16plus counts plus their products), ingests it into a temporary embedded store and starts
``stream-engine serve`` on a free loopback port. Each *phase* then measures one interface
against a baseline computed in the same run on the same file:

* ``netcdf``: ``POST /netcdf`` for the same two products (a zip of compressed NetCDF4 files, one
  per deployment), against xarray + gsw + ``to_netcdf`` with the same compression; server memory
  exporting a quarter of the records and all of them (it must not grow with the export);
* ``json``: ``POST /particles`` for practical salinity and density of every record (the server
  computes both from the raw counts and the calibrations), against the baseline an
  oceanographer would write: open the file with xarray, compute salinity and density from its
  temperature, conductivity and pressure with gsw (as ``ctd_pracsal`` / ``ctd_density`` do), and
  write the same particles with the standard library's ``json``.

Cold = first request on a freshly started server (nothing in the engine's caches) and the
baseline's first run; cached = the same request repeated. Server memory is the peak resident set
of the server's process tree while the cold request runs, against the response's size.

Run: ``.venv/bin/python benchmarks/api.py [--records 1000000] [--quick] [--phases json] [--repeat 3]``;
``--keep`` keeps the work folder, ``--work DIR`` reuses a kept one (same ``--records``).
More phases are added to :data:`PHASES` (a function ``phase(ctx, table)`` each).
"""

from __future__ import annotations

import argparse
import http.client
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

import numpy as np  # noqa: E402
import orjson  # noqa: E402
from dap_support import data  # noqa: E402
from dap_support.servers import HOST, MemorySampler, ServerProcess, free_port, process_tree  # noqa: E402

WORK = HERE / ".work"
SE_BIN = Path(sys.executable).parent / "stream-engine"
SALINITY, DENSITY = 13, 5
READ_BLOCK = 1 << 20


def log(message: str) -> None:
    print(message, flush=True)


@dataclass
class Context:
    """What every phase gets: the arguments, the work folder, the file, the running server."""

    args: argparse.Namespace
    work: Path
    nc_path: Path
    server: ServerProcess
    restart: Callable[..., ServerProcess]


@dataclass(frozen=True)
class Timed:
    """One run: seconds, bytes written or received, and the body when kept."""

    seconds: float
    nbytes: int
    body: bytes | None = None


class Table:
    """Rows of (metric, baseline, stream engine, target), printed with the ratio."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, float | None, float | None, str, bool]] = []

    def add(self, metric: str, baseline: float | None, ours: float | None, target: str = "",
            invert: bool = False) -> None:
        """``invert``: the ratio is baseline/ours (for times, lower is better)."""
        self.rows.append((metric, baseline, ours, target, invert))

    def render(self) -> str:
        def cell(v: float | None) -> str:
            return "n/a" if v is None else f"{v:,.2f}"

        lines = [f"{'metric':<52} {'baseline':>12} {'stream engine':>14} {'ratio':>7}  target", "-" * 104]
        for metric, a, b, target, invert in self.rows:
            ratio = "n/a" if not a or not b else f"{(a / b if invert else b / a):.2f}"
            lines.append(f"{metric:<52} {cell(a):>12} {cell(b):>14} {ratio:>7}  {target}")
        return "\n".join(lines)


def run(argv: list[str], env: dict[str, str], what: str, timeout: float) -> None:
    proc = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise SystemExit(f"error: {what} failed ({proc.returncode}):\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")


def se_env(work: Path) -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAM_ENGINE_")}
    env.update(STREAM_ENGINE_DATA_DIR=str(work / "store"), STREAM_ENGINE_LOG_DIR=str(work / "logs"),
               STREAM_ENGINE_PID_FILE=str(work / "stream_engine.pid"), STREAM_ENGINE_WORKERS="1",
               STREAM_ENGINE_THREADS="2", STREAM_ENGINE_LOG_LEVEL="WARNING")
    return env


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by ``pid`` and its live descendants."""
    import os

    total = 0
    for member in process_tree(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / os.sysconf("SC_CLK_TCK")


def post(port: int, path: str, body: dict, *, keep: bool = False, timeout: float = 1800.0) -> Timed:
    """POST ``body`` and read the answer in 1 MiB blocks; fails loudly on a non-200."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        t0 = time.perf_counter()
        conn.request("POST", path, body=orjson.dumps(body), headers={"Content-Type": "application/json"})
        res = conn.getresponse()
        parts, nbytes = [], 0
        while block := res.read(READ_BLOCK):
            nbytes += len(block)
            if keep:
                parts.append(block)
        seconds = time.perf_counter() - t0
        if res.status != 200:
            raise SystemExit(f"error: POST {path} answered {res.status}: {b''.join(parts)[:500]!r}")
        return Timed(seconds, nbytes, b"".join(parts) if keep else None)
    finally:
        conn.close()


# -- JSON ---------------------------------------------------------------------------------------


def particles_body() -> dict:
    key = data.KEY
    return {"streams": [{"subsite": key.subsite, "node": key.node, "sensor": key.sensor,
                         "method": key.method, "stream": key.stream, "parameters": [SALINITY, DENSITY]}],
            "start": data.START - 1.0, "stop": data.START + 400 * 86400.0}


def gsw_products(ds) -> tuple[np.ndarray, np.ndarray]:
    """Practical salinity and density from an opened file's L1 values, with gsw (the
    baseline's computation, as ``ctd_pracsal`` / ``ctd_density`` do)."""
    import gsw

    t = ds["sea_water_temperature"].values.astype(np.float64)
    c = ds["sea_water_electrical_conductivity"].values.astype(np.float64)
    p = ds["sea_water_pressure"].values.astype(np.float64)
    lat, lon = float(ds.attrs["lat"]), float(ds.attrs["lon"])
    salinity = gsw.SP_from_C(c * 10.0, t, p)
    absolute = gsw.SA_from_SP(salinity, p, lon, lat)
    return salinity, gsw.rho(absolute, gsw.CT_from_t(absolute, t, p), p)


def differences(got: dict[str, np.ndarray], nc_path: Path) -> str:
    """Largest difference of salinity and density from the file's stored products."""
    stored = data.read_products(nc_path, list(got))
    worst = [float(np.max(np.abs(got[name].astype(np.float32) - stored[name]))) for name in got]
    return f"max |difference| from the file's products: salinity {worst[0]:.2e}, density {worst[1]:.2e}"


def baseline_json(nc_path: Path, out: Path) -> Timed:
    """xarray + gsw + the standard library's json: the same particles as ``/particles``."""
    import xarray as xr

    t0 = time.perf_counter()
    key = data.KEY
    with xr.open_dataset(nc_path, decode_times=False, mask_and_scale=False) as ds:
        times = ds["time"].values
        deployment = ds["deployment"].values
        salinity, density = gsw_products(ds)
    pk = {"subsite": key.subsite, "node": key.node, "sensor": key.sensor, "method": key.method,
          "stream": key.stream}
    particles = [
        {"time": tt, "sea_water_practical_salinity": s, "sea_water_density": d,
         "pk": {**pk, "time": tt, "deployment": n}}
        for tt, s, d, n in zip(times.tolist(), salinity.astype(np.float32).tolist(),
                               density.astype(np.float32).tolist(), deployment.tolist(), strict=True)
    ]
    with open(out, "w") as f:
        json.dump(particles, f)
    return Timed(time.perf_counter() - t0, out.stat().st_size)


def check_particles(body: bytes, nc_path: Path, records: int) -> str:
    """Compare the response's salinity and density with the file's stored products."""
    particles = orjson.loads(body)
    if len(particles) != records:
        raise SystemExit(f"error: /particles returned {len(particles)} particles for {records} records")
    return differences({name: np.array([p[name] for p in particles], dtype=np.float32)
                        for name in ("sea_water_practical_salinity", "sea_water_density")}, nc_path)


def on_fresh_server(ctx: Context, path: str, body: dict,
                    settings: dict[str, str] | None = None) -> tuple[Timed, ServerProcess, Any]:
    """``POST path`` as the first request of a freshly started server (``settings``: extra
    ``STREAM_ENGINE_*`` variables): the timing, the server and the memory sample taken while
    the request ran."""
    server = ctx.restart(settings)
    with MemorySampler(server.pid) as sampler:
        timed = post(server.port, path, body)
    return timed, server, sampler.result


def phase_json(ctx: Context, table: Table) -> None:
    records = ctx.args.records
    out = ctx.work / "baseline.json"
    base = [baseline_json(ctx.nc_path, out) for _ in range(2)]
    out.unlink()
    cold, server, memory = on_fresh_server(ctx, "/particles", particles_body())
    cached = post(server.port, "/particles", particles_body(), keep=True)
    log(f"  {check_particles(cached.body or b'', ctx.nc_path, records)}")
    mb = cold.nbytes / 1e6
    log(f"  response {mb:,.1f} MB; baseline file {base[0].nbytes / 1e6:,.1f} MB")
    table.add("JSON cold: records/s (thousands)", records / base[0].seconds / 1e3,
              records / cold.seconds / 1e3, ">= 2x")
    table.add("JSON cached: records/s (thousands)", records / base[1].seconds / 1e3,
              records / cached.seconds / 1e3, ">= 2x")
    table.add("JSON response size (MB)", base[0].nbytes / 1e6, mb)
    peak = memory.peak_tree_rss
    table.add("server peak RSS during cold request (MB) / response MB", mb, peak * 1.048576,
              "< 2x (ratio = peak / response)")
    table.add("server RSS before the request (MiB)", None, memory.start_tree_rss)


# -- NetCDF -------------------------------------------------------------------------------------


def baseline_netcdf(nc_path: Path, out: Path) -> Timed:
    """xarray + gsw + ``to_netcdf`` (zlib level 1 with shuffle, as the export): the same two
    products as ``POST /netcdf`` writes."""
    import xarray as xr

    t0 = time.perf_counter()
    with xr.open_dataset(nc_path, decode_times=False, mask_and_scale=False) as ds:
        salinity, density = gsw_products(ds)
        result = xr.Dataset({
            "time": ("obs", ds["time"].values), "deployment": ("obs", ds["deployment"].values),
            "sea_water_practical_salinity": ("obs", salinity.astype(np.float32), {"units": "1"}),
            "sea_water_density": ("obs", density.astype(np.float32), {"units": "kg m-3"}),
        })
        encoding = {name: {"zlib": True, "complevel": 1, "shuffle": True} for name in result.data_vars}
        result.to_netcdf(out, format="NETCDF4", encoding=encoding)
    return Timed(time.perf_counter() - t0, out.stat().st_size)


def check_netcdf_zip(body: bytes, nc_path: Path, records: int) -> str:
    """Compare the zip's salinity and density with the file's stored products."""
    import io
    import zipfile

    import netCDF4

    values: dict[str, list[np.ndarray]] = {"sea_water_practical_salinity": [], "sea_water_density": []}
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        for name in sorted(archive.namelist()):
            with netCDF4.Dataset("export.nc", memory=archive.read(name)) as nc:
                nc.set_auto_mask(False)
                for var, parts in values.items():
                    parts.append(nc[var][:])
    got = {name: np.concatenate(parts) for name, parts in values.items()}
    if any(len(v) != records for v in got.values()):
        raise SystemExit(f"error: /netcdf wrote {len(got['sea_water_density'])} records of {records}")
    return differences(got, nc_path)


def phase_netcdf(ctx: Context, table: Table) -> None:
    """``--repeat`` rounds, each: the baseline twice (cold = its first run in the round), a fresh
    server's first ``/netcdf`` (cold) and the same request again (cached); medians reported.
    Interleaving keeps the machine's load drift out of the ratios; the baseline's libraries
    (xarray, gsw, netCDF4) are imported before timing, as the server's are at worker start."""
    import statistics

    import gsw  # noqa: F401
    import netCDF4  # noqa: F401
    import xarray  # noqa: F401

    records = ctx.args.records
    out = ctx.work / "baseline.nc"
    quarter_body = {**particles_body(), "stop": data.START + records / 4}
    _, _, quarter = on_fresh_server(ctx, "/netcdf", quarter_body)
    base_cold, base_cached, cold, cached = [], [], [], []
    cpu: dict[str, list[float]] = {"base_cold": [], "base_cached": [], "cold": [], "cached": []}
    memory = None
    for round_number in range(max(1, ctx.args.repeat)):
        before = time.process_time()
        first = baseline_netcdf(ctx.nc_path, out)
        middle = time.process_time()
        second = baseline_netcdf(ctx.nc_path, out)
        cpu["base_cold"].append(middle - before)
        cpu["base_cached"].append(time.process_time() - middle)
        base_cold.append(first.seconds)
        base_cached.append(second.seconds)
        server = ctx.restart()
        used = tree_cpu_seconds(server.pid)
        with MemorySampler(server.pid) as sampler:
            timed = post(server.port, "/netcdf", particles_body())
        memory = memory or sampler.result
        cpu["cold"].append(tree_cpu_seconds(server.pid) - used)
        cold.append(timed.seconds)
        used = tree_cpu_seconds(server.pid)
        again = post(server.port, "/netcdf", particles_body(), keep=round_number == 0)
        cpu["cached"].append(tree_cpu_seconds(server.pid) - used)
        cached.append(again.seconds)
        if round_number == 0:
            log(f"  {check_netcdf_zip(again.body or b'', ctx.nc_path, records)}")
            log(f"  zip {timed.nbytes / 1e6:,.1f} MB; baseline file {first.nbytes / 1e6:,.1f} MB")
        log(f"  round {round_number + 1}: baseline {first.seconds:.2f} s / {second.seconds:.2f} s, "
            f"/netcdf cold {timed.seconds:.2f} s, cached {again.seconds:.2f} s")
    out.unlink()
    median = statistics.median
    table.add("NetCDF cold: records/s (thousands), median", records / median(base_cold) / 1e3,
              records / median(cold) / 1e3, ">= 1.5x")
    table.add("NetCDF cached: records/s (thousands), median", records / median(base_cached) / 1e3,
              records / median(cached) / 1e3, ">= 1.5x")
    table.add("  CPU seconds, cold (baseline process / server), median", median(cpu["base_cold"]),
              median(cpu["cold"]), "(ratio = baseline / server)", invert=True)
    table.add("  CPU seconds, cached (baseline process / server), median", median(cpu["base_cached"]),
              median(cpu["cached"]), "(ratio = baseline / server)", invert=True)
    assert memory is not None
    table.add("NetCDF server peak RSS (MiB): 1/4 of the records vs all", quarter.peak_tree_rss,
              memory.peak_tree_rss, "bounded (ratio near 1)")
    no_cache = {"STREAM_ENGINE_COMPUTE_CACHE_BYTES": "0"}  # what grows above is the product cache
    _, _, quarter = on_fresh_server(ctx, "/netcdf", quarter_body, no_cache)
    _, _, whole = on_fresh_server(ctx, "/netcdf", particles_body(), no_cache)
    table.add("  the same, product cache off (MiB)", quarter.peak_tree_rss, whole.peak_tree_rss,
              "bounded (ratio near 1)")


PHASES: dict[str, Callable[[Context, Table], None]] = {"json": phase_json, "netcdf": phase_netcdf}


# -- driver ---------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--records", type=int, default=1_000_000, help="CTD records (default 1,000,000)")
    ap.add_argument("--quick", action="store_true", help="100,000 records")
    ap.add_argument("--phases", default=",".join(PHASES), help=f"comma-separated, of {', '.join(PHASES)}")
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    ap.add_argument("--repeat", type=int, default=3, help="rounds of the netcdf phase (medians reported)")
    ap.add_argument("--work", type=Path, help="reuse this kept work folder (skips generating and ingesting)")
    args = ap.parse_args(argv)
    if args.quick:
        args.records = min(args.records, 100_000)
    unknown = set(args.phases.split(",")) - set(PHASES)
    if unknown:
        ap.error(f"unknown phases {sorted(unknown)}; known: {', '.join(PHASES)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not SE_BIN.is_file():
        raise SystemExit(f"error: {SE_BIN} not found; run with the project venv: .venv/bin/python {__file__}")
    WORK.mkdir(exist_ok=True)
    if args.work is not None:
        return _run(args, args.work.resolve(), reuse=True)
    work = Path(tempfile.mkdtemp(prefix="api-", dir=WORK))
    try:
        return _run(args, work)
    finally:
        if args.keep:
            log(f"work folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def _run(args: argparse.Namespace, work: Path, reuse: bool = False) -> int:
    log(f"load average at the start: {Path('/proc/loadavg').read_text().split()[:3]}")
    nc_path, events = work / "ctd.nc", work / "events.json"
    env = se_env(work)
    if not reuse:
        log(f"generating {args.records:,} CTD records, ingesting them ...")
        data.write_netcdf(nc_path, args.records)
        data.write_asset_events(events, args.records)
        run([str(SE_BIN), "ingest", str(nc_path)], env, "stream-engine ingest", 3600)
        run([str(SE_BIN), "assets", "load", str(events)], env, "stream-engine assets load", 300)
    servers: list[ServerProcess] = []

    def restart(settings: dict[str, str] | None = None) -> ServerProcess:
        for old in servers:
            old.stop()
        port = free_port()
        server = ServerProcess("stream engine", [str(SE_BIN), "serve", "--bind", f"{HOST}:{port}"], port,
                               "/version", work / "server.log", env={**env, **(settings or {})}, cwd=ROOT).start()
        servers.append(server)
        return server

    table = Table()
    try:
        ctx = Context(args, work, nc_path, restart(), restart)
        for name in args.phases.split(","):
            log(f"{name}:")
            PHASES[name](ctx, table)
    finally:
        for server in servers:
            server.stop()
    log("")
    log(table.render())
    log(f"load average at the end: {Path('/proc/loadavg').read_text().split()[:3]} (2 cores, shared machine)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
