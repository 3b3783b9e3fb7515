"""Resolution: co-location order, method variants, choices, defaults, failures, recursion, cycles."""

from __future__ import annotations

import json

import numpy as np
import pytest
from engine_helpers import OPT, T0, build_preload, deployment_event

from stream_engine.engine.colocation import candidate_streams, method_rank
from stream_engine.engine.plan import DEFAULT, EXTERNAL, PRODUCT, RAW, Plan
from stream_engine.engine.resolve import resolve
from stream_engine.errors import BadRequest, NotFound
from stream_engine.store.base import StreamCoverage, StreamKey, TimeRange

RANGE = TimeRange(T0, T0 + 2000)
TIMES = T0 + np.arange(0.0, 2000.0, 100.0)


def ctd(subsite: str = "CE01ISSM", node: str = "MFD37", sensor: str = "03-DOSTAD000",
        method: str = "recovered_host", stream: str = "ctd_a") -> StreamKey:
    return StreamKey(subsite, node, sensor, method, stream)


# the candidates of every co-location tier, for the primary OPT (nominal depth 7 m)
SAME_REFDES = ctd()
SAME_DEPTH = ctd(node="MFD35", sensor="02-CTDBPC000")
SAME_NODE = ctd(sensor="04-CTDBPC001")
NEAR_DEPTH = ctd(node="SBD17", sensor="05-CTDBPC002")
FAR = ctd(node="RID16", sensor="06-CTDBPC003")
DEPTHS = {
    OPT.refdes: 7.0, SAME_DEPTH.refdes: 7.0, SAME_NODE.refdes: 25.0,
    NEAR_DEPTH.refdes: 12.5, FAR.refdes: 30.0,
}


def _write_ctd(store, write, key, temperature=10.0):
    write(store, key, TIMES, 1, temperature=np.full(len(TIMES), temperature),
          salinity=np.full(len(TIMES), 33.0), ctd_count=np.arange(len(TIMES), dtype=np.int32))


def _write_opt(store, write):
    write(store, OPT, TIMES, 1, phase=np.linspace(1.0, 2.0, len(TIMES)), oxy_est=np.full(len(TIMES), 250.0))


def _cov(key):
    return StreamCoverage(key, 10, T0, T0 + 1000)


def test_candidate_order_same_refdes_then_depth_then_node_then_variance():
    coverage = [_cov(k) for k in (FAR, NEAR_DEPTH, SAME_NODE, SAME_DEPTH, SAME_REFDES, OPT)]
    found = candidate_streams(coverage, OPT, RANGE, DEPTHS, 6.0)
    assert [c.key for c in found] == [SAME_REFDES, SAME_DEPTH, SAME_NODE, NEAR_DEPTH]
    assert [c.tier for c in found] == [0, 1, 2, 3]
    assert candidate_streams(coverage, OPT, RANGE, DEPTHS, 5.0)[-1].key == SAME_NODE
    assert candidate_streams([_cov(SAME_REFDES)], OPT, TimeRange(T0 + 5000, T0 + 6000), DEPTHS, 6.0) == []


@pytest.mark.parametrize(
    ("present", "chosen"),
    [
        ((SAME_REFDES, SAME_DEPTH, SAME_NODE, NEAR_DEPTH, FAR), SAME_REFDES),
        ((SAME_DEPTH, SAME_NODE, NEAR_DEPTH, FAR), SAME_DEPTH),
        ((SAME_NODE, NEAR_DEPTH, FAR), SAME_NODE),
        ((NEAR_DEPTH, FAR), NEAR_DEPTH),
    ],
)
def test_resolve_picks_best_colocated_stream(store, write, settings, present, chosen):
    preload = build_preload(DEPTHS)
    _write_opt(store, write)
    for i, key in enumerate(present):
        _write_ctd(store, write, key, temperature=float(i))
    plan = resolve(store, preload, OPT, [202], RANGE, settings=settings)
    (ext,) = plan.externals
    assert ext.key == chosen
    assert plan.product(202).arguments[1].stream == chosen


def test_only_far_stream_is_unresolvable(store, write, settings):
    _write_opt(store, write)
    _write_ctd(store, write, FAR)
    plan = resolve(store, build_preload(DEPTHS), OPT, [202, 215], RANGE, settings=settings)
    reason = plan.reason(202)
    assert reason.startswith("no stream provides dpi_TEMPWAT_L1 near CE01ISSM-MFD37-03-DOSTAD000 between")
    assert "2017-" in reason
    assert plan.reason(215) is None and plan.product(215) is not None


def test_method_variant_preference(store, write, settings):
    preload = build_preload(DEPTHS)
    _write_opt(store, write)
    for method in ("telemetered", "recovered_inst", "recovered_host_bad"):
        _write_ctd(store, write, ctd(node="MFD35", sensor="02-CTDBPC000", method=method))
    plan = resolve(store, preload, OPT, [202], RANGE, settings=settings)
    assert plan.externals[0].key.method == "recovered_inst"
    _write_ctd(store, write, ctd(node="MFD35", sensor="02-CTDBPC000", method="recovered_host"))
    plan = resolve(store, preload, OPT, [202], RANGE, settings=settings)
    assert plan.externals[0].key.method == "recovered_host"
    assert method_rank("recovered_host", "bad_recovered") is None
    assert method_rank("telemetered", "recovered_host") == 2


