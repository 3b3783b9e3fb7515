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
* **engine alone**: the same cold body made in a fresh process of its own, with no HTTP and no
  client (``dap_support/engine_alone.py``), with 1 and 2 compute threads: what the engine takes
  beside the kernels, and how far 2 compute threads can scale once the socket and the client no
  longer share the cores (2 cores allow at most the 1-thread time over the 2-thread CPU / 2);
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
the baseline's values (float32 bits). Beside each cold product request (ours with 1 and 2
threads, pydap's) the table gives its **floor** on this machine: the CPU the server and the
client spent on it over the cores (``dap_support/cold.py``), and how near the wall time is.
The client reads bodies the lean way (``dap_support/load.py``); ``--readers readinto,blocks``
also measures the reader before issue 13x, alternating, with a table for each.
``--metadata`` (``--only metadata``) measures only the ``.dds``/``.das``/``.dmr`` request rates,
``--rounds`` rounds of fresh servers alternating with pydap's (medians), with the CPU per request
of each server and of this process's 8 client threads (which share the 2 cores with the server);
``--only products`` / ``--only raw`` measure only the products or the raw and mixed projections.
Run: ``.venv/bin/python benchmarks/dap_cold.py [--records 10000000] [--quick] [--metadata]
[--work DIR [--build]]``; it needs the pydap venv that ``dap.py`` creates. ``--work`` reuses a
store built once with ``--build`` (else each run builds one in a temporary folder). Results are
ratios measured in this run; the machine's load average is printed at the start and the end.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import dap  # noqa: E402
from dap_support import data  # noqa: E402
from dap_support.cold import CORES, Cold, cold_get, get, in_turn  # noqa: E402
from dap_support.engine_alone import engine_alone  # noqa: E402
from dap_support.load import READERS, Body, dap_array, dods_array, download, request_rate  # noqa: E402
from dap_support.reference import bare_kernels, baseline, read_raw  # noqa: E402
from dap_support.servers import ServerProcess, free_port, tree_cpu_seconds  # noqa: E402

from dap_handlers.shared_windows import FOLDER  # noqa: E402

PRODUCTS = {"density": "sea_water_density", "salinity": "sea_water_practical_salinity"}
RAW_VARS = ("time", "deployment", "internal_timestamp", "driver_timestamp", "ingestion_timestamp",
            "ctd_time", "temperature", "conductivity", "pressure", "pressure_temp")
#: Cold requests per side for the raw and mixed projections (their median is reported).
RAW_ROUNDS = 3


def log(message: str) -> None:
    print(message, flush=True)


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


def dap4_query(variables: tuple[str, ...] | list[str]) -> str:
    """The DAP4 constraint projecting ``variables`` (``;``-separated, URL-encoded)."""
    return "dap4.ce=" + "%3B".join(f"%2F{name}" for name in variables)


def compare(body: Body | None, want: np.ndarray, dap4: bool = False) -> str:
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
    ap.add_argument("--work", type=Path,
                    help="folder of a store built before (with --build), reused and kept; default: a "
                         "temporary folder, built and removed")
    ap.add_argument("--build", action="store_true", help="build the store in --work first")
    ap.add_argument("--keep", action="store_true", help="keep the temporary work folder")
    ap.add_argument("--metadata", action="store_true",
                    help="only the .dds/.das/.dmr request rates (and CPU per request), --rounds rounds")
    ap.add_argument("--only", choices=("products", "raw", "metadata"),
                    help="only the product requests (cold, baselines, bare kernels, pydap, repeats, DAP4), "
                         "only the raw and mixed ones, or only the metadata rates (= --metadata)")
    ap.add_argument("--rounds", type=int, default=3,
                    help="cold product requests (each on a fresh server), baselines and bare kernels "
                         "are measured this many times and the fastest kept (default 3)")
    ap.add_argument("--readers", default="readinto",
                    help="how the client reads bodies, comma-separated: readinto (lean, the default), "
                         "blocks (the reader before issue 13x); with two, every cold request is made "
                         "with each, their order alternating round by round, and a table printed for each")
    args = ap.parse_args(argv)
    if args.quick:
        args.records = 1_000_000
    if args.metadata:
        args.only = "metadata"
    args.readers = args.readers.split(",")
    if unknown := set(args.readers) - set(READERS):
        ap.error(f"unknown readers {sorted(unknown)}; choose from {READERS}")
    pydap = dap.pydap_script(True)
    if args.work:
        if args.build:
            build(args.work, args.records)
        elif not (args.work / "data" / dap.FILE_NAME).is_file():
            ap.error(f"no store in {args.work}: build it with --build")
        return run(args, args.work, pydap)
    dap.WORK.mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="dap-cold-", dir=dap.WORK))
    try:
        build(work, args.records)
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
    log(f"load average at the start: {Path('/proc/loadavg').read_text().split()[:3]} ({CORES} cores, shared)")
    servers = Servers(work, pydap)
    rounds = max(1, args.rounds)
    if args.only == "metadata":
        table(metadata_rates(servers, rounds))
        return 0
    rows: dict[str, list[tuple[str, float, float, str]]] = {reader: [] for reader in args.readers}
    if args.only in (None, "products"):
        for reader, got in products(servers, work / "data" / dap.FILE_NAME, args.readers, rounds).items():
            rows[reader] += got
    if args.only in (None, "raw"):
        for reader, got in raw_and_mixed(servers, args.readers).items():
            rows[reader] += got
    shared = metadata_rates(servers, 1) if args.only is None else []
    for reader in args.readers:
        table(rows[reader] + shared, f"client reader: {reader}" if len(args.readers) > 1 else "")
    return 0


