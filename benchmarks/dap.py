"""Stream Engine's DAP server against pydap's own server, side by side, on the same CTD data.

(a) ``pydap`` (the 3.5.9 console script, stock NetCDF handler, gunicorn gthread) serves a NetCDF4
    file that already holds the products;
(b) ``stream-engine serve`` computes the same products on request from the raw counts that
    ``stream-engine ingest`` stored in a temporary embedded store.

Run: ``.venv/bin/python benchmarks/dap.py [--quick] [--records 14000000]``. Loopback only; both
servers are started on free ports and stopped by the script; the work folder under
``benchmarks/.work/`` is removed at the end (``--keep`` keeps it). pydap's server needs extras the
main venv lacks (``docopt-ng``, ``werkzeug``, ``PasteDeploy``, ``coards``...), so it runs from a
throwaway venv ``benchmarks/.work/pydap-venv`` with ``pydap[server,netcdf]==3.5.9``, created on
first use with pip (``--no-install`` forbids that). See benchmarks/README.md for the method.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from http.client import HTTPException
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from dap_support import data  # noqa: E402
from dap_support.load import Body, Download, Rate, dods_array, download, request_rate  # noqa: E402
from dap_support.servers import MemorySample, MemorySampler, ServerProcess, free_port  # noqa: E402

WORK = HERE / ".work"
PYDAP_VENV = WORK / "pydap-venv"
PYDAP_REQUIREMENT = "pydap[server,netcdf]==3.5.9"
SE_BIN = Path(sys.executable).parent / "stream-engine"
FILE_NAME = "ctd.nc"
OUR_PATH = "/dap/" + "/".join((data.KEY.subsite, data.KEY.node, data.KEY.sensor, data.KEY.method, data.KEY.stream))
PYDAP_PATH = "/" + FILE_NAME
THROUGHPUT_VARS = ("sea_water_practical_salinity", "sea_water_density")
# pydap's stock handler reads a whole variable per Arrayterator block (2**27 bytes by default) and
# breaks on any smaller slice (pydap #130/#184), so a float64 variable may hold at most this many.
PYDAP_MAX_RECORDS = 2**27 // 8
SIDES = ("pydap", "stream engine")


def log(message: str) -> None:
    print(message, flush=True)


def run(argv: list[str], env: dict[str, str], what: str, timeout: float) -> float:
    """Run a setup command, fail loudly with its output; return its wall time."""
    t0 = time.perf_counter()
    proc = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise SystemExit(f"error: {what} failed ({proc.returncode}):\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return time.perf_counter() - t0


def pydap_script(install: bool) -> Path:
    """The ``pydap`` console script of the throwaway venv, created with pip when missing."""
    script = PYDAP_VENV / "bin" / "pydap"
    if script.is_file():
        return script
    if not install:
        raise SystemExit(f"error: {script} is missing and --no-install was given; create it with\n"
                         f"  python -m venv {PYDAP_VENV} && {PYDAP_VENV}/bin/pip install '{PYDAP_REQUIREMENT}'")
    log(f"creating {PYDAP_VENV} with {PYDAP_REQUIREMENT} (pip, once) ...")
    env = dict(os.environ)
    run([sys.executable, "-m", "venv", str(PYDAP_VENV)], env, "python -m venv", 300)
    run([str(PYDAP_VENV / "bin" / "pip"), "install", "-q", PYDAP_REQUIREMENT], env, "pip install", 1200)
    return script


def se_env(work: Path, workers: int, threads: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAM_ENGINE_")}
    env.update(STREAM_ENGINE_DATA_DIR=str(work / "store"), STREAM_ENGINE_LOG_DIR=str(work / "logs"),
               STREAM_ENGINE_PID_FILE=str(work / "stream_engine.pid"),
               STREAM_ENGINE_WORKERS=str(workers), STREAM_ENGINE_THREADS=str(threads),
               STREAM_ENGINE_LOG_LEVEL="WARNING",
               # the default 500 MB cap (like TDS binLimit) would refuse the ~1 GB memory request
               STREAM_ENGINE_DAP_MAX_RESPONSE_BYTES=str(4_000_000_000))
    return env


def servers(work: Path, pydap: Path, workers: int, threads: int, pydap_threads: int,
            tag: str) -> dict[str, ServerProcess]:
    """Both servers, not yet started, on free loopback ports."""
    p1, p2 = free_port(), free_port()
    return {
        "pydap": ServerProcess(
            "pydap", [str(pydap), "--data", str(work / "data"), "--bind", "127.0.0.1", "--port", str(p1),
                      "--workers", str(workers), "--threads", str(pydap_threads), "--worker-class", "gthread"],
            p1, "/", work / f"pydap-{tag}.log", cwd=work),
        "stream engine": ServerProcess(
            "stream engine", [str(SE_BIN), "serve", "--bind", f"127.0.0.1:{p2}"], p2, "/version",
            work / f"stream-engine-{tag}.log", env=se_env(work, workers, threads), cwd=ROOT),
    }


def dds_names(port: int, base: str) -> tuple[int, list[str]]:
    """Status of ``base.dds`` and the variable names it declares."""
    got = download(port, base + ".dds", keep=True, timeout=60)
    text = bytes(got.body or b"").decode("utf-8", "replace")
    return got.status, re.findall(r"^\s*\w+\s+([\w.%-]+)\s*\[", text, re.MULTILINE)


class Table:
    """Rows of (metric, pydap, stream engine, target), printed with the b/a ratio."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, float | None, float | None, str]] = []

    def add(self, metric: str, a: float | None, b: float | None, target: str = "") -> None:
        self.rows.append((metric, a, b, target))

    def render(self) -> str:
        def cell(v: float | None) -> str:
            return "n/a" if v is None else f"{v:,.1f}"

        lines = [f"{'metric':<46} {'pydap (a)':>12} {'stream engine (b)':>18} {'b/a':>7}  target",
                 "-" * 98]
        for metric, a, b, target in self.rows:
            ratio = f"{b / a:.2f}" if a and b is not None else "n/a"
            lines.append(f"{metric:<46} {cell(a):>12} {cell(b):>18} {ratio:>7}  {target}")
        return "\n".join(lines)


