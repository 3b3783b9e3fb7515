"""Cold DAP requests under different malloc policies of the server, A/B in one run.

On ``dap_cold.py``'s CTD store (build it once with ``--build``, reuse it with ``--work``), every
request is a cold ``.dods`` on a freshly started ``stream-engine serve`` (one worker, the shared
window folder removed, one ``.dds`` first so the worker's own start-up is not counted), for each
variant of the server's environment in turn, the variants' order rotated from round to round.
Per request it reports, for the worker process: wall time (client), CPU (user + sys), minor
page faults (``/proc/<pid>/stat``), peak resident set (``VmHWM``) and the resident set one
second after the response ended (idle); medians over the rounds with the spread, and ratios
against the first variant.

Cases: ``salinity1``/``salinity2``/``density1``/``density2`` (the product with 1 or 2 compute
threads, ``DAP_COMPUTE_THREADS``) and ``raw`` (the stored raw variables, ~1 GB); each ``+`` after a
case (``salinity1++``) measures the same request after one more on a worker whose caches are off
(a long-running worker computing everything again: what a server mostly does, while a fresh
worker's first request also faults in its heap for the first time). A variant is
``name`` or ``name:KEY=VALUE,KEY=VALUE`` (environment variables of the server, e.g.
``STREAM_ENGINE_MALLOC_MMAP_THRESHOLD=33554432``; glibc's own ``MALLOC_MMAP_THRESHOLD_`` is
overridden by the settings, which each worker applies after the fork).

Run: ``.venv/bin/python benchmarks/dap_malloc.py --work DIR [--build] [--rounds 5]
[--cases salinity1,salinity2+++] [--variants "glibc:STREAM_ENGINE_MALLOC_MMAP_THRESHOLD=0,\
STREAM_ENGINE_MALLOC_TRIM_THRESHOLD=0" default]`` (``glibc``: glibc's own policy, as before
issue 13m; ``default``: the settings' defaults).
Take the bench lock on a shared machine (``flock``); the load average is printed at both ends.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import dap  # noqa: E402
import dap_cold  # noqa: E402
from dap_support.load import download  # noqa: E402
from dap_support.servers import ServerProcess, free_port, process_tree, status_kb  # noqa: E402

from dap_handlers.shared_windows import FOLDER  # noqa: E402

RAW_VARS = ("time", "deployment", "internal_timestamp", "driver_timestamp", "ingestion_timestamp",
            "ctd_time", "temperature", "conductivity", "pressure", "pressure_temp")
CASES = {
    "salinity1": ("sea_water_practical_salinity", 1),
    "salinity2": ("sea_water_practical_salinity", 2),
    "density1": ("sea_water_density", 1),
    "density2": ("sea_water_density", 2),
    "raw": (",".join(RAW_VARS), 2),
}
# "salinity1++" etc.: the same request after two others on a worker whose caches are off


@dataclass(frozen=True)
class Sample:
    """One cold request: wall and worker CPU seconds, minor faults, peak and idle RSS (MiB)."""

    seconds: float
    cpu: float
    sys_cpu: float
    faults: int
    hwm: float
    rss_before: float
    idle_rss: float
    digest: str


def log(message: str) -> None:
    print(message, flush=True)


def _stat(pid: int) -> tuple[float, float, int]:
    """(user + sys CPU seconds, sys CPU seconds, minor faults) of ``pid`` so far."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / tick, int(fields[12]) / tick, int(fields[7])


def _status_mib(pid: int, name: str) -> float:
    return status_kb(pid, name) / 1024


def _worker(master: int) -> int:
    """The worker of a one-worker server: the master's child (``process_tree`` lists the
    children before their own children)."""
    tree = process_tree(master)
    if len(tree) < 2:
        raise RuntimeError("the server has no worker process")
    return tree[1]


