"""COARE 3.5 bulk flux products against the published DPS / ion-functions test vectors."""

from __future__ import annotations

import numpy as np
import pytest

from stream_engine.functions import lookup
from stream_engine.functions.coare import warm_layer_days
from tests.functions.met_vectors import HOURLY, HOURLY_EXPECTED, MINUTE, MINUTE_EXPECTED, SWITCHES

OWNER = "ion_functions.data.met_functions"


@pytest.mark.parametrize("product", sorted(HOURLY_EXPECTED))
@pytest.mark.parametrize("row", range(4))
def test_hourly_products_match_the_dps_vectors(product: str, row: int) -> None:
    jwarm, jcool = SWITCHES[row]
    got = lookup(OWNER, f"met_{product}").compute({**HOURLY, "jwarm": jwarm, "jcool": jcool})
    np.testing.assert_allclose(got, HOURLY_EXPECTED[product][row], rtol=1e-8, atol=0)


@pytest.mark.parametrize("product", ["heatflx", "sensflx"])
def test_hourly_products_take_time_vectorised_heights_and_switches(product: str) -> None:
    n = len(HOURLY["timestamp"])
    inputs = {**HOURLY, **{k: np.full(n, v) for k, v in HOURLY.items() if np.ndim(v) == 0}}
    got = lookup(OWNER, f"met_{product}").compute({**inputs, "jwarm": np.ones(n), "jcool": np.ones(n)})
    np.testing.assert_allclose(got, HOURLY_EXPECTED[product][3], rtol=1e-8, atol=0)


@pytest.mark.parametrize("product", sorted(MINUTE_EXPECTED))
@pytest.mark.parametrize("row", range(4))
def test_minute_products_match_the_dps_vectors(product: str, row: int) -> None:
    jwarm, jcool = SWITCHES[row]
    got = lookup(OWNER, f"met_{product}_minute").compute({**MINUTE, "jwarm": jwarm, "jcool": jcool})
    np.testing.assert_allclose(got, MINUTE_EXPECTED[product][row], rtol=1e-8, atol=0)


def test_minute_fluxes_are_missing_on_days_that_start_after_six_local_solar_time() -> None:
    # 40.5 degrees east is 2 h 42 min ahead of UTC: 04:00 UTC is 06:42 local, too late to start
    late = {**MINUTE, "timestamp": MINUTE["timestamp"] + 4 * 3600.0}
    got = lookup(OWNER, "met_heatflx_minute").compute({**late, "jwarm": 1, "jcool": 1})
    assert np.isnan(got).all()
    without_warm_layer = lookup(OWNER, "met_heatflx_minute").compute({**late, "jwarm": 0, "jcool": 1})
    np.testing.assert_allclose(without_warm_layer, MINUTE_EXPECTED["heatflx"][1], rtol=1e-8)


def test_warm_layer_days_follow_the_first_record_of_each_local_day() -> None:
    day = 86400.0
    local = np.array([5 * 3600.0, 9 * 3600.0, day + 7 * 3600.0, day + 8 * 3600.0, 2 * day + 6 * 3600.0])
    integrated, newday, missing = warm_layer_days(local)
    assert integrated.tolist() == [0, 1, 4]
    assert newday.tolist() == [True, False, True, False, True]
    assert missing.tolist() == [False, False, True, True, False]
