"""The one-record COARE (the warm layer's fast inner step) agrees with the array version."""

from __future__ import annotations

import numpy as np
import pytest

from stream_engine.functions.coare import BulkInputs, coare35, warm_layer
from stream_engine.functions.coare_point import coare35_point
from tests.functions.met_vectors import MINUTE


def _inputs(rng: np.random.Generator, n: int) -> BulkInputs:
    return BulkInputs(
        rain_rate=rng.uniform(0, 20, n), timestamp=3.7e9 + 60.0 * np.arange(n), lon=np.full(n, -124.3),
        ztmpwat=rng.uniform(0.5, 2, n), tC_sea=rng.uniform(-1, 32, n), wnd=rng.uniform(0, 25, n) ** 1.2,
        zwindsp=rng.uniform(2, 10, n), tC_air=rng.uniform(-10, 35, n), ztmpair=rng.uniform(2, 6, n),
        relhum=rng.uniform(20, 100, n), zhumair=rng.uniform(2, 6, n), pr_air=rng.uniform(950, 1050, n),
        Rshort_down=rng.uniform(0, 1000, n), Rlong_down=rng.uniform(250, 450, n), lat=rng.uniform(-70, 70, n),
        zinvpbl=np.full(n, 600.0), jcool=1.0, jwarm=1.0)


@pytest.mark.parametrize("jcool", [0.0, 1.0])
def test_one_record_version_matches_the_array_version(jcool: float) -> None:
    x = _inputs(np.random.default_rng(11), 2000)
    x.jcool = jcool
    x.wnd[:5] = [0.0, 0.01, 40.0, np.nan, 3.0]
    x.tC_air[5:8] = [x.tC_sea[5] + 15, x.tC_sea[6] - 15, np.nan]  # very stable, very unstable, missing
    expected = np.stack(coare35(x.tC_sea, x)[:5], axis=1)
    for j in range(len(x.tC_sea)):
        got = coare35_point(*(float(getattr(x, f)[j]) for f in (
            "tC_sea", "wnd", "zwindsp", "tC_air", "ztmpair", "relhum", "zhumair", "pr_air", "Rshort_down",
            "Rlong_down", "lat", "zinvpbl")), jcool)
        np.testing.assert_allclose(got, expected[j], rtol=1e-12, atol=1e-300, equal_nan=True, err_msg=str(j))


def test_warm_layer_is_unchanged_by_the_fast_step(monkeypatch) -> None:
    x = _inputs(np.random.default_rng(5), 400)
    x.lon[:] = float(MINUTE["lon"][0])
    x.timestamp = 86400.0 * 3 + 60.0 * np.arange(400)  # from local midnight on: integrated
    x.Rshort_down[:] = 900.0  # enough sun for a warm layer
    fast = warm_layer(x)
    assert fast[2].max() > 0

    def unavailable(*args: object) -> None:
        raise ArithmeticError("use the array version")

    monkeypatch.setattr("stream_engine.functions.coare_point.coare35_point", unavailable)
    slow = warm_layer(x)
    for a, b in zip(fast, slow, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
