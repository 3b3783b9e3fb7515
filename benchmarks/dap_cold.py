"""Cold DAP products against their baselines, in one run: how near the hardware a first request is.

On ``dap.py``'s CTD stream (``dap_support/data.py``: raw SBE 16plus counts of two deployments,
their calibrations, and a NetCDF4 file that also holds the products):

* **cold** ``.dods`` of density and of practical salinity from ``stream-engine serve`` (one worker,
  started fresh for each cold request, so nothing computed is in memory or in the shared window
  folder; one ``.dds`` first, so the worker's own start-up, loading the dictionary and opening
  the store, is not counted: it computes nothing), with 1 and with 2 compute threads
  (``DAP_COMPUTE_THREADS``);
* (a) **baseline**: read the same raw counts from the NetCDF4 file with netCDF4, apply the same
  calibrations (numpy) and compute the product with gsw, float32 between steps as the engine
  stores L1 products, encoded big-endian as DAP sends it; in this process;
* (b) **pydap** 3.5.9's stock server serving the precomputed products from the file (first
  ``.dods`` on a fresh server, after one ``.dds``);
* **bare kernels**: the engine's own algorithms (SBE polynomials, compiled TEOS-10 kernels) on the
  same records already in memory, in the same windows (``DAP_COMPUTE_RECORDS``), one thread and
  two: what a request cannot go below;
* **repeat** requests: on the same worker (its window cache), and on another, freshly started
  worker process (the window cache shared through the data folder);
* a **1 GB-class** ``.dods`` of the stored raw variables, and a mixed one (raw + products), cold
  on both servers (the median of 3 fresh servers per side, each after one ``.dds``), with the
  CPU (user + sys) each server spent on it, which the client's share of the cores does not move;
* **DAP4**: a cold ``.dap`` of each product and of the raw and mixed projections beside the
  ``.dods`` (pydap 3.5.9 serves no DAP4 data, so they are compared with its ``.dods`` of the same
  values and with ours), and the ``.dmr`` request rate beside the ``.dds`` one.

The product figures (cold requests on fresh servers, pydap's first request, baseline, bare
kernels) are each the fastest of ``--rounds`` measurements (default 3): on a shared machine
one 0.1 s request is mostly noise. Every Stream Engine response is decoded and compared with
the baseline's values (float32 bits).
``--metadata`` measures only the ``.dds``/``.das``/``.dmr`` request rates, ``--rounds`` rounds of
fresh servers alternating with pydap's (medians), with the CPU per request of each server and of
this process's 8 client threads (which share the 2 cores with the server).
Run: ``.venv/bin/python benchmarks/dap_cold.py [--records 10000000] [--quick] [--metadata]``; it needs the
pydap venv that ``dap.py`` creates. Results are ratios measured in this run; the machine's load
average is printed at the start and the end.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import dap  # noqa: E402
from dap_support import data  # noqa: E402
from dap_support.load import Download, dap_array, dods_array, download, request_rate  # noqa: E402
from dap_support.servers import ServerProcess, free_port, tree_cpu_seconds  # noqa: E402

from dap_handlers.shared_windows import FOLDER  # noqa: E402
from stream_engine import demo  # noqa: E402
from stream_engine.config import load_settings  # noqa: E402
from stream_engine.functions import ctd  # noqa: E402

PRODUCTS = {"density": "sea_water_density", "salinity": "sea_water_practical_salinity"}
RAW_VARS = ("time", "deployment", "internal_timestamp", "driver_timestamp", "ingestion_timestamp",
            "ctd_time", "temperature", "conductivity", "pressure", "pressure_temp")
#: Records per window of the bare kernels: the server's default ``DAP_COMPUTE_RECORDS``.
WINDOW = int(load_settings(environ={})["DAP_COMPUTE_RECORDS"])
#: Cold requests per side for the raw and mixed projections (their median is reported).
RAW_ROUNDS = 3


def log(message: str) -> None:
    print(message, flush=True)


def read_raw(nc_path: Path) -> dict[str, np.ndarray]:
    import netCDF4

    with netCDF4.Dataset(nc_path) as nc:
        nc.set_auto_mask(False)
        return {name: nc.variables[name][:] for name in ("deployment", "temperature", "conductivity",
                                                         "pressure", "pressure_temp")}


def _calibration(number: int) -> dict[str, float]:
    return {k[3:]: v for k, v in demo.CTD_CALIBRATIONS[number - 1].items()}


def _l1(raw: dict[str, np.ndarray], part: slice, c: dict[str, float]) -> tuple[np.ndarray, ...]:
    """Temperature, pressure, conductivity (float32, as the engine keeps L1 products)."""
    t1 = ctd.ctd_sbe16plus_tempwat(raw["temperature"][part], c["a0"], c["a1"], c["a2"], c["a3"]).astype(np.float32)
    p1 = ctd.ctd_sbe16plus_preswat(
        raw["pressure"][part], raw["pressure_temp"][part], c["ptempa0"], c["ptempa1"], c["ptempa2"],
        c["ptca0"], c["ptca1"], c["ptca2"], c["ptcb0"], c["ptcb1"], c["ptcb2"], c["pa0"], c["pa1"], c["pa2"],
    ).astype(np.float32)
    c1 = ctd.ctd_sbe16plus_condwat(raw["conductivity"][part], t1, p1, c["g"], c["h"], c["i"], c["j"],
                                   c["cpcor"], c["ctcor"]).astype(np.float32)
    return t1, p1, c1


def _parts(raw: dict[str, np.ndarray]) -> list[tuple[slice, int]]:
    deployment = raw["deployment"]
    edges = [0, *(np.flatnonzero(deployment[1:] != deployment[:-1]) + 1).tolist(), len(deployment)]
    return [(slice(a, b), int(deployment[a])) for a, b in zip(edges[:-1], edges[1:], strict=True)]


def baseline(nc_path: Path, product: str) -> tuple[float, np.ndarray]:
    """(a): netCDF4 read + numpy calibrations + gsw, big-endian float32 bytes; (seconds, values)."""
    import gsw

    t0 = time.perf_counter()
    raw = read_raw(nc_path)
    out = []
    for part, number in _parts(raw):
        t1, p1, c1 = _l1(raw, part, _calibration(number))
        sp = gsw.SP_from_C(c1.astype(np.float64) * 10.0, t1, p1).astype(np.float32)
        if product == "salinity":
            out.append(sp)
            continue
        sa = gsw.SA_from_SP(sp, p1, demo.LON, demo.LAT)
        out.append(gsw.rho(sa, gsw.CT_from_t(sa, t1, p1), p1).astype(np.float32))
    values = np.concatenate(out)
    values.astype(">f4").tobytes()
    return time.perf_counter() - t0, values


def bare_kernels(raw: dict[str, np.ndarray], product: str, threads: int) -> float:
    """The engine's algorithms alone on in-memory counts, in DAP windows; seconds."""
    def window(job: tuple[slice, int]) -> None:
        part, number = job
        t1, p1, c1 = _l1(raw, part, _calibration(number))
        sp = ctd.ctd_pracsal(c1, t1, p1).astype(np.float32)
        if product == "density":
            ctd.ctd_density(sp, t1, p1, demo.LAT, demo.LON).astype(">f4")
        else:
            sp.astype(">f4")

    jobs = []
    for part, number in _parts(raw):
        for lo in range(part.start, part.stop, WINDOW):
            jobs.append((slice(lo, min(lo + WINDOW, part.stop)), number))
    t0 = time.perf_counter()
    if threads == 1:
        for job in jobs:
            window(job)
    else:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(window, jobs))
    return time.perf_counter() - t0


