"""Computation: calibration tiling, failures, deployments, external inputs at slice edges."""

from __future__ import annotations

import json

import numpy as np
import pytest
from engine_helpers import OPT, T0, deployment_event

from stream_engine.engine.compute import compute
from stream_engine.engine.resolve import resolve
from stream_engine.store.base import IndexRange, StreamKey, TimeRange

REFDES = OPT.refdes
CTD = StreamKey(OPT.subsite, OPT.node, OPT.sensor, "recovered_inst", "ctd_a")
TIMES = T0 + np.arange(0.0, 2000.0, 100.0)  # 20 records, deployment 1 then 2
PHASE = np.linspace(1.0, 2.0, len(TIMES))
RANGE = TimeRange(T0 - 1000, T0 + 3000)


def _deployments(store, dep2_cals=True):
    store.put_asset_events(REFDES, [
        deployment_event(REFDES, 1, T0 - 10, T0 + 1000, {"CC_coef": [(T0 - 10, 2.0), (T0 + 500, 3.0)]}),
        deployment_event(REFDES, 2, T0 + 1000, T0 + 5000,
                         {"CC_coef": [(T0 + 900, 10.0)]} if dep2_cals else {}, lat=45.0),
    ])


@pytest.fixture
def opt(store, write):
    deps = np.where(TIMES < T0 + 1000, 1, 2)
    write(store, OPT, TIMES, deps, phase=PHASE, oxy_est=np.full(len(TIMES), 250.0))
    return store


def _run(store, preload, settings, ids, **kw):
    plan = resolve(store, preload, OPT, ids, RANGE, settings=settings)
    return plan, compute(store, preload, plan, settings=settings, **kw)


def test_calibration_changing_mid_deployment_is_tiled_per_record(opt, preload, settings):
    _deployments(opt)
    _, out = _run(opt, preload, settings, [206])
    coef = np.where(TIMES < T0 + 500, 2.0, np.where(TIMES < T0 + 1000, 3.0, 10.0))
    np.testing.assert_array_equal(out["scaled_phase"], PHASE * coef)
    np.testing.assert_array_equal(out.deployment, np.where(TIMES < T0 + 1000, 1, 2))
    prov = out.provenance["products"]["scaled_phase"]
    assert prov["status"] == "ok"
    assert prov["arguments"]["c"]["values"] == {
        "1": [{"start": T0 - 10, "value": 2.0}, {"start": T0 + 500, "value": 3.0}],
        "2": [{"start": T0 + 900, "value": 10.0}],
    }
    assert prov["function"] == "tests.engine.scale" and prov["version"] == "t1"
    json.dumps(out.provenance)


def test_calibration_missing_for_one_deployment_fills_its_records(opt, preload, settings):
    _deployments(opt, dep2_cals=False)
    _, out = _run(opt, preload, settings, [206, 214])
    dep1 = TIMES < T0 + 1000
    assert np.isfinite(out["scaled_phase"][dep1]).all()
    assert np.isnan(out["scaled_phase"][~dep1]).all()
    prov = out.provenance["products"]["scaled_phase"]
    assert (prov["status"], prov["reason"]) == ("partial", "missing calibration CC_coef for deployment 2")
    np.testing.assert_allclose(out["lat_sum"], PHASE + np.where(dep1, 44.6, 45.0))


def test_algorithm_raising_fills_only_its_product(opt, preload, settings):
    _deployments(opt)
    _, out = _run(opt, preload, settings, [208, 215, 201])
    assert np.isnan(out["exploding"]).all() and out["exploding"].dtype == np.float64
    prov = out.provenance["products"]["exploding"]
    assert prov["status"] == "failed"
    assert prov["errors"] == ["RuntimeError: boom: the sensor exploded"]
    np.testing.assert_array_equal(out["plus_const"], PHASE + 0.5)
    np.testing.assert_array_equal(out["phase"], PHASE)