def products(servers: Servers, nc_path: Path, readers: list[str],
             rounds: int) -> dict[str, list[tuple[str, float, float, str]]]:
    """The product rows of the table, for each reader: cold requests on fresh servers against the
    baseline, pydap and the bare kernels (each the fastest of ``rounds``), their CPU and 2-core
    floor, repeats and DAP4."""
    rows: dict[str, list[tuple[str, float, float, str]]] = {reader: [] for reader in readers}
    raw = read_raw(nc_path)
    for name, var in PRODUCTS.items():
        base_s, want = min((baseline(nc_path, name) for _ in range(rounds)), key=lambda got: got[0])
        k1 = min(bare_kernels(raw, name, 1) for _ in range(rounds))
        k2 = min(bare_kernels(raw, name, 2) for _ in range(rounds))
        log(f"{name}: baseline (netCDF4 + gsw) {base_s:.2f}s; bare kernels {k1:.2f}s (1 thread), {k2:.2f}s (2)")
        env = dap.se_env(servers.work, 1, 4)
        alone = {threads: engine_alone(servers.work / "store", var, threads, rounds, env) for threads in (1, 2)}
        log(f"{name}: engine alone (no HTTP, no client) " + ", ".join(
            f"{threads} thread(s) {got.seconds:.3f}s (CPU {got.cpu:.2f}s, {got.cores:.2f} cores)"
            for threads, got in alone.items()))
        cold: dict[tuple[str, int | str], list[Cold]] = {}
        results: dict[tuple[str, str], float] = {}
        for threads in (1, 2):
            for number in range(rounds):
                for reader in in_turn(readers, number):
                    with servers.engine(threads) as server:
                        get(server, f"{dap.OUR_PATH}.dds")  # the worker's own start-up, nothing computed
                        first, got = cold_get(server, f"{dap.OUR_PATH}.dods?{var}", reader)
                        cold.setdefault((reader, threads), []).append(first)
                        log(f"  stream engine, {threads} compute thread(s), {reader}: cold {first} "
                            f"({got.nbytes / 1e6:.0f} MB); {compare(got.body, want)}")
                        if threads == 2:
                            again = get(server, f"{dap.OUR_PATH}.dods?{var}", reader=reader).seconds
                            results[reader, "same"] = min(results.get((reader, "same"), again), again)
        for reader in readers:
            with servers.engine(2) as server:  # DAP4, cold as well
                get(server, f"{dap.OUR_PATH}.dds")
                first, got = cold_get(server, f"{dap.OUR_PATH}.dap?{dap4_query([var])}", reader)
                results[reader, "dap"] = first.seconds
                log(f"  stream engine, DAP4 .dap, 2 compute threads, {reader}: cold {first} "
                    f"({got.nbytes / 1e6:.0f} MB); {compare(got.body, want, dap4=True)}")
            with servers.engine(2, keep_shared=True) as other:
                results[reader, "other"] = get(other, f"{dap.OUR_PATH}.dods?{var}", reader=reader).seconds
        for number in range(rounds):
            for reader in in_turn(readers, number):
                with servers.pydap_server() as server:
                    get(server, f"{dap.PYDAP_PATH}.dds")
                    # the reader before 13x kept only our body; the lean one keeps both (same work)
                    first, _ = cold_get(server, f"{dap.PYDAP_PATH}.dods?{var}", reader, keep=reader != "blocks")
                    cold.setdefault((reader, "pydap"), []).append(first)
                    log(f"  pydap, {reader}: cold {first}")
        for reader in readers:
            one, two, theirs = (min(cold[reader, key], key=lambda c: c.seconds) for key in (1, 2, "pydap"))
            rows[reader] += [
                (f"cold {name} vs baseline (a), 2 threads", base_s, two.seconds, ">= 3x" if name == "density" else ""),
                (f"cold {name} vs pydap precomputed (b), 2 threads", theirs.seconds, two.seconds,
                 ">= 0.5x" if name == "salinity" else ""),
                (f"bare kernels (1 thread) / whole request (1 thread), {name}", k1, one.seconds, ">= 0.77 (<= 1.3x)"),
                (f"cold {name}: 2 compute threads vs 1", one.seconds, two.seconds,
                 f">= 1.7x ({CORES}-core floor allows {one.seconds / two.floor:.2f}x)"),
                *((f"  {CORES}-core floor vs wall, {label}", got.floor, got.seconds,
                   f"CPU: server {got.server_cpu:.2f}s, client {got.client_cpu:.3f}s")
                  for label, got in ((f"cold {name}, 1 thread", one), (f"cold {name}, 2 threads", two),
                                     (f"pydap {name}", theirs))),
                (f"cold DAP4 .dap {name} vs pydap .dods precomputed (b)", theirs.seconds, results[reader, "dap"], ""),
                (f"cold DAP4 .dap {name} vs our cold .dods", two.seconds, results[reader, "dap"], ""),
                (f"bare kernels: 2 threads vs 1, {name}", k1, k2, "(hardware)"),
                (f"bare kernels (1 thread) / engine alone (1 thread), {name}", k1, alone[1].seconds,
                 f"no HTTP; 1 thread uses {alone[1].cores:.2f} cores"),
                (f"engine alone: 2 compute threads vs 1, {name}", alone[1].seconds, alone[2].seconds,
                 f"{CORES} cores allow {alone[1].seconds / (alone[2].cpu / CORES):.2f}x (CPU {alone[2].cpu:.2f}s)"),
                (f"repeat {name}, same worker vs cold", two.seconds, results[reader, "same"], ""),
                (f"repeat {name}, other worker vs cold", two.seconds, results[reader, "other"], ""),
            ]
    return rows