class Servers:
    """Fresh Stream Engine or pydap servers on the benchmark's data, one at a time."""

    def __init__(self, work: Path, pydap: Path) -> None:
        self.work, self.pydap = work, pydap
        self.count = 0

    def engine(self, compute_threads: int, keep_shared: bool = False) -> ServerProcess:
        """A fresh server; unless ``keep_shared``, with the windows other workers shared removed
        (a cold request then computes everything)."""
        if not keep_shared:
            shutil.rmtree(self.work / "store" / FOLDER, ignore_errors=True)
        self.count += 1
        port = free_port()
        env = dap.se_env(self.work, 1, 4)
        env["STREAM_ENGINE_DAP_COMPUTE_THREADS"] = str(compute_threads)
        return ServerProcess("stream engine", [str(dap.SE_BIN), "serve", "--bind", f"127.0.0.1:{port}"], port,
                             "/version", self.work / f"se-{self.count}.log", env=env, cwd=dap.ROOT)

    def pydap_server(self) -> ServerProcess:
        self.count += 1
        port = free_port()
        return ServerProcess("pydap", [str(self.pydap), "--data", str(self.work / "data"), "--bind", "127.0.0.1",
                                       "--port", str(port), "--workers", "1", "--threads", "1",
                                       "--worker-class", "gthread"],
                             port, "/", self.work / f"pydap-{self.count}.log", cwd=self.work)


