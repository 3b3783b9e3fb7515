"""Reasons a product is missing, stated from plan, partition index and asset events, and checked
against what compute returns."""

from __future__ import annotations

import numpy as np
from engine_helpers import OPT, T0, deployment_event

from stream_engine import assets
from stream_engine.engine.availability import missing_where, unavailable_for, uncovered_spans
from stream_engine.engine.compute import compute
from stream_engine.engine.resolve import resolve
from stream_engine.store.base import Partition, TimeRange

TIMES = T0 + np.arange(0.0, 2000.0, 100.0)  # deployment 1 then 2, and 3 records after both
DEPLOYMENTS = np.where(TIMES < T0 + 1000, 1, 2)


def _setup(store, write):
    write(store, OPT, TIMES, DEPLOYMENTS, phase=np.linspace(1.0, 2.0, len(TIMES)), oxy_est=np.zeros(len(TIMES)))
    store.put_asset_events(OPT.refdes, [
        deployment_event(OPT.refdes, 1, T0 - 10, T0 + 1000, {"CC_coef": [(T0 - 10, 2.0)]}),
        deployment_event(OPT.refdes, 2, T0 + 1000, T0 + 1700, {}),  # no CC_coef; ends before the data
    ])


def test_reasons_agree_with_the_computed_values(store, write, preload, settings):
    _setup(store, write)
    plan = resolve(store, preload, OPT, [206], TimeRange.everything(), settings=settings)
    step = plan.product(206)
    deps = assets.deployments(store, OPT.refdes)
    reasons = unavailable_for(plan, step, deps, store.partitions(OPT), [], max_gap=100.0, require_deployment=False)
    assert reasons[0] == "deployment 2: missing calibration CC_coef"
    assert reasons[1].startswith("records from ") and reasons[1].endswith(
        "(up to 20 by the partition index): outside every deployment in the asset events, so missing "
        "calibration CC_coef")
    assert missing_where(plan, step, max_gap=100.0) == [
        "a record where one of its input values is missing (a fill in the raw data)"]
    out = compute(store, preload, plan, settings=settings, require_deployment=False)
    # deployment 1: computed; deployment 2 in its window: missing calibration; after it: not served
    np.testing.assert_array_equal(out.time, TIMES[TIMES < T0 + 1700])
    values = out["scaled_phase"]
    assert np.isfinite(values[out.deployment == 1]).all()
    assert np.isnan(values[out.deployment == 2]).all()


def test_uncovered_spans_follow_the_deployment_windows():
    deps = [assets.Deployment("A-B-01-C", 1, 100.0, 200.0, None, None, None),
            assets.Deployment("A-B-01-C", 2, 300.0, None, None, None, None)]
    parts = [Partition(0, 10, 50.0, 90.0), Partition(1, 10, 150.0, 250.0), Partition(2, 5, 260.0, 280.0),
             Partition(3, 4, 310.0, 400.0)]
    assert uncovered_spans(parts, deps) == [(50.0, 90.0, 10), (200.0, 280.0, 15)]
    assert uncovered_spans(parts, []) == [(50.0, 400.0, 29)]
