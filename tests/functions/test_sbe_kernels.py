"""The compiled Sea-Bird calibration loops equal the numpy formulas bit for bit.

The numpy formulas of :mod:`stream_engine.functions.ctd` are the reference: they run when a
coefficient is given per record, so each algorithm is called twice on the same counts, once with
one value per coefficient (the compiled loops) and once with the same value as a one-element
array (numpy), over millions of random counts covering each sensor's whole count range and
beyond it (zero, negative counts, NaN where a count held the fill value), with the real
calibrations of the OOI CTDPF-A107 (SBE 16plus V2, two deployments), the DPS test calibrations
and randomly perturbed ones. The float64 bits must be equal; NaN must be NaN on both sides.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from stream_engine import assets
from stream_engine.functions import ctd, sbe_kernels
from tests.conftest import requires_ooi
from tests.functions.test_ctd import SBE16_PRES_CAL, SBE37_PRES_CAL
from tests.functions.test_teos10 import assert_bits_equal

N = 2_000_000
TEMPERATURE = ("a0", "a1", "a2", "a3")
PRESSURE = ("ptempa0", "ptempa1", "ptempa2", "ptca0", "ptca1", "ptca2", "ptcb0", "ptcb1", "ptcb2",
            "pa0", "pa1", "pa2")
CONDUCTIVITY = ("g", "h", "i", "j", "cpcor", "ctcor")
DPS_CAL = {  # the DPS check-value calibrations of test_ctd.py
    **SBE16_PRES_CAL,
    "a0": 1.281651e-3, "a1": 2.706002e-4, "a2": -1.027561e-6, "a3": 1.749446e-7,
    "g": -9.72193700e-001, "h": 1.38675900e-001, "i": -1.08398500e-004, "j": 2.63219300e-005,
    "cpcor": -9.57000000e-008, "ctcor": 3.2500e-006, "wbotc": 1.8000e-06,
}


def _ooi_calibrations(samples_dir) -> list[dict[str, float]]:
    events = json.loads((samples_dir / "CE04OSPS-SF01B-2A-CTDPFA107_events.json").read_text())
    out = []
    for dep in assets.parse_events(events):
        cal = {name[3:]: entries[-1].value for name, entries in dep.calibrations.items()}
        if all(k in cal for k in (*TEMPERATURE, *PRESSURE, *CONDUCTIVITY)):
            out.append({**cal, "wbotc": 1.8e-06})
    assert len(out) >= 2
    return out


def _perturbed(cal: dict[str, float], rng: np.random.Generator) -> dict[str, float]:
    return {k: float(v) * float(rng.uniform(0.9, 1.1)) for k, v in cal.items()}


@pytest.fixture(scope="module")
def counts() -> dict[str, np.ndarray]:
    """Random counts of each sensor over its range (24-bit frequency and A/D counts), with
    zeros, negative counts and the extremes of int32 at the front."""
    rng = np.random.default_rng(20261129)
    out = {
        "t0": rng.integers(0, 1 << 24, N), "p0": rng.integers(0, 1 << 24, N),
        "pt0": rng.integers(0, 1 << 17, N), "c0": rng.integers(0, 1 << 24, N),
    }
    # half of the thermistor counts where the SBE 16plus equation gives a temperature (the
    # divider's denominator is positive below 524288 + 1.6384e6 counts)
    out["t0"][: N // 2] = rng.integers(100_000, 2_150_000, N // 2)
    for name, values in out.items():
        values[:6] = [0, 1, -1, 524288, np.iinfo(np.int32).max, np.iinfo(np.int32).min]
        out[name] = values.astype(np.int32)
    return out


def _with_nan(values: np.ndarray) -> np.ndarray:
    """Counts as the engine passes them where some held the fill value: float64 with NaN."""
    out = values.astype(np.float64)
    out[7::1000] = np.nan
    return out


def _both(function, positional: tuple[np.ndarray, ...], cal: dict[str, float], names: tuple[str, ...],
          **keywords: float) -> tuple[np.ndarray, np.ndarray]:
    """(compiled: one value per coefficient, numpy: the same values as one-element arrays)."""
    scalars = [cal[k] for k in names]
    compiled = function(*positional, *scalars, **keywords)
    reference = function(*positional, *(np.array([v]) for v in scalars),
                         **{k: np.array([v]) for k, v in keywords.items()})
    return compiled, reference


def _calibrations(samples_dir) -> list[dict[str, float]]:
    rng = np.random.default_rng(7)
    ooi = _ooi_calibrations(samples_dir)
    return [DPS_CAL, *ooi, *(_perturbed(c, rng) for c in ooi)]


@requires_ooi
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("nan_counts", [False, True])
def test_temperature_pressure_conductivity_equal_numpy(counts, samples_dir, monkeypatch, nan_counts):
    calls: list[str] = []
    for loop in sbe_kernels.LOOPS:
        def counted(*args, _loop=loop):
            calls.append(_loop.__name__)
            return _loop(*args)
        monkeypatch.setattr(sbe_kernels, loop.__name__, counted)
    c = {k: _with_nan(v) if nan_counts else v for k, v in counts.items()}
    for cal in _calibrations(samples_dir):
        t1, ref = _both(ctd.ctd_sbe16plus_tempwat, (c["t0"],), cal, TEMPERATURE)
        assert_bits_equal(t1, ref)
        assert np.isfinite(t1).sum() > N // 2 * 0.9  # the in-range half gives temperatures
        p1, ref = _both(ctd.ctd_sbe16plus_preswat, (c["p0"], c["pt0"]), cal, PRESSURE, offset=0.25)
        assert_bits_equal(p1, ref)
        assert_bits_equal(*_both(ctd.ctd_sbe37im_tempwat_instrument_recovered, (c["t0"],), cal, TEMPERATURE))
        assert_bits_equal(*_both(ctd.ctd_sbe37im_preswat_instrument_recovered, (c["p0"], c["pt0"]),
                                 {**cal, **SBE37_PRES_CAL}, PRESSURE))
        for kind in (np.float32, np.float64):  # L1 inputs as the engine keeps them, and float64
            t, p = t1.astype(kind), p1.astype(kind)
            assert_bits_equal(*_both(ctd.ctd_sbe16plus_condwat, (c["c0"], t, p), cal, CONDUCTIVITY))
            assert_bits_equal(*_both(ctd.ctd_sbe37im_condwat_instrument_recovered, (c["c0"], t, p),
                                     cal, (*CONDUCTIVITY, "wbotc")))
    assert {"thermistor_resistance", "steinhart_hart_loop", "strain_gauge_loop", "conductivity_loop"} <= set(calls)


def test_dps_check_values_through_the_compiled_loops():
    """The DPS check values of ``test_ctd.py``, computed on arrays (the compiled path)."""
    def two(value, kind=np.int32):
        return np.array([value, value], dtype=kind)

    t = ctd.ctd_sbe16plus_tempwat(two(248471), 1.281651e-3, 2.706002e-4, -1.027561e-6, 1.749446e-7)
    np.testing.assert_allclose(t, 22.544681, rtol=1e-6, atol=0)
    p = ctd.ctd_sbe16plus_preswat(two(528418), two(24303), **SBE16_PRES_CAL)
    np.testing.assert_allclose(p, 27.282116, rtol=1e-6, atol=0)
    p = ctd.ctd_sbe16plus_preswat(two(528418), two(24303), **SBE16_PRES_CAL, offset=-0.5)
    np.testing.assert_allclose(p, 27.282116 - 0.5, rtol=1e-6, atol=0)
    cond = ctd.ctd_sbe16plus_condwat(two(1673175), two(22.544681, np.float64), two(27.282116, np.float64),
                                     -9.72193700e-001, 1.38675900e-001, -1.08398500e-004, 2.63219300e-005,
                                     -9.57000000e-008, 3.2500e-006)
    np.testing.assert_allclose(cond, 4.969069, rtol=1e-6, atol=0)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_inputs_the_loops_do_not_take_go_to_numpy():
    """Strided, 2-D, other integer types and per-record coefficients: numpy, same values."""
    cal = [DPS_CAL[k] for k in TEMPERATURE]
    counts = np.arange(300000, 700000, 7, dtype=np.int64)
    for variant in (counts, counts.astype(np.int32)[::2], counts.astype(np.int32).reshape(-1, 1),
                    counts.astype(np.uint32)):
        flat = np.ascontiguousarray(variant.ravel()).astype(np.int32)
        got = ctd.ctd_sbe16plus_tempwat(variant, *cal)
        assert got.shape == variant.shape
        assert_bits_equal(got.ravel(), ctd.ctd_sbe16plus_tempwat(flat, *cal))
    per_record = np.full(len(counts), cal[0])
    assert_bits_equal(ctd.ctd_sbe16plus_tempwat(counts.astype(np.int32), per_record, *cal[1:]),
                      ctd.ctd_sbe16plus_tempwat(counts.astype(np.int32), *cal))


def test_prepare_kernels_compiles_the_sbe_loops_before_requests():
    from stream_engine.engine.kernels import prepare_kernels

    prepare_kernels()
    for loop in sbe_kernels.LOOPS:
        assert loop.signatures, loop
        assert not loop._can_compile, loop  # nothing can compile inside a request
    compiled = {loop: len(loop.signatures) for loop in sbe_kernels.LOOPS}
    # counts and L1 values as the engine passes them: read-only or not, int32 or float64 with
    # NaN, float32 or float64 temperature and pressure; other types go to numpy
    stored = np.arange(300000, 300100, dtype=np.int32)
    frozen = stored.copy()
    frozen.flags.writeable = False
    for counts in (stored, frozen, _with_nan(stored), stored.astype(np.int64)):
        t = ctd.ctd_sbe16plus_tempwat(counts, *(DPS_CAL[k] for k in TEMPERATURE))
        p = ctd.ctd_sbe16plus_preswat(counts, counts, *(DPS_CAL[k] for k in PRESSURE))
        ctd.ctd_sbe37im_tempwat_instrument_recovered(counts, *(DPS_CAL[k] for k in TEMPERATURE))
        ctd.ctd_sbe37im_preswat_instrument_recovered(counts, counts, *(DPS_CAL[k] for k in PRESSURE))
        for kind in (np.float32, np.float64):
            ctd.ctd_sbe16plus_condwat(counts, t.astype(kind), p.astype(kind), *(DPS_CAL[k] for k in CONDUCTIVITY))
            ctd.ctd_sbe37im_condwat_instrument_recovered(counts, t.astype(kind), p.astype(kind),
                                                         *(DPS_CAL[k] for k in (*CONDUCTIVITY, "wbotc")))
    assert {loop: len(loop.signatures) for loop in sbe_kernels.LOOPS} == compiled


ASM_CHECK = """
import re
from stream_engine.engine.kernels import prepare_kernels
from stream_engine.functions import ctd_chain, record_keys, sbe_kernels, teos10
prepare_kernels()
for loop in (*teos10.LOOPS, *sbe_kernels.LOOPS, *ctd_chain.LOOPS, *record_keys.LOOPS):
    for signature, asm in loop.inspect_asm().items():
        assert asm.strip(), (loop.__name__, signature)
        found = sorted(set(re.findall(r"\\b(v?f(?:n)?m(?:add|sub)\\w*|v?rcp\\w*|v?rsqrt\\w*)\\b", asm)))
        print(loop.__name__, len(asm), found)
"""


def test_compiled_loops_round_every_operation_like_numpy_and_gsw(tmp_path):
    """No fused multiply-add, no approximate reciprocal or square root in any compiled loop
    (what would move values by an ulp), at the full vector width this machine gets: compiled
    afresh (a cache holds no assembly) in a child process."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}
    got = subprocess.run([sys.executable, "-c", ASM_CHECK], env=env, capture_output=True, text=True,
                         timeout=600)
    assert got.returncode == 0, got.stderr[-2000:]
    lines = got.stdout.splitlines()
    assert len(lines) >= 22  # every compiled version of every loop
    assert all(line.endswith(" []") for line in lines), [line for line in lines if not line.endswith(" []")]