def get(server: ServerProcess, path: str, keep: bool = False) -> Download:
    got = download(server.port, path, keep=keep, timeout=1800)
    if got.status != 200:
        raise SystemExit(f"GET {path} answered {got.status}; see {server.log}")
    return got


def dap4_query(variables: tuple[str, ...] | list[str]) -> str:
    """The DAP4 constraint projecting ``variables`` (``;``-separated, URL-encoded)."""
    return "dap4.ce=" + "%3B".join(f"%2F{name}" for name in variables)


def compare(body: bytes | None, want: np.ndarray, dap4: bool = False) -> str:
    got = (dap_array if dap4 else dods_array)(body or b"")
    if got.shape != want.shape:
        return f"{got.size} values, expected {want.size}"
    same = got.astype(np.float32).view(np.uint32) == want.astype(np.float32).view(np.uint32)
    same |= np.isnan(got) & np.isnan(want)
    return "all values bit-identical to the baseline" if same.all() else f"{(~same).sum()} values differ"


def _rate(server: ServerProcess, path: str) -> tuple[float, float, float]:
    """(requests/s, server CPU ms per request, client CPU ms per request) of ``path``, 8 keep-alive
    clients in this process; CPU is user + system of the server's process tree and of this
    process (the clients), over the same span."""
    for _ in range(20):  # the warm-up request_rate also does, outside the CPU window
        download(server.port, path, timeout=30)
    server_cpu, client_cpu = tree_cpu_seconds(server.pid), time.process_time()
    got = request_rate(server.port, path, threads=8, max_requests=3000, max_seconds=10.0, warmup=0)
    if got.failed:
        log(f"  GET {path}: {got.failed} of {got.ok + got.failed} failed ({got.first_error}), not counted")
    server_ms = (tree_cpu_seconds(server.pid) - server_cpu) / got.ok * 1e3
    client_ms = (time.process_time() - client_cpu) / got.ok * 1e3
    return got.per_second, server_ms, client_ms