def test_records_outside_deployments_and_duplicates(store, write, preload, settings):
    times = np.array([T0 - 100, T0, T0, T0 + 100, T0 + 2900])
    write(store, OPT, times, [1, 1, 2, 1, 1], phase=np.arange(5.0), oxy_est=np.zeros(5))
    write(store, OPT, [T0 + 100], 1, phase=[3.0], oxy_est=[0.0])  # same key: replaced, not duplicated
    _deployments(store)
    plan, out = _run(store, preload, settings, [206])
    np.testing.assert_array_equal(out.time, [T0, T0 + 100])
    np.testing.assert_array_equal(out["scaled_phase"], [2.0, 6.0])
    np.testing.assert_array_equal(out.source_index, [1, 3])
    assert out.provenance["dropped_outside_deployment"] == 3
    # outside their own deployment's window: excluded whatever REQUIRE_DEPLOYMENT, as the original
    kept = compute(store, preload, plan, settings=settings, require_deployment=False)
    np.testing.assert_array_equal(kept.time, [T0, T0 + 100])
    write(store, OPT, [T0 + 50], 7, phase=[1.0], oxy_est=[0.0])  # deployment 7: no asset events
    kept = compute(store, preload, plan, settings=settings, require_deployment=False)
    np.testing.assert_array_equal(kept.time, [T0, T0 + 50, T0 + 100])
    np.testing.assert_array_equal(kept["scaled_phase"], [2.0, np.nan, 6.0])
    assert kept.provenance["products"]["scaled_phase"]["reason"] == "missing calibration CC_coef for deployment 7"
    strict = compute(store, preload, plan, settings=settings, require_deployment=True)
    np.testing.assert_array_equal(strict.time, [T0, T0 + 100])
    assert strict.provenance["dropped_outside_deployment"] == 4


def test_duplicate_time_within_deployment_keeps_first(store, write, preload, settings):
    write(store, OPT, [T0, T0, T0 + 100], [1, 1, 1], phase=[1.0, 2.0, 3.0], oxy_est=np.zeros(3))
    _deployments(store)
    _, out = _run(store, preload, settings, [201])
    assert len(out.time) == 2


def test_external_input_uses_one_record_either_side_of_the_slice(opt, write, preload, settings):
    _deployments(opt)
    ctd_t = T0 - 50 + np.arange(0.0, 2100.0, 100.0)
    temperature = 10.0 + (ctd_t - T0) / 100.0
    write(opt, CTD, ctd_t, np.where(ctd_t < T0 + 1000, 1, 2), temperature=temperature,
          salinity=np.full(len(ctd_t), 33.0), ctd_count=np.arange(len(ctd_t), dtype=np.int32))
    plan = resolve(opt, preload, OPT, [202], RANGE, settings=settings)
    out = compute(opt, preload, plan, time_range=TimeRange(T0 + 200, T0 + 400), settings=settings)
    np.testing.assert_array_equal(out.time, [T0 + 200, T0 + 300])
    expected_t = np.interp([T0 + 200, T0 + 300], ctd_t, temperature)
    np.testing.assert_array_equal(out["oxy_temp_sum"], PHASE[[2, 3]] + expected_t)
    arg = out.provenance["products"]["oxy_temp_sum"]["arguments"]["b"]
    assert arg["stream"] == CTD.path and arg["time_range"] == [T0 + 150, T0 + 350]
    assert arg["deployments"] == [1] and arg["interpolation"] == "linear"
    by_index = compute(opt, preload, plan, index_range=IndexRange(2, 4), settings=settings)
    np.testing.assert_array_equal(by_index["oxy_temp_sum"], out["oxy_temp_sum"])
    # at the deployment boundary the same-instrument CTD is not interpolated across deployments
    edge = compute(opt, preload, plan, time_range=TimeRange(T0 + 900, T0 + 1001), settings=settings)
    np.testing.assert_array_equal(edge["oxy_temp_sum"] - PHASE[[9, 10]], [19.0, 20.5])


