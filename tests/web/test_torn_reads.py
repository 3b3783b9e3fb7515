"""One consistent snapshot per response, checked against a real server while a writer works.

A writer alternates two versions of the demo CTD (same times, different raw values), as fast as
it can, into the store a live server reads. Readers fetch ``.dods`` responses of the CTD (its raw
values and the products computed from them) and of the co-located optode (whose products take
the CTD's values as inputs from another stream), with small blocks and computation windows so
that every response takes many separate reads, with two compute threads and with one (the
compiled CTD chain's windows then read ahead on a reader thread); in both, each next block is
computed while the current one is sent. Every response must be byte for
byte the one served for state A or the one served for state B, never a mix.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from live_server import LiveServer, http, start_server

from stream_engine import demo
from stream_engine.config import REPO_ROOT
from stream_engine.preload import load_preload
from stream_engine.store.embedded import EmbeddedStore

RAW_CHANGED = ("temperature", "conductivity", "pressure")


def _states(store: EmbeddedStore) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The CTD as the demo wrote it (A), and with other raw values at the same times (B)."""
    a = store.read(demo.CTD)
    b = {name: values.copy() for name, values in a.items()}
    for name in RAW_CHANGED:
        b[name] = b[name] + np.int32(2000)
    return a, b


def _names(server: LiveServer, key) -> list[str]:
    status, _, body = http(f"{server.url}/dap/{key.path}.dds")
    assert status == 200, body
    return re.findall(r"^\s+\w+ (\w+)\[", body.decode(), flags=re.MULTILINE)


@pytest.fixture(scope="module", params=["2", "1"], ids=["2 compute threads", "1 compute thread, reading ahead"])
def served(tmp_path_factory, request) -> Iterator[tuple[LiveServer, Path]]:
    folder = tmp_path_factory.mktemp("torn")
    preload = load_preload(REPO_ROOT / "preload_database")
    with EmbeddedStore(folder / "data") as store:
        demo.fill_demo(store, preload)
    server = start_server(
        folder / "data", folder / "logs", threads=4,
        extra_env={"STREAM_ENGINE_DAP_BLOCK_BYTES": "16384",
                   "STREAM_ENGINE_DAP_COMPUTE_RECORDS": "1024",
                   "STREAM_ENGINE_DAP_COMPUTE_THREADS": request.param},
    )
    try:
        yield server, folder / "data"
    finally:
        server.stop()


def test_every_response_is_one_committed_state(served) -> None:
    server, data_dir = served
    preload = load_preload(REPO_ROOT / "preload_database")
    bin_seconds = preload.stream(demo.CTD.stream).bin_seconds
    with EmbeddedStore(data_dir) as store:
        state_a, state_b = _states(store)
        stored = {demo.CTD: set(store.columns(demo.CTD)), demo.OPTODE: set(store.columns(demo.OPTODE))}
    ctd_products = [n for n in _names(server, demo.CTD) if n not in stored[demo.CTD]]
    optode_products = [n for n in _names(server, demo.OPTODE) if n not in stored[demo.OPTODE]]
    assert ctd_products and optode_products
    chain = [n for n in ("sea_water_practical_salinity", "sea_water_density") if n in ctd_products]
    assert chain  # the products of the compiled CTD chain, alone (dap_handlers/window_work.py)
    urls = [
        f"{server.url}/dap/{demo.CTD.path}.dods?" + ",".join(["time", *RAW_CHANGED, *ctd_products]),
        f"{server.url}/dap/{demo.OPTODE.path}.dods?" + ",".join(["time", *optode_products]),
        f"{server.url}/dap/{demo.CTD.path}.dods?" + ",".join(chain),
    ]

    def write(state: dict[str, np.ndarray]) -> None:
        with EmbeddedStore(data_dir) as store:
            store.write(demo.CTD, state, bin_seconds=bin_seconds)

    known: dict[str, list[bytes]] = {url: [] for url in urls}
    for state in (state_b, state_a):
        write(state)
        for url in urls:
            status, _, body = http(url)
            assert status == 200, body[:300]
            known[url].append(body)
    for url in urls:
        assert known[url][0] != known[url][1], f"the two states must be told apart by {url}"

    stop = threading.Event()
    writes = [0]

    def writer() -> None:
        with EmbeddedStore(data_dir) as store:
            while not stop.is_set():
                store.write(demo.CTD, state_a if writes[0] % 2 else state_b, bin_seconds=bin_seconds)
                writes[0] += 1

    problems: list[str] = []
    seen: dict[str, set[int]] = {url: set() for url in urls}

    def reader(url: str) -> None:
        for _ in range(150):
            if stop.is_set():
                return
            status, _, body = http(url)
            if status != 200:
                problems.append(f"{url}: status {status}: {body[:200]!r}")
                return
            if body not in known[url]:
                problems.append(f"{url}: a response matching neither state ({len(body)} bytes)")
                return
            seen[url].add(known[url].index(body))
            if all(len(s) == 2 for s in seen.values()) and writes[0] > 6:
                return

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    readers = [threading.Thread(target=reader, args=(url,)) for url in urls for _ in range(2)]
    for r in readers:
        r.start()
    for r in readers:
        r.join(timeout=600)
    stop.set()
    thread.join(timeout=60)
    assert not problems, problems
    assert writes[0] >= 2
    assert all(len(s) == 2 for s in seen.values()), f"readers saw only {seen} over {writes[0]} writes"