def measure_throughput(port: int, base: str, var: str, repeats: int) -> tuple[list[Download], Body]:
    runs = [download(port, f"{base}.dods?{var}", keep=(i == repeats - 1)) for i in range(repeats)]
    bad = [r.status for r in runs if r.status != 200]
    if bad:
        raise RuntimeError(f"GET {base}.dods?{var} answered {bad}")
    return runs, runs[-1].body or b""


def check_values(name: str, body: Body, expected) -> str:
    import numpy as np

    try:
        got = dods_array(body)
    except ValueError as exc:
        return f"{name}: cannot decode ({exc})"
    if got.shape != expected.shape:
        return f"{name}: {got.size} values, expected {expected.size}"
    diff = float(np.nanmax(np.abs(got.astype(np.float64) - expected.astype(np.float64))))
    return f"{name}: {got.dtype.str} x {got.size}, max |diff| vs file {diff:.3g}"


def phase_speed(args: argparse.Namespace, procs: dict[str, ServerProcess], bases: dict[str, str],
                live: dict[str, bool], table: Table, expected: dict) -> None:
    """Whole-variable ``.dods`` throughput and concurrent ``.dds``/``.das`` request rates."""
    for var in THROUGHPUT_VARS:
        cold: dict[str, float | None] = {s: None for s in SIDES}
        warm: dict[str, float | None] = {s: None for s in SIDES}
        for side in SIDES:
            if not live[side]:
                continue
            try:
                runs, body = measure_throughput(procs[side].port, bases[side], var, args.repeats)
            except (RuntimeError, OSError, HTTPException) as exc:
                log(f"  {side:<14} .dods?{var}: failed ({exc}); row left empty")
                continue
            cold[side] = runs[0].mb_per_s
            warm[side] = statistics.median(r.mb_per_s for r in runs[1:] or runs)
            log(f"  {side:<14} .dods?{var}: {runs[0].nbytes / 1e6:.1f} MB, "
                + ", ".join(f"{r.seconds:.2f}s" for r in runs) + f"; {check_values(var, body, expected[var])}")
        table.add(f".dods {var} MB/s, first", cold["pydap"], cold["stream engine"], ">= 2x")
        table.add(f".dods {var} MB/s, median", warm["pydap"], warm["stream engine"], ">= 2x")
    for ext in ("dds", "das"):
        rates: dict[str, float | None] = {s: None for s in SIDES}
        for side in SIDES:
            if not live[side]:
                continue
            rate: Rate = request_rate(procs[side].port, f"{bases[side]}.{ext}", threads=args.clients,
                                      max_requests=args.requests, max_seconds=args.seconds)
            rates[side] = rate.per_second
            log(f"  {side:<14} .{ext}: {rate.ok} ok, {rate.failed} failed in {rate.seconds:.2f}s"
                + (f" (first error: {rate.first_error})" if rate.first_error else ""))
        table.add(f".{ext} req/s, {args.clients} clients", rates["pydap"], rates["stream engine"], ">= 2x")


