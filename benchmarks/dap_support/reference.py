"""What a cold product request is measured against, computed in this process on the benchmark's
CTD data: (a) the baseline (netCDF4 + numpy calibrations + gsw) and the bare kernels (the
engine's own algorithms on counts already in memory, in the server's windows)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from stream_engine import demo
from stream_engine.config import load_settings
from stream_engine.functions import ctd

#: Records per window of the bare kernels: the server's default ``DAP_COMPUTE_RECORDS``.
WINDOW = int(load_settings(environ={})["DAP_COMPUTE_RECORDS"])


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