def test_integer_external_fill_becomes_missing(opt, write, preload, settings):
    _deployments(opt)
    counts = np.arange(len(TIMES), dtype=np.int32)
    counts[3] = -9999999
    write(opt, CTD, TIMES, np.where(TIMES < T0 + 1000, 1, 2), temperature=np.zeros(len(TIMES)),
          salinity=np.zeros(len(TIMES)), ctd_count=counts)
    _, out = _run(opt, preload, settings, [213])
    expected = np.arange(len(TIMES), dtype=np.float64)
    expected[3] = np.nan
    np.testing.assert_array_equal(out["count_copy"], expected)
    assert out.provenance["products"]["count_copy"]["arguments"]["x"]["interpolation"] == "last-seen"


def test_unavailable_requested_product_is_all_missing_with_reason(opt, preload, settings):
    _deployments(opt)
    _, out = _run(opt, preload, settings, [205, 201])
    assert np.isnan(out["needs_nope"]).all() and len(out["needs_nope"]) == len(TIMES)
    assert out.provenance["unavailable"]["needs_nope"].startswith("no stream provides dpi_NOPE_L1")


def test_array_parameters_flow_through(store, write, preload, settings):
    spectra = np.arange(12, dtype=np.float32).reshape(4, 3)
    write(store, OPT, TIMES[:4], 1, phase=PHASE[:4], oxy_est=np.zeros(4), spectrum=spectra)
    _deployments(store)
    _, out = _run(store, preload, settings, [220, 221])
    np.testing.assert_array_equal(out["spectrum"], spectra)
    assert out["spectrum_x2"].shape == (4, 3) and out["spectrum_x2"].dtype == np.float32
    np.testing.assert_array_equal(out["spectrum_x2"], 2 * spectra)


def test_external_gap_just_within_and_just_beyond_the_limit(opt, write, preload, settings):
    # MAX_INTERPOLATION_GAP is 100 s here: the OPT record at +200 s sits in a 99 s gap of the
    # CTD, the one at +300 s in a 101 s gap (a limit loosened even a little would fill it)
    _deployments(opt)
    assert settings["MAX_INTERPOLATION_GAP"] == 100.0
    ctd_t = T0 + np.array([150.5, 249.5, 251.0, 352.0])
    write(opt, CTD, ctd_t, 1, temperature=np.array([10.0, 11.0, 12.0, 13.0]),
          salinity=np.full(4, 33.0), ctd_count=np.arange(4, dtype=np.int32))
    plan = resolve(opt, preload, OPT, [202], RANGE, settings=settings)
    out = compute(opt, preload, plan, time_range=TimeRange(T0 + 200, T0 + 400), settings=settings)
    np.testing.assert_array_equal(out.time, [T0 + 200, T0 + 300])
    expected = PHASE[2] + np.interp(T0 + 200, ctd_t, [10.0, 11.0, 12.0, 13.0])
    assert out["oxy_temp_sum"][0] == expected
    assert np.isnan(out["oxy_temp_sum"][1])


def test_duplicate_times_that_reach_compute_keep_the_first(store, write, preload, settings):
    # (T0, deployment 0) and (T0, deployment 1) are two records to the store; deployment 0
    # means "find it by time", so both are deployment 1 to compute, which keeps the first
    write(store, OPT, [T0, T0, T0 + 100], [0, 1, 1], phase=[1.0, 2.0, 3.0], oxy_est=np.zeros(3))
    _deployments(store)
    assert store.coverage(OPT).count == 3
    _, out = _run(store, preload, settings, [206])
    np.testing.assert_array_equal(out.time, [T0, T0 + 100])
    np.testing.assert_array_equal(out["scaled_phase"], [2.0, 6.0])  # 1.0 (first) and 3.0, x 2
    assert out.provenance["dropped_duplicate_time"] == 1
    np.testing.assert_array_equal(out.source_index, [0, 2])
