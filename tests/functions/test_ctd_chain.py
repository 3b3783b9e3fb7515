"""The compiled SBE 16plus chain equals the engine's step-by-step path bit for bit.

The reference is what :mod:`stream_engine.engine.compute_steps` does with the algorithms of
:mod:`stream_engine.functions.ctd`: integer counts holding the fill value become float64 NaN,
each product is cast to float32 and is NaN wherever one of its per-record inputs is NaN. Inputs:
millions of counts made from random in-range temperature, salinity (below 2 too: Hill et al.)
and pressure with each calibration (the two demo deployments, the two OOI CTDPF-A107
deployments, both perturbed), plus counts over the sensors' whole ranges and beyond, and fill
values in every count column. The float32 bits must be equal, NaN's included.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from stream_engine import assets, demo
from stream_engine.functions import ctd, ctd_chain, teos10
from tests.conftest import requires_ooi

N = 1_000_000
FILL = -9999999


def _calibrations(samples_dir) -> list[dict[str, float]]:
    cals = [{k[3:]: v for k, v in c.items()} for c in demo.CTD_CALIBRATIONS]
    events = json.loads((samples_dir / "CE04OSPS-SF01B-2A-CTDPFA107_events.json").read_text())
    for dep in assets.parse_events(events):
        cal = {name[3:]: entries[-1].value for name, entries in dep.calibrations.items()}
        if all(k in cal for k in (*ctd_chain.TEMPERATURE_COEFFICIENTS, *ctd_chain.PRESSURE_COEFFICIENTS[:-1],
                                  *ctd_chain.CONDUCTIVITY_COEFFICIENTS)):
            cals.append(cal)
    assert len(cals) >= 4
    rng = np.random.default_rng(5)
    return cals + [{k: float(v) * float(rng.uniform(0.95, 1.05)) for k, v in c.items()} for c in cals[2:]]


def _counts(cal: dict[str, float], rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Counts of random in-range water (salinity below 2 for 1 in 20), a tenth of each column
    over the sensor's whole range instead, and fill values here and there."""
    temp = rng.uniform(-2.5, 35.0, N)
    salt = rng.uniform(2.0, 42.0, N)
    salt[::20] = rng.uniform(0.0, 2.5, N // 20)
    pres = rng.uniform(0.0, 6500.0, N)
    counts = demo.ctd_counts(temp, salt, pres, {f"CC_{k}": v for k, v in cal.items()})
    for name, top in (("temperature", 1 << 24), ("pressure", 1 << 24), ("pressure_temp", 1 << 17),
                      ("conductivity", 1 << 24)):
        values = counts[name]
        values[rng.integers(0, N, N // 10)] = rng.integers(-1000, top, N // 10)
        values[:5] = [0, 1, -1, np.iinfo(np.int32).max, np.iinfo(np.int32).min]
        values[rng.integers(0, N, 500)] = FILL
    return counts


def _missing(*arrays: np.ndarray) -> np.ndarray:
    return np.logical_or.reduce([np.isnan(a) for a in arrays])


def _as_input(counts: np.ndarray) -> np.ndarray:
    bad = counts == FILL
    if not bad.any():
        return counts
    out = counts.astype(np.float64)
    out[bad] = np.nan
    return out


def step_by_step(counts: dict[str, np.ndarray], cal: dict[str, float], offset: float = 0.0,
                 lat: float = demo.LAT, lon: float = demo.LON) -> tuple[np.ndarray, ...]:
    """What the engine's steps give: temperature, pressure, conductivity, salinity, density."""
    t0, p0, pt0, c0 = (_as_input(counts[k]) for k in ("temperature", "pressure", "pressure_temp", "conductivity"))
    t = ctd.ctd_sbe16plus_tempwat(t0, *(cal[k] for k in ctd_chain.TEMPERATURE_COEFFICIENTS)).astype(np.float32)
    t[_missing(t0)] = np.nan
    p = ctd.ctd_sbe16plus_preswat(p0, pt0, *(cal[k] for k in ctd_chain.PRESSURE_COEFFICIENTS[:-1]),
                                  offset=offset).astype(np.float32)
    p[_missing(p0, pt0)] = np.nan
    c = ctd.ctd_sbe16plus_condwat(c0, t, p, *(cal[k] for k in ctd_chain.CONDUCTIVITY_COEFFICIENTS)).astype(np.float32)
    c[_missing(c0, t, p)] = np.nan
    sp = ctd.ctd_pracsal(c, t, p).astype(np.float32)
    sp[_missing(c, t, p)] = np.nan
    rho = ctd.ctd_density(sp, t, p, np.array(lat), np.array(lon)).astype(np.float32)
    rho[_missing(sp, t, p)] = np.nan
    return t, p, c, sp, rho


def chained(counts: dict[str, np.ndarray], cal: dict[str, float], offset: float = 0.0,
            lat: float = demo.LAT, lon: float = demo.LON, fill: float = FILL,
            scratch: np.ndarray | None = None) -> ctd_chain.ChainValues:
    return ctd_chain.sbe16plus_chain(
        *(counts[k] for k in ("temperature", "pressure", "pressure_temp", "conductivity")), np.full(4, float(fill)),
        np.array([cal[k] for k in ctd_chain.TEMPERATURE_COEFFICIENTS]),
        np.array([*(cal[k] for k in ctd_chain.PRESSURE_COEFFICIENTS[:-1]), offset]),
        np.array([cal[k] for k in ctd_chain.CONDUCTIVITY_COEFFICIENTS]), teos10.saar_table(lon, lat),
        scratch=scratch)


def assert_same_bits(got: np.ndarray, want: np.ndarray, what: str) -> None:
    assert got.dtype == want.dtype == np.float32 and got.shape == want.shape
    bad = np.flatnonzero(got.view(np.uint32) != want.view(np.uint32))
    assert len(bad) == 0, f"{what}: {len(bad)} values differ, e.g. {got[bad[:3]]} vs {want[bad[:3]]}"


@requires_ooi
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_chain_equals_the_steps_bit_for_bit(samples_dir):
    rng = np.random.default_rng(20261129)
    for number, cal in enumerate(_calibrations(samples_dir)):
        counts = _counts(cal, rng)
        offset = 0.0 if number % 2 else -0.25
        want = step_by_step(counts, cal, offset)
        got = chained(counts, cal, offset)
        for name, g, w in zip(ctd_chain.ChainValues._fields, got, want, strict=True):
            assert_same_bits(g, w, f"calibration {number}, {name}")
        finite = np.isfinite(want[4])
        assert finite.sum() > N // 2  # most records are water: a real density
        assert (want[3][np.isfinite(want[3])] < 2).sum() > N // 40  # the Hill extension ran
        assert np.isnan(want[0][counts["temperature"] == FILL]).all()


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_chain_without_fill_values_and_without_density():
    """No fill value in a column (the usual window), a fill value no count holds, and the
    chain stopping at salinity (no position)."""
    rng = np.random.default_rng(3)
    cal = {k[3:]: v for k, v in demo.CTD_CALIBRATIONS[1].items()}
    temp, salt, pres = rng.uniform(5, 15, N), rng.uniform(30, 35, N), rng.uniform(0, 200, N)
    counts = demo.ctd_counts(temp, salt, pres, {f"CC_{k}": v for k, v in cal.items()})
    want = step_by_step(counts, cal)
    for fill in (FILL, np.nan):
        got = chained(counts, cal, fill=fill)
        for name, g, w in zip(ctd_chain.ChainValues._fields, got, want, strict=True):
            assert_same_bits(g, w, name)
    assert np.isfinite(want[4]).all()
    no_density = ctd_chain.sbe16plus_chain(
        *(counts[k] for k in ("temperature", "pressure", "pressure_temp", "conductivity")), np.full(4, np.nan),
        np.array([cal[k] for k in ctd_chain.TEMPERATURE_COEFFICIENTS]),
        np.array([*(cal[k] for k in ctd_chain.PRESSURE_COEFFICIENTS[:-1]), 0.0]),
        np.array([cal[k] for k in ctd_chain.CONDUCTIVITY_COEFFICIENTS]))
    assert no_density.density is None
    assert_same_bits(no_density.salinity, want[3], "salinity")


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_chain_reusing_its_working_room():
    """A scratch array kept from call to call (longer than the counts, holding the last call's
    values) gives the same bits as a new one, density included (it reuses the room)."""
    rng = np.random.default_rng(11)
    cal = {k[3:]: v for k, v in demo.CTD_CALIBRATIONS[0].items()}
    scratch = np.full(N + 7, 1e30)
    for n in (N, N // 3):
        temp, salt, pres = rng.uniform(2, 20, n), rng.uniform(20, 36, n), rng.uniform(0, 500, n)
        counts = demo.ctd_counts(temp, salt, pres, {f"CC_{k}": v for k, v in cal.items()})
        counts["temperature"][::17] = FILL
        want = step_by_step(counts, cal)
        before = scratch.copy()
        got = chained(counts, cal, scratch=scratch)
        for name, g, w in zip(ctd_chain.ChainValues._fields, got, want, strict=True):
            assert_same_bits(g, w, f"{n} records, {name}")
        assert np.isfinite(want[4]).sum() > n // 2
        assert (scratch[n:].view(np.uint64) == before[n:].view(np.uint64)).all()  # only n values used
        assert not (scratch[:n].view(np.uint64) == before[:n].view(np.uint64)).all()


def test_prepare_kernels_compiles_the_chain_before_requests():
    from stream_engine.engine.kernels import prepare_kernels
    from stream_engine.functions import record_keys

    prepare_kernels()
    for loop in (*ctd_chain.LOOPS, *record_keys.LOOPS):
        assert loop.signatures, loop
        assert not loop._can_compile, loop  # nothing can compile inside a request
    before = {loop: len(loop.signatures) for loop in ctd_chain.LOOPS}
    rng = np.random.default_rng(1)
    cal = {k[3:]: v for k, v in demo.CTD_CALIBRATIONS[0].items()}
    counts = demo.ctd_counts(rng.uniform(5, 15, 100), rng.uniform(30, 35, 100), rng.uniform(0, 200, 100),
                             demo.CTD_CALIBRATIONS[0])
    for frozen in (False, True):  # as the store returns them, writable or not
        for values in counts.values():
            values.flags.writeable = not frozen
        chained(counts, cal)
    assert {loop: len(loop.signatures) for loop in ctd_chain.LOOPS} == before
