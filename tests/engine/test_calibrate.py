"""Calibrations per record: the shortcuts for a window inside one deployment give exactly what
the general tiling gives, and the general cases still behave as documented."""

from __future__ import annotations

import math

import numpy as np
import pytest

from stream_engine.assets import CalibrationValue, Deployment
from stream_engine.engine import calibrate
from stream_engine.engine.calibrate import (
    deployment_groups,
    record_deployments,
    served_records,
    tile_calibration,
)

REFDES = "CE01ISSM-MFD37-03-CTDBPC000"


def _dep(number: int, start: float, stop: float | None, **cals: list[tuple[float, object]]) -> Deployment:
    calibrations = {name: tuple(CalibrationValue(name, st, value) for st, value in entries)  # type: ignore[arg-type]
                    for name, entries in cals.items()}
    return Deployment(REFDES, number, start, stop, 44.6, -124.1, 25.0, calibrations)


DEPS = [
    _dep(1, 1000.0, 2000.0, CC_a0=[(-math.inf, 1.5)], CC_a1=[(-math.inf, 2.0), (1500.0, 2.5)],
         CC_vec=[(1000.0, np.array([1.0, 2.0, 3.0]))]),
    _dep(2, 2000.0, None, CC_a0=[(-math.inf, 1.25)], CC_a1=[(-math.inf, 3.0)],
         CC_vec=[(-math.inf, np.array([4.0, 5.0, 6.0]))]),
]


def _same(a: calibrate.TiledCalibration, b: calibrate.TiledCalibration) -> None:
    assert (a.name, a.missing, a.used, a.outside, a.constant, a.reason) == (
        b.name, b.missing, b.used, b.outside, b.constant, b.reason)
    if a.values is None or b.values is None:
        assert a.values is None and b.values is None
    else:
        np.testing.assert_array_equal(a.values, b.values)
        assert a.values.dtype == b.values.dtype and a.values.shape == b.values.shape
    np.testing.assert_array_equal(np.broadcast_to(a.available, (len(a.available),)), b.available)


def _fields(group: calibrate.RecordGroup) -> tuple[object, ...]:
    records = group.records
    where = np.arange(group.first, group.last + 1) if isinstance(records, slice) else records
    return group.number, where.tolist(), group.count, group.not_covered


CASES = {
    "inside one deployment, one value": (np.linspace(1100.0, 1400.0, 50), 1),
    "value changes within the window": (np.linspace(1100.0, 1900.0, 50), 1),
    "second deployment, open-ended": (np.linspace(2100.0, 2500.0, 50), 2),
    "records before the deployment": (np.linspace(900.0, 1400.0, 50), 1),
    "deployment without asset events": (np.linspace(1100.0, 1400.0, 50), 7),
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("name", ["CC_a0", "CC_a1", "CC_vec", "CC_lat", "CC_missing"])
def test_one_deployment_shortcut_equals_the_general_tiling(case: str, name: str) -> None:
    times, number = CASES[case]
    numbers, covered = record_deployments(DEPS, times, np.full(len(times), number, dtype=np.int32))
    groups = deployment_groups(numbers, covered)
    assert [_fields(g) for g in groups] == [_fields(g) for g in calibrate._groups_by_number(numbers, covered)]
    _same(tile_calibration(name, DEPS, times, groups), calibrate._tiled_per_record(name, DEPS, times, groups))


def test_window_inside_one_deployment_is_one_constant_value() -> None:
    times = np.linspace(1100.0, 1400.0, 50)
    numbers, covered = record_deployments(DEPS, times, np.zeros(len(times), dtype=np.int32))
    groups = deployment_groups(numbers, covered)
    assert groups == [calibrate.RecordGroup(1, slice(0, 50), 50, 0, 0, 49)]
    tiled = tile_calibration("CC_vec", DEPS, times, groups)
    assert tiled.constant and tiled.values is not None and tiled.values.tolist() == [1.0, 2.0, 3.0]
    assert tiled.available.all() and tiled.used == {"1": [{"start": 1000.0, "value": [1.0, 2.0, 3.0]}]}


def test_window_across_two_deployments_tiles_per_record() -> None:
    times = np.linspace(1800.0, 2200.0, 41)
    numbers, covered = record_deployments(DEPS, times, np.zeros(len(times), dtype=np.int32))
    groups = deployment_groups(numbers, covered)
    assert [g.number for g in groups] == [1, 2]
    tiled = tile_calibration("CC_a0", DEPS, times, groups)
    assert not tiled.constant and tiled.values is not None
    np.testing.assert_array_equal(tiled.values, np.where(times < 2000.0, 1.5, 1.25))
    changing = tile_calibration("CC_a1", DEPS, times, groups)
    assert changing.values is not None
    np.testing.assert_array_equal(changing.values, np.where(times < 2000.0, 2.5, 3.0))


@pytest.mark.parametrize("require", [False, True])
def test_served_records_keep_numbers_without_asset_events_only_when_not_required(require: bool) -> None:
    times = np.array([900.0, 1100.0, 1200.0, 2100.0, 2200.0, 2300.0])
    stored = np.array([1, 1, 1, 2, 9, 9], dtype=np.int32)
    numbers, covered = record_deployments(DEPS, times, stored)
    served = served_records(DEPS, numbers, covered, require)
    expected = [False, True, True, True, not require, not require]
    assert served.tolist() == expected
    known_only = stored.copy()
    known_only[4:] = 2  # every number has asset events: the shortcut, same answer as covered
    numbers, covered = record_deployments(DEPS, times, known_only)
    assert served_records(DEPS, numbers, covered, require).tolist() == covered.tolist()


def test_values_kept_per_deployment_object_not_per_number() -> None:
    """Two deployment objects with the same number (asset events changed between requests)
    each give their own value; a value kept for the deployment is read-only."""
    times = np.linspace(1100.0, 1400.0, 50)
    numbers, covered = record_deployments(DEPS, times, np.ones(len(times), dtype=np.int32))
    groups = deployment_groups(numbers, covered)
    first = tile_calibration("CC_a0", DEPS, times, groups)
    changed = [_dep(1, 1000.0, 2000.0, CC_a0=[(-math.inf, 9.5)]), DEPS[1]]
    again = tile_calibration("CC_a0", changed, times, groups)
    assert first.values is not None and again.values is not None
    assert (float(first.values), float(again.values)) == (1.5, 9.5)
    assert float(tile_calibration("CC_a0", DEPS, times, groups).values) == 1.5  # type: ignore[arg-type]
    assert not first.values.flags.writeable
    first.used["1"][0]["value"] = "changed by a caller"
    assert tile_calibration("CC_a0", DEPS, times, groups).used["1"][0]["value"] == 1.5