def metadata_rates(servers: Servers, rounds: int) -> list[tuple[str, float, float, str]]:
    """``.dds``/``.das`` request rates against pydap's and the ``.dmr`` rate, alternating fresh
    servers for ``rounds`` rounds (each figure the median of its rounds; the rows are ratios of
    the medians), with the CPU each side and the clients spent per request."""
    found: dict[str, list[tuple[float, float, float]]] = {}
    for _ in range(rounds):
        for ext in ("dds", "das", "dmr"):
            with servers.engine(2) as server:
                found.setdefault(ext, []).append(_rate(server, f"{dap.OUR_PATH}.{ext}"))
            if ext != "dmr":  # pydap 3.5.9 has no usable DMR of a NetCDF file: compared with .dds
                with servers.pydap_server() as server:
                    found.setdefault(f"pydap {ext}", []).append(_rate(server, f"{dap.PYDAP_PATH}.{ext}"))
    medians = {name: tuple(statistics.median(r[i] for r in runs) for i in range(3)) for name, runs in found.items()}
    for name, (rate, server_ms, client_ms) in medians.items():
        side = name if name.startswith("pydap") else f"stream engine {name}"
        log(f".{side}: {rate:.0f} req/s (rounds: {', '.join(f'{r[0]:.0f}' for r in found[name])}); per request "
            f"CPU {server_ms:.2f} ms in the server, {client_ms:.2f} ms in the 8 clients (this process)")
    rows = [(f".{ext} requests/s vs pydap (inverse rates)", 1 / medians[f"pydap {ext}"][0], 1 / medians[ext][0],
             ">= 3x" if ext == "dds" else "") for ext in ("dds", "das")]
    rows.append((".dmr requests/s vs pydap's .dds (inverse rates)", 1 / medians["pydap dds"][0], 1 / medians["dmr"][0], ""))
    rows.append((".dmr requests/s vs our .dds (inverse rates)", 1 / medians["dds"][0], 1 / medians["dmr"][0], ""))
    for ext in ("dds", "das"):
        rows.append((f".{ext} server CPU per request vs pydap's (ms)", medians[f"pydap {ext}"][1], medians[ext][1], ""))
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=10_000_000)
    ap.add_argument("--quick", action="store_true", help="1,000,000 records")
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    ap.add_argument("--metadata", action="store_true",
                    help="only the .dds/.das/.dmr request rates (and CPU per request), --rounds rounds")
    ap.add_argument("--rounds", type=int, default=3,
                    help="cold product requests (each on a fresh server), baselines and bare kernels "
                         "are measured this many times and the fastest kept (default 3)")
    args = ap.parse_args(argv)
    if args.quick:
        args.records = 1_000_000
    pydap = dap.pydap_script(True)
    dap.WORK.mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="dap-cold-", dir=dap.WORK))
    try:
        return run(args, work, pydap)
    finally:
        if args.keep:
            log(f"work folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def build(work: Path, records: int) -> Path:
    """The benchmark's CTD store in ``work``: ``records`` records written to a NetCDF4 file,
    ingested, with their calibrations loaded; returns the file (the baseline reads it)."""
    (work / "data").mkdir(parents=True, exist_ok=True)
    nc_path, events = work / "data" / dap.FILE_NAME, work / "events.json"
    data.write_netcdf(nc_path, records)
    data.write_asset_events(events, records)
    env = dap.se_env(work, 1, 4)
    dap.run([str(dap.SE_BIN), "ingest", str(nc_path)], env, "stream-engine ingest", 7200)
    dap.run([str(dap.SE_BIN), "assets", "load", str(events)], env, "stream-engine assets load", 600)
    log(f"{records:,} records ingested into {work}")
    return nc_path


def run(args: argparse.Namespace, work: Path, pydap: Path) -> int:
    log(f"load average at the start: {Path('/proc/loadavg').read_text().split()[:3]} (2 cores, shared)")
    nc_path = build(work, args.records)
    servers = Servers(work, pydap)
    rows: list[tuple[str, float, float, str]] = []
    results: dict[str, float] = {}
    rounds = max(1, args.rounds)
    if args.metadata:
        table(metadata_rates(servers, rounds))
        return 0
    raw = read_raw(nc_path)
    for name, var in PRODUCTS.items():
        base_s, want = min((baseline(nc_path, name) for _ in range(rounds)), key=lambda got: got[0])
        k1 = min(bare_kernels(raw, name, 1) for _ in range(rounds))
        k2 = min(bare_kernels(raw, name, 2) for _ in range(rounds))
        log(f"{name}: baseline (netCDF4 + gsw) {base_s:.2f}s; bare kernels {k1:.2f}s (1 thread), {k2:.2f}s (2)")
        cold: dict[int, float] = {}
        for threads in (1, 2):
            for _ in range(rounds):
                with servers.engine(threads) as server:
                    get(server, f"{dap.OUR_PATH}.dds")  # the worker's own start-up, nothing computed
                    first = get(server, f"{dap.OUR_PATH}.dods?{var}", keep=True)
                    cold[threads] = min(cold.get(threads, first.seconds), first.seconds)
                    log(f"  stream engine, {threads} compute thread(s): cold {first.seconds:.2f}s "
                        f"({first.nbytes / 1e6:.0f} MB); {compare(first.body, want)}")
                    if threads == 2:
                        again = get(server, f"{dap.OUR_PATH}.dods?{var}").seconds
                        key = f"{name} repeat same worker"
                        results[key] = min(results.get(key, again), again)
            if threads == 2:
                with servers.engine(threads) as server:  # DAP4, cold as well
                    get(server, f"{dap.OUR_PATH}.dds")
                    first = get(server, f"{dap.OUR_PATH}.dap?{dap4_query([var])}", keep=True)
                    results[f"{name} cold .dap"] = first.seconds
                    log(f"  stream engine, DAP4 .dap, 2 compute threads: cold {first.seconds:.2f}s "
                        f"({first.nbytes / 1e6:.0f} MB); {compare(first.body, want, dap4=True)}")
                with servers.engine(threads, keep_shared=True) as other:
                    results[f"{name} repeat other worker"] = get(other, f"{dap.OUR_PATH}.dods?{var}").seconds
        pydap_times = []
        for _ in range(rounds):
            with servers.pydap_server() as server:
                get(server, f"{dap.PYDAP_PATH}.dds")
                pydap_times.append(get(server, f"{dap.PYDAP_PATH}.dods?{var}").seconds)
        pydap_s = min(pydap_times)
        rows += [
            (f"cold {name} vs baseline (a), 2 threads", base_s, cold[2], ">= 3x" if name == "density" else ""),
            (f"cold {name} vs pydap precomputed (b), 2 threads", pydap_s, cold[2],
             ">= 0.5x" if name == "salinity" else ""),
            (f"bare kernels (1 thread) / whole request (1 thread), {name}", k1, cold[1], ">= 0.77 (<= 1.3x)"),
            (f"cold {name}: 2 compute threads vs 1", cold[1], cold[2], ">= 1.7x"),
            (f"cold DAP4 .dap {name} vs pydap .dods precomputed (b)", pydap_s, results[f"{name} cold .dap"], ""),
            (f"cold DAP4 .dap {name} vs our cold .dods", cold[2], results[f"{name} cold .dap"], ""),
            (f"bare kernels: 2 threads vs 1, {name}", k1, k2, "(hardware)"),
            (f"repeat {name}, same worker vs cold", cold[2], results[f"{name} repeat same worker"], ""),
            (f"repeat {name}, other worker vs cold", cold[2], results[f"{name} repeat other worker"], ""),
        ]
    for label, variables in (("stored raw variables", RAW_VARS),
                             ("mixed: raw + 2 products", (*RAW_VARS, *PRODUCTS.values()))):
        projection = ",".join(variables)
        cold_raw: dict[str, list[float]] = {"ours": [], "dap4": [], "pydap": []}
        cpu: dict[str, list[float]] = {"ours": [], "dap4": [], "pydap": []}  # the server's, per request
        for _ in range(RAW_ROUNDS):  # alternating fresh servers, one .dds first on each (start-up)
            for side, base, request in (("ours", dap.OUR_PATH, f".dods?{projection}"),
                                        ("dap4", dap.OUR_PATH, f".dap?{dap4_query(variables)}"),
                                        ("pydap", dap.PYDAP_PATH, f".dods?{projection}")):
                with servers.pydap_server() if side == "pydap" else servers.engine(2) as server:
                    get(server, f"{base}.dds")
                    before = tree_cpu_seconds(server.pid)
                    got = get(server, base + request)
                    cpu[side].append(tree_cpu_seconds(server.pid) - before)
                cold_raw[side].append(got.seconds)
        ours, ours4, theirs = (statistics.median(cold_raw[k]) for k in ("ours", "dap4", "pydap"))
        log(f"{label} ({got.nbytes / 1e6:,.0f} MB; medians of {RAW_ROUNDS} cold requests, each on a fresh "
            f"server after one .dds): stream engine .dods {ours:.3f}s, .dap {ours4:.3f}s, pydap .dods "
            f"{theirs:.3f}s; all: {', '.join(f'{k} ' + ' '.join(f'{t:.3f}' for t in v) for k, v in cold_raw.items())}; "
            f"server CPU (user + sys): {', '.join(f'{k} ' + ' '.join(f'{t:.2f}' for t in v) for k, v in cpu.items())}")
        rows.append((f"cold .dods of {label}, MB/s vs pydap", theirs, ours,
                     ">= 2x" if label.startswith("stored") else "(reported)"))
        rows.append(("  server CPU of that .dods (user + sys) vs pydap's", statistics.median(cpu["pydap"]),
                     statistics.median(cpu["ours"]), ""))
        rows.append((f"cold DAP4 .dap of {label} vs pydap .dods", theirs, ours4, ""))
        rows.append((f"cold DAP4 .dap of {label} vs our cold .dods", ours, ours4, ""))
    rows += metadata_rates(servers, 1)
    table(rows)
    return 0


def table(rows: list[tuple[str, float, float, str]]) -> None:
    """The comparison table, and the load average at the end."""
    log("")
    log(f"{'comparison (ratio = reference time / stream engine time)':<62} {'ref s':>8} {'ours s':>8} "
        f"{'ratio':>7}  target")
    for label, ref, ours, target in rows:
        log(f"{label:<62} {ref:>8.2f} {ours:>8.2f} {ref / ours:>7.2f}  {target}")
    log(f"load average at the end: {Path('/proc/loadavg').read_text().split()[:3]}")


if __name__ == "__main__":
    sys.exit(main())