def test_choice_takes_first_resolvable_option(store, write, settings, preload):
    _write_opt(store, write)
    _write_ctd(store, write, SAME_REFDES)
    plan = resolve(store, preload, OPT, [203], RANGE, settings=settings)
    (arg,) = plan.product(203).arguments
    assert (arg.kind, arg.source, arg.parameter) == (EXTERNAL, "dpi_PRACSAL_L2", "salinity")


def test_optional_argument_falls_back_to_default(store, write, settings, preload):
    _write_opt(store, write)
    plan = resolve(store, preload, OPT, [204], RANGE, settings=settings)
    y = plan.product(204).arguments[1]
    assert (y.kind, y.value) == (DEFAULT, 5.0)
    assert "default" in plan.product(204).notes[0]


def test_unresolvable_makes_only_dependents_unavailable(store, write, settings, preload):
    _write_opt(store, write)
    _write_ctd(store, write, SAME_REFDES)
    plan = resolve(store, preload, OPT, [205, 207, 202, 201], RANGE, settings=settings)
    assert plan.reason(205).startswith("no stream provides dpi_NOPE_L1 near CE01ISSM-MFD37-03-DOSTAD000")
    assert plan.reason(207) == "no implementation registered for tests.engine.nothing"
    assert plan.reason(202) is None and plan.reason(201) is None
    assert [p.parameter_id for p in plan.products] == [202]
    assert plan.raw_columns == ("phase",)


def test_recursive_external_product(store, write, settings, preload):
    _write_opt(store, write)
    ctd_b = ctd(stream="ctd_b")
    write(store, ctd_b, TIMES, 1, conductivity=np.full(len(TIMES), 4.0))
    plan = resolve(store, preload, OPT, [209], RANGE, settings=settings)
    (ext,) = plan.externals
    assert ext.key == ctd_b and ext.parameter == "sal_computed"
    assert [s.name for s in ext.plan.products] == ["sal_computed"]
    assert ext.plan.raw_columns == ("conductivity",)


def test_dependency_cycle_is_detected(store, write, settings, preload):
    write(store, ctd(stream="cyc_a"), TIMES, 1)
    write(store, ctd(stream="cyc_b"), TIMES, 1)
    plan = resolve(store, preload, ctd(stream="cyc_a"), [401], RANGE, settings=settings)
    assert "dependency cycle" in plan.reason(401)
    assert plan.products == ()


def test_computed_product_beats_instrument_estimate_unless_unavailable(store, write, settings, preload):
    _write_opt(store, write)
    refdes = OPT.refdes
    store.put_asset_events(refdes, [deployment_event(refdes, 1, T0 - 10, T0 + 5000, {"CC_oxycoef": [(T0 - 10, 2.0)]})])
    plan = resolve(store, preload, OPT, [212], RANGE, settings=settings)
    (x,) = plan.product(212).arguments
    assert (x.kind, x.parameter_id) == (PRODUCT, 211)
    store.put_asset_events(refdes, [deployment_event(refdes, 1, T0 - 10, T0 + 5000, {})])
    plan = resolve(store, preload, OPT, [212], RANGE, settings=settings)
    (x,) = plan.product(212).arguments
    assert (x.kind, x.parameter_id) == (RAW, 210)
    assert plan.reason(211) == "missing calibration CC_oxycoef for deployment 1"


def test_calibration_missing_for_some_deployments_is_a_note(store, write, settings, preload):
    _write_opt(store, write)
    refdes = OPT.refdes
    store.put_asset_events(refdes, [
        deployment_event(refdes, 1, T0 - 10, T0 + 1000, {"CC_coef": [(T0 - 10, 2.0)]}),
        deployment_event(refdes, 2, T0 + 1000, T0 + 5000, {}),
    ])
    plan = resolve(store, preload, OPT, [206], RANGE, settings=settings)
    assert plan.deployments == (1, 2)
    assert plan.product(206).notes == ("missing calibration CC_coef for deployment 2: those records are fill",)
    assert plan.calibrations == ("CC_coef",)


def test_plan_to_dict_round_trips_through_json(store, write, settings, preload):
    _write_opt(store, write)
    write(store, ctd(stream="ctd_b"), TIMES, 1, conductivity=np.full(len(TIMES), 4.0))
    _write_ctd(store, write, SAME_REFDES)
    plan = resolve(store, preload, OPT, None, RANGE, settings=settings)
    text = json.dumps(plan.to_dict())
    again = Plan.from_dict(json.loads(text))
    assert again == plan
    assert again.to_dict() == plan.to_dict()
    assert {u.parameter_id for u in plan.unavailable} >= {205, 207}
    everything = resolve(store, preload, OPT, [], TimeRange.everything(), settings=settings)
    assert json.loads(json.dumps(everything.to_dict()))["time_range"] == ["-inf", "inf"]


def test_bad_requests(store, settings, preload):
    with pytest.raises(BadRequest, match="PD102"):
        resolve(store, preload, OPT, [102], RANGE, settings=settings)
    with pytest.raises(NotFound, match="no_such_stream"):
        resolve(store, preload, ctd(stream="no_such_stream"), None, RANGE, settings=settings)