def raw_and_mixed(servers: Servers, readers: list[str]) -> dict[str, list[tuple[str, float, float, str]]]:
    """Cold ``.dods``/``.dap`` of the stored raw variables and of raw + products against pydap's
    ``.dods``, alternating fresh servers (medians of ``RAW_ROUNDS``), with each server's CPU."""
    rows: dict[str, list[tuple[str, float, float, str]]] = {reader: [] for reader in readers}
    for label, variables in (("stored raw variables", RAW_VARS),
                             ("mixed: raw + 2 products", (*RAW_VARS, *PRODUCTS.values()))):
        projection = ",".join(variables)
        cold_raw: dict[tuple[str, str], list[Cold]] = {}
        for number in range(RAW_ROUNDS):  # alternating fresh servers, one .dds first on each (start-up)
            for reader in in_turn(readers, number):
                for side, base, request in (("ours", dap.OUR_PATH, f".dods?{projection}"),
                                            ("dap4", dap.OUR_PATH, f".dap?{dap4_query(variables)}"),
                                            ("pydap", dap.PYDAP_PATH, f".dods?{projection}")):
                    with servers.pydap_server() if side == "pydap" else servers.engine(2) as server:
                        get(server, f"{base}.dds")
                        first, got = cold_get(server, base + request, reader, keep=False)
                    cold_raw.setdefault((reader, side), []).append(first)
        for reader in readers:
            ours, ours4, theirs = (statistics.median(c.seconds for c in cold_raw[reader, k])
                                   for k in ("ours", "dap4", "pydap"))
            cpu = {k: statistics.median(c.server_cpu for c in cold_raw[reader, k]) for k in ("ours", "pydap")}
            log(f"{label} ({got.nbytes / 1e6:,.0f} MB; medians of {RAW_ROUNDS} cold requests, each on a fresh "
                f"server after one .dds; client reader {reader}): stream engine .dods {ours:.3f}s, .dap {ours4:.3f}s, "
                f"pydap .dods {theirs:.3f}s; all: "
                + "; ".join(f"{k} " + ", ".join(str(c) for c in cold_raw[reader, k]) for k in ("ours", "dap4", "pydap")))
            rows[reader] += [
                (f"cold .dods of {label}, MB/s vs pydap", theirs, ours,
                 ">= 2x" if label.startswith("stored") else "(reported)"),
                ("  server CPU of that .dods (user + sys) vs pydap's", cpu["pydap"], cpu["ours"], ""),
                (f"cold DAP4 .dap of {label} vs pydap .dods", theirs, ours4, ""),
                (f"cold DAP4 .dap of {label} vs our cold .dods", ours, ours4, ""),
            ]
    return rows


def table(rows: list[tuple[str, float, float, str]], title: str = "") -> None:
    """The comparison table (under ``title``), and the load average at the end."""
    log("")
    if title:
        log(title)
    log(f"{'comparison (ratio = reference time / stream engine time)':<62} {'ref s':>8} {'ours s':>8} "
        f"{'ratio':>7}  target")
    for label, ref, ours, target in rows:
        log(f"{label:<62} {ref:>8.2f} {ours:>8.2f} {ref / ours:>7.2f}  {target}")
    log(f"load average at the end: {Path('/proc/loadavg').read_text().split()[:3]}")


if __name__ == "__main__":
    sys.exit(main())