def phase_memory(args: argparse.Namespace, make: Callable[[], dict[str, ServerProcess]],
                 bases: dict[str, str], projections: dict[str, str], live: dict[str, bool],
                 table: Table) -> None:
    """One large ``.dods`` per side on a freshly started server, its process tree sampled."""
    mem: dict[str, MemorySample | None] = {s: None for s in SIDES}
    speed: dict[str, float | None] = {s: None for s in SIDES}
    size: dict[str, float | None] = {s: None for s in SIDES}
    for side in SIDES:
        if not live[side]:
            continue
        proc = make()[side]
        with proc:
            try:
                with MemorySampler(proc.pid) as sampler:
                    got = download(proc.port, f"{bases[side]}.dods?{projections[side]}", timeout=args.timeout)
            except (OSError, HTTPException) as exc:
                log(f"  {side}: large .dods failed ({exc}); memory rows left empty")
                continue
            mem[side] = sampler.result
        if got.status != 200:
            log(f"  {side}: large .dods answered HTTP {got.status}; memory row left empty")
            mem[side] = None
            continue
        speed[side], size[side] = got.mb_per_s, got.nbytes / 1e6
        m = sampler.result
        log(f"  {side:<14} {got.nbytes / 1e6:,.0f} MB in {got.seconds:.1f}s (first byte {got.first_byte:.2f}s); "
            f"tree RSS {m.start_tree_rss:.0f} MiB idle -> {m.peak_tree_rss:.0f} MiB peak "
            f"({m.peak_tree_anon:.0f} MiB private, {m.samples} samples); worker VmHWM {m.peak_worker_hwm:.0f} MiB")
    table.add("large .dods response MB", size["pydap"], size["stream engine"])
    table.add("large .dods MB/s", speed["pydap"], speed["stream engine"], ">= 2x")

    def peak(side: str, attr: str) -> float | None:
        sample = mem[side]
        return None if sample is None else getattr(sample, attr)

    table.add("peak RSS, master + worker, MiB", peak("pydap", "peak_tree_rss"),
              peak("stream engine", "peak_tree_rss"), "b < 256")
    table.add("peak worker VmHWM, MiB", peak("pydap", "peak_worker_hwm"),
              peak("stream engine", "peak_worker_hwm"), "b < 256")
    table.add("peak RssAnon (private), master + worker, MiB", peak("pydap", "peak_tree_anon"),
              peak("stream engine", "peak_tree_anon"), "b < 256")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small smoke run (200 000 records, short loops)")
    ap.add_argument("--records", type=int, default=14_000_000,
                    help="records in the stream (default 14 000 000: ~1.06 GB for all variables)")
    ap.add_argument("--repeats", type=int, default=4, help="downloads per throughput variable")
    ap.add_argument("--clients", type=int, default=8, help="concurrent client threads for .dds/.das")
    ap.add_argument("--requests", type=int, default=3000, help="most requests per .dds/.das run")
    ap.add_argument("--seconds", type=float, default=15.0, help="longest .dds/.das run")
    ap.add_argument("--workers", type=int, default=2, help="gunicorn workers, both servers")
    ap.add_argument("--threads", type=int, default=4, help="gunicorn threads per Stream Engine worker")
    ap.add_argument("--pydap-threads", type=int, default=1,
                    help="gunicorn threads per pydap worker (default 1: with more, concurrent requests "
                         "crash its workers with SIGSEGV, netCDF4/HDF5 not being thread-safe)")
    ap.add_argument("--timeout", type=float, default=600.0, help="longest single download (s)")
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    ap.add_argument("--no-install", action="store_true", help="never create the pydap venv")
    args = ap.parse_args(argv)
    if args.quick:
        args.records = min(args.records, 200_000)
        args.repeats, args.requests, args.seconds = 2, 400, 5.0
    if not 2 <= args.records <= PYDAP_MAX_RECORDS:
        ap.error(f"--records {args.records} is outside 2..{PYDAP_MAX_RECORDS}: pydap's stock NetCDF "
                 "handler cannot serve a float64 variable above 128 MiB (pydap issues #130/#184)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not SE_BIN.is_file():
        raise SystemExit(f"error: {SE_BIN} not found; run with the project venv: .venv/bin/python {__file__}")
    pydap = pydap_script(not args.no_install)
    WORK.mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="dap-", dir=WORK))
    (work / "data").mkdir()
    try:
        return _run(args, work, pydap)
    finally:
        if args.keep:
            log(f"work folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def _run(args: argparse.Namespace, work: Path, pydap: Path) -> int:
    nc_path, events = work / "data" / FILE_NAME, work / "events.json"
    log(f"load average at the start: {Path('/proc/loadavg').read_text().split()[:3]}")
    log(f"generating {args.records:,} records ({args.records * data.record_bytes() / 1e9:.2f} GB of variables) ...")
    t0 = time.perf_counter()
    data.write_netcdf(nc_path, args.records)
    data.write_asset_events(events, args.records)
    log(f"  {nc_path.stat().st_size / 1e6:,.0f} MB file in {time.perf_counter() - t0:.1f}s")
    env = se_env(work, args.workers, args.threads)
    took = run([str(SE_BIN), "ingest", str(nc_path)], env, "stream-engine ingest", 3600)
    took += run([str(SE_BIN), "assets", "load", str(events)], env, "stream-engine assets load", 300)
    log(f"  stream-engine ingest + assets load: {took:.1f}s")
    expected = data.read_products(nc_path, list(THROUGHPUT_VARS))
    bases = {"pydap": PYDAP_PATH, "stream engine": OUR_PATH}
    table = Table()
    procs = servers(work, pydap, args.workers, args.threads, args.pydap_threads, "speed")
    live, names = {}, {}
    try:
        for side in SIDES:
            procs[side].start()
            status, names[side] = dds_names(procs[side].port, bases[side])
            live[side] = status == 200
            log(f"{side}: {procs[side].argv[0]} on port {procs[side].port}, {bases[side]}.dds -> HTTP {status}, "
                f"{len(names[side])} variables")
        if not live["pydap"]:
            raise SystemExit(f"error: pydap did not serve {PYDAP_PATH}.dds; see {procs['pydap'].log}")
        if not live["stream engine"]:
            log(f"  stream engine has no DAP route yet ({OUR_PATH}.dds); measuring pydap only")
        log(f"speed ({args.workers} gthread workers each; threads: pydap {args.pydap_threads}, "
            f"stream engine {args.threads}):")
        phase_speed(args, procs, bases, live, table, expected)
    finally:
        for proc in procs.values():
            proc.stop()
    shared = [n for n in names["pydap"] if not live["stream engine"] or n in names["stream engine"]]
    projections = {side: ",".join(shared) for side in SIDES}
    log(f"memory (fresh servers with 1 worker; {len(shared)} variables: {', '.join(shared)}):")
    phase_memory(args, lambda: servers(work, pydap, 1, args.threads, args.pydap_threads, "memory"),
                 bases, projections, live, table)
    log("")
    log(table.render())
    log(f"load average at the end: {Path('/proc/loadavg').read_text().split()[:3]} (2 cores, shared machine)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