def cold_request(work: Path, case: str, env_extra: dict[str, str], count: int) -> Sample:
    """A cold request of ``case`` on a fresh server; with ``+`` after the case's name, the
    server's caches are off and the request measured comes after as many others (a worker that
    has served before, computing everything again)."""
    warm = len(case) - len(case.rstrip("+"))
    variables, threads = CASES[case.rstrip("+")]
    shutil.rmtree(work / "store" / FOLDER, ignore_errors=True)
    env = dap.se_env(work, 1, 4)
    env["STREAM_ENGINE_DAP_COMPUTE_THREADS"] = str(threads)
    if warm:
        env.update(STREAM_ENGINE_DAP_CACHE_BYTES="0", STREAM_ENGINE_DAP_SHARED_CACHE_BYTES="0",
                   STREAM_ENGINE_COMPUTE_CACHE_BYTES="0")
    env.update(env_extra)
    port = free_port()
    server = ServerProcess("stream engine", [str(dap.SE_BIN), "serve", "--bind", f"127.0.0.1:{port}"], port,
                           "/version", work / f"malloc-{count}.log", env=env, cwd=dap.ROOT)
    with server:
        got = download(port, f"{dap.OUR_PATH}.dds", timeout=60)
        if got.status != 200:
            raise SystemExit(f".dds answered {got.status}; see {server.log}")
        worker = _worker(server.pid)
        keep = not case.startswith("raw")
        for _ in range(warm):
            download(port, f"{dap.OUR_PATH}.dods?{variables}", timeout=1800)
            time.sleep(0.5)
        rss_before = _status_mib(worker, "VmRSS")
        cpu0, sys0, faults0 = _stat(worker)
        got = download(port, f"{dap.OUR_PATH}.dods?{variables}", keep=keep, timeout=1800)
        if got.status != 200:
            raise SystemExit(f".dods answered {got.status}; see {server.log}")
        time.sleep(1.0)
        cpu1, sys1, faults1 = _stat(worker)
        digest = hashlib.sha1(got.body).hexdigest()[:12] if got.body else str(got.nbytes)
        return Sample(got.seconds, cpu1 - cpu0, sys1 - sys0, faults1 - faults0, _status_mib(worker, "VmHWM"),
                      rss_before, _status_mib(worker, "VmRSS"), digest)


def parse_variant(text: str) -> tuple[str, dict[str, str]]:
    name, _, rest = text.partition(":")
    env = dict(pair.split("=", 1) for pair in rest.split(",") if pair)
    return name, env


def _ratio(base: list[float], ours: list[float]) -> float:
    """Median of ``base`` over median of ``ours`` (NaN when ours is 0: too small to time)."""
    theirs, mine = statistics.median(base), statistics.median(ours)
    return theirs / mine if mine else float("nan")


def _spread(values: list[float], fmt: str) -> str:
    return f"{statistics.median(values):{fmt}} [{min(values):{fmt}}-{max(values):{fmt}}]"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, required=True, help="folder of the store (built with --build)")
    ap.add_argument("--build", action="store_true", help="build the store first")
    ap.add_argument("--records", type=int, default=10_000_000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--cases", default="salinity1,salinity2,density1,density2,raw")
    ap.add_argument("--variants", nargs="+", default=["glibc"])
    args = ap.parse_args(argv)
    if args.build:
        dap_cold.build(args.work, args.records)
    variants = [parse_variant(v) for v in args.variants]
    cases = args.cases.split(",")
    log(f"load average at the start: {Path('/proc/loadavg').read_text().split()[:3]} (2 cores, shared)")
    found: dict[tuple[str, str], list[Sample]] = {}
    count = 0
    for round_no in range(args.rounds):
        for case in cases:
            order = variants[round_no % len(variants):] + variants[: round_no % len(variants)]
            for name, env in order:
                count += 1
                got = cold_request(args.work, case, env, count)
                found.setdefault((case, name), []).append(got)
                log(f"round {round_no + 1} {case:<9} {name:<10} {got.seconds:6.3f}s cpu {got.cpu:5.2f}s (sys {got.sys_cpu:4.2f}) "
                    f"faults {got.faults:6d} rss {got.rss_before:4.0f} peak {got.hwm:4.0f} idle {got.idle_rss:4.0f} MiB "
                    f"{got.digest}")
    log("")
    log(f"{'case':<9} {'variant':<10} {'wall s (median [min-max])':<26} {'x':>5} {'cpu s':<22} {'x':>5} {'sys s':>5} "
        f"{'minor faults':<22} {'before':>6} {'peak':>6} {'idle':>6} (worker RSS, MiB)")
    for case in cases:
        base = found[(case, variants[0][0])]
        for name, _ in variants:
            runs = found[(case, name)]
            wall, cpu = [s.seconds for s in runs], [s.cpu for s in runs]
            digests = {s.digest for s in runs} | {s.digest for s in base}
            log(f"{case:<9} {name:<10} {_spread(wall, '.3f'):<26} "
                f"{_ratio([s.seconds for s in base], wall):5.2f} "
                f"{_spread(cpu, '.2f'):<22} {_ratio([s.cpu for s in base], cpu):5.2f} "
                f"{statistics.median(s.sys_cpu for s in runs):5.2f} "
                f"{_spread([s.faults for s in runs], '.0f'):<22} {statistics.median(s.rss_before for s in runs):6.0f} "
                f"{statistics.median(s.hwm for s in runs):6.0f} {statistics.median(s.idle_rss for s in runs):6.0f}"
                f"{'' if len(digests) == 1 else '  BODIES DIFFER'}")
    log(f"load average at the end: {Path('/proc/loadavg').read_text().split()[:3]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
