"""A product's DAP2 body made by the engine alone: in a process of its own, no HTTP, no client.

A cold request on the benchmark's server shares the machine's cores with the socket and with the
client reading the body. This measures what is left without them: the dataset of
:mod:`dap_handlers.stream_dataset` made on a snapshot of the store, and every chunk of the
product's ``.dods`` encoding (:func:`dap_handlers.responses.dods.variable_chunks`) made and
dropped. Each measurement is made in a fresh process, as a cold request is on a fresh server:
the compiled kernels are loaded and the dataset described once first (as a worker's start-up
and the ``.dds`` before a cold request do), nothing computed is kept (the folder shared between
workers is off), and the process takes the workers' malloc policy (``MALLOC_*`` settings) as a
worker does right after the fork. The file's pages are in the page cache, as for the server.

Run by ``dap_cold.py`` (:func:`engine_alone`); as a script it prints one JSON object:
``python engine_alone.py STORE_DIR VARIABLE THREADS`` -> ``{"seconds": s, "cpu": c, "bytes": n}``
(wall time and the process's CPU).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Alone:
    """The fastest round of a product made by the engine alone, and the CPU it took."""

    seconds: float
    cpu: float

    @property
    def cores(self) -> float:
        """Cores busy on average over the round (CPU / wall)."""
        return self.cpu / self.seconds


def engine_alone(store_dir: Path, variable: str, threads: int, rounds: int, env: dict[str, str]) -> Alone:
    """The fastest of ``rounds`` bodies of ``variable`` made with ``threads`` compute threads,
    each in a fresh Python process started with ``env`` (the server's settings)."""
    best: Alone | None = None
    for _ in range(rounds):
        out = subprocess.run([sys.executable, str(Path(__file__)), str(store_dir), variable, str(threads)],
                             env=env, capture_output=True, text=True, timeout=1800, check=False)
        if out.returncode != 0:
            raise SystemExit(f"engine alone failed for {variable}:\n{out.stderr[-2000:]}")
        got = json.loads(out.stdout.strip().splitlines()[-1])
        if best is None or got["seconds"] < best.seconds:
            best = Alone(got["seconds"], got["cpu"])
    assert best is not None
    return best


def _measure(store_dir: Path, variable: str, threads: int) -> dict[str, float]:
    sys.path.insert(0, str(HERE.parent.parent))
    sys.path.insert(0, str(HERE.parent))
    from dap_handlers.responses.dods import variable_chunks
    from dap_handlers.stream_dataset import stream_dataset
    from dap_support import data
    from stream_engine.config import load_settings
    from stream_engine.engine.kernels import prepare_kernels
    from stream_engine.preload import default_preload
    from stream_engine.store import open_store
    from stream_engine.web.malloc_policy import apply_malloc_policy

    settings = load_settings().replace(DAP_COMPUTE_THREADS=threads, DAP_SHARED_CACHE_BYTES=0,
                                       DATA_DIR=str(store_dir))
    for refused in apply_malloc_policy(int(settings["MALLOC_ARENAS"]), int(settings["MALLOC_MMAP_THRESHOLD"]),
                                       int(settings["MALLOC_TRIM_THRESHOLD"])):
        print(f"engine alone: {refused}; measured without it, unlike a worker", file=sys.stderr)
    prepare_kernels()
    store = open_store(settings, create=False)
    preload = default_preload(settings)
    with store.snapshot() as snapshot:  # what the .dds before a cold request does: no values
        stream_dataset(snapshot, preload, data.KEY, settings=settings, projection=[variable])
    with store.snapshot() as snapshot:
        t0, c0 = time.perf_counter(), time.process_time()
        dataset = stream_dataset(snapshot, preload, data.KEY, settings=settings, projection=[variable])
        (wanted,) = (v for v in dataset.variables if v.name == variable)
        sent = sum(len(chunk) for chunk in variable_chunks(wanted, int(settings["DAP_BLOCK_BYTES"])))
        return {"seconds": time.perf_counter() - t0, "cpu": time.process_time() - c0, "bytes": sent}


if __name__ == "__main__":
    store_arg, variable_arg, threads_arg = sys.argv[1:4]
    print(json.dumps(_measure(Path(store_arg), variable_arg, int(threads_arg))))
