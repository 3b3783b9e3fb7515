"""Asset-management events: parsing real OOI event files, lookups, loading into a store."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest

from stream_engine import assets
from stream_engine.assets import (
    CalibrationValue,
    Deployment,
    calibration_values,
    deployment_numbers_at,
    deployments,
    load_event_file,
    parse_events,
)
from stream_engine.errors import IngestError

METBK = "CE02SHSM-SBD11-06-METBKA000"


def _events(samples_dir: Path, name: str) -> list[dict]:
    return json.loads((samples_dir / name).read_text())


@pytest.fixture
def metbk(samples_dir: Path) -> list[Deployment]:
    return parse_events(_events(samples_dir, f"{METBK}_events.json"))


def test_ms_to_ntp() -> None:
    assert assets.unix_ms_to_ntp(0) == 2208988800.0
    assert assets.unix_ms_to_ntp(1428006540000) == 3636995340.0
    assert assets.ntp_to_unix_ms(3636995340.0) == 1428006540000


def test_metbk_deployments(metbk: list[Deployment]) -> None:
    assert [d.number for d in metbk] == [1, 2, 3, 4]
    assert {d.refdes for d in metbk} == {METBK}
    d1, d2, _, d4 = metbk
    # deployment 1: eventStartTime 1428006540000, eventStopTime 1444176000000 (Unix ms)
    assert d1.start == 3636995340.0
    assert d1.stop == 3653164800.0
    assert (d1.lat, d1.lon, d1.depth) == (44.63833, -124.30388, -3.0)
    assert d2.start == 3653241000.0 and d2.stop == 3672345600.0
    assert (d2.lat, d2.lon) == (44.63538, -124.30252)
    # the last deployment is still open and has no depth
    assert d4.start == 3683913900.0 and d4.stop is None
    assert (d4.lat, d4.lon, d4.depth) == (44.63929, -124.30404, None)


def test_metbk_calibrations(metbk: list[Deployment]) -> None:
    d1, d2, _, d4 = metbk
    assert d1.calibrations["CC_zinvpbl"] == (
        CalibrationValue("CC_zinvpbl", 3636921600.0, 600.0),  # 1427932800000 ms
    )
    assert d1.calibrations["CC_height_of_windspeed_sensor_above_sealevel_m"][0].value == 4.65
    assert "CC_use_velpt" not in d1.calibrations
    assert d4.calibrations["CC_use_velpt"] == (CalibrationValue("CC_use_velpt", 3683836800.0, 1.0),)
    # deployment 2 lists three dated values of the wind sensor height, sorted by start here
    wind = d2.calibrations["CC_height_of_windspeed_sensor_above_sealevel_m"]
    assert [(c.start, c.value) for c in wind] == [
        (3637180800.0, 4.64),  # 1428192000000
        (3653164800.0, 4.19),  # 1444176000000
        (3673382400.0, 4.75),  # 1464393600000
    ]


def test_calibration_values_take_latest_start(metbk: list[Deployment]) -> None:
    d2 = metbk[1]
    name = "CC_height_of_windspeed_sensor_above_sealevel_m"
    times = np.array([3600000000.0, 3637180800.0, 3653164799.0, d2.start, 3673382400.0, 3.8e9])
    values = calibration_values(d2, name, times)
    assert values is not None and values.shape == (6,) and values.dtype == np.float64
    np.testing.assert_array_equal(values, [4.64, 4.64, 4.64, 4.19, 4.75, 4.75])
    assert calibration_values(d2, "CC_missing", times) is None


def test_calibration_change_within_deployment() -> None:
    cals = {
        "CC_a0": (
            CalibrationValue("CC_a0", 1000.0, 1.5),
            CalibrationValue("CC_a0", 2000.0, 2.5),
            CalibrationValue("CC_a0", 3000.0, 3.5),
        )
    }
    dep = Deployment("XX01XXXX-XXX01-01-XXXXXX000", 1, 500.0, 5000.0, 1.0, 2.0, 3.0, cals)
    values = calibration_values(dep, "CC_a0", np.array([600.0, 1000.0, 1999.9, 2000.0, 2500.0, 4999.0]))
    np.testing.assert_array_equal(values, [1.5, 1.5, 1.5, 2.5, 2.5, 3.5])


def test_location_calibrations_come_from_the_deployment(metbk: list[Deployment]) -> None:
    d1, d4 = metbk[0], metbk[3]
    times = np.array([d1.start, d1.start + 10])
    np.testing.assert_array_equal(calibration_values(d1, "CC_lat", times), [44.63833] * 2)
    np.testing.assert_array_equal(calibration_values(d1, "CC_longitude", times), [-124.30388] * 2)
    np.testing.assert_array_equal(calibration_values(d1, "CC_depth", times), [-3.0] * 2)
    assert calibration_values(d4, "CC_depth", times) is None  # no depth and no such coefficient


def test_array_calibrations(samples_dir: Path) -> None:
    deps = parse_events(_events(samples_dir, "CE04OSPS-SF01B-4A-NUTNRA102_events.json"))
    assert [d.number for d in deps] == [1, 2, 3]
    assert deps[0].refdes == "CE04OSPS-SF01B-4A-NUTNRA102"  # referenceDesignator is an object here
    d2 = deps[1]
    wl = d2.calibrations["CC_wl"]
    assert len(wl) == 1 and wl[0].start == 3647548800.0  # 1438560000000
    assert wl[0].value.shape == (256,)
    assert wl[0].value[:3].tolist() == [187.83, 188.64, 189.44] and wl[0].value[-1] == 395.28
    times = np.array([d2.start, d2.start + 60.0, d2.start + 120.0])
    values = calibration_values(d2, "CC_wl", times)
    assert values.shape == (3, 256)
    assert values[2, 1] == 188.64
    assert calibration_values(d2, "CC_cal_temp", times).tolist() == [19.92] * 3


def test_nested_list_calibration() -> None:
    event = {
        "eventType": "DEPLOYMENT",
        "referenceDesignator": "XX01XXXX-XXX01-01-OPTAAD000",
        "deploymentNumber": 2,
        "eventStartTime": 1_000_000_000_000,
        "eventStopTime": None,
        "location": {"latitude": 1.0, "longitude": 2.0, "depth": 3.0},
        "sensor": {"calibration": [{"name": "CC_tcarray", "calData": [
            {"eventStartTime": 900_000_000_000, "value": [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]},
        ]}]},
    }
    (dep,) = parse_events([event])
    values = calibration_values(dep, "CC_tcarray", np.array([dep.start, dep.start + 1]))
    assert values.shape == (2, 2, 3)
    assert values[1].tolist() == [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]


def test_old_service_format_values_and_dimensions(samples_dir: Path) -> None:
    deps = parse_events(_events(samples_dir, "events.json"))
    assert [d.number for d in deps] == [1, 2]
    d1, d2 = deps
    assert d1.refdes == "CE04OSPS-SF01B-2A-CTDPFA107"
    assert d1.calibrations["CC_a0"] == (CalibrationValue("CC_a0", 3567801600.0, 0.001246087),)
    assert d2.calibrations["CC_ptca0"][0].value == 524732.5
    assert d1.stop == 3647557260.0 and d2.stop is None


def test_open_deployment_is_closed_by_the_next(samples_dir: Path) -> None:
    deps = parse_events(_events(samples_dir, "GI01SUMO-RID16-04-VELPTA000_events.json"))
    assert [d.number for d in deps] == [1, 2, 3]
    # deployment 2 has no eventStopTime; deployment 3 starts at 1468172640000 ms
    assert deps[1].stop == deps[2].start == 3677161440.0
    assert deps[2].stop == 3710534400.0


def test_deployment_numbers_at(metbk: list[Deployment]) -> None:
    d1, d2, d3, d4 = metbk
    times = np.array([
        d1.start - 1,  # before anything
        d1.start,
        d1.stop - 1,
        d1.stop,  # gap between 1 and 2
        d2.start + 100,
        d3.start,
        d4.start + 1,  # deployments 3 and 4 overlap here: the later start wins
        d3.stop + 1e6,  # only 4 (open)
    ])
    got = deployment_numbers_at(metbk, times)
    assert got.dtype == np.int32
    assert got.tolist() == [0, 1, 1, 0, 2, 3, 4, 4]
    assert deployment_numbers_at([], times).tolist() == [0] * len(times)
    assert d1.covers(d1.start) and not d1.covers(d1.stop)


def test_load_event_file_round_trip(store, samples_dir: Path) -> None:
    summary = load_event_file(store, samples_dir / f"{METBK}_events.json")
    assert summary.added == [(METBK, 1), (METBK, 2), (METBK, 3), (METBK, 4)]
    assert summary.deployment_count == 4
    assert store.asset_refdeses() == [METBK]
    got = deployments(store, METBK)
    assert [d.number for d in got] == [1, 2, 3, 4]
    assert got[1].calibrations == parse_events(_events(samples_dir, f"{METBK}_events.json"))[1].calibrations
    assert got[3].stop is None
    assert deployments(store, "CE02SHSM-SBD11-04-VELPTA000") == []
    # loading again changes nothing, never duplicates
    again = load_event_file(store, samples_dir / f"{METBK}_events.json")
    assert (again.added, again.replaced, len(again.unchanged)) == ([], [], 4)
    assert again.describe() == (f"4 deployments: 0 added, 0 replaced, 4 unchanged ({METBK} #1, "
                                f"{METBK} #2, {METBK} #3, {METBK} #4)")
    assert len(store.asset_events(METBK)) == 4


def test_every_sample_event_file_loads(store, samples_dir: Path) -> None:
    files = sorted(samples_dir.glob("*events.json"))
    assert len(files) >= 10
    for path in files:
        assert load_event_file(store, path).deployment_count >= 2
    assert "CE04OSPS-SF01B-4A-NUTNRA102" in store.asset_refdeses()
    assert len(deployments(store, "CP02PMUO-WFP01-03-CTDPFK000")) == 7


def test_non_deployment_events_are_ignored_and_counted(tmp_path: Path, samples_dir: Path) -> None:
    events = _events(samples_dir, f"{METBK}_events.json")
    events.append({"@class": ".XEvent", "eventType": "CRUISE_INFO", "eventName": "OC1503D"})
    path = tmp_path / "mixed.json"
    path.write_text(json.dumps(events))
    parsed = assets.read_event_file(path)
    assert parsed.ignored == 1 and parsed.deployment_count == 4
    assert len(parse_events(events)) == 4


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("{not json", "not valid JSON"),
        ('"a string"', "expected a JSON list"),
        ("[1, 2]", "event 0 must be a JSON object"),
        ("[]", "no DEPLOYMENT events"),
    ],
)
def test_malformed_files(store, tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "bad_events.json"
    path.write_text(content)
    with pytest.raises(IngestError, match=expected) as info:
        load_event_file(store, path)
    assert "bad_events.json" in str(info.value)
    assert store.asset_refdeses() == []


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("deploymentNumber", "two", "deploymentNumber must be a non-negative integer"),
        ("eventStartTime", None, "eventStartTime must be a number"),
        ("eventStopTime", 1, "is not after eventStartTime"),
        ("referenceDesignator", None, "no usable reference designator"),
    ],
)
def test_bad_event_stores_nothing(store, tmp_path: Path, samples_dir: Path, field, value, expected) -> None:
    load_event_file(store, samples_dir / "CE02SHSM-SBD11-04-VELPTA000_events.json")
    before = store.asset_events("CE02SHSM-SBD11-04-VELPTA000")
    events = _events(samples_dir, f"{METBK}_events.json")
    bad = copy.deepcopy(events)
    bad[2][field] = value
    if field == "referenceDesignator":
        bad[2]["eventName"] = None
    path = tmp_path / "broken_events.json"
    path.write_text(json.dumps(bad))
    with pytest.raises(IngestError, match=expected) as info:
        load_event_file(store, path)
    assert "broken_events.json" in str(info.value) and "event 2" in str(info.value)
    assert store.asset_refdeses() == ["CE02SHSM-SBD11-04-VELPTA000"]
    assert store.asset_events("CE02SHSM-SBD11-04-VELPTA000") == before


def test_bad_calibration_value(store, tmp_path: Path, samples_dir: Path) -> None:
    events = _events(samples_dir, f"{METBK}_events.json")
    events[0]["sensor"]["calibration"][0]["calData"][0]["value"] = "four"
    path = tmp_path / "badcal.json"
    path.write_text(json.dumps(events))
    with pytest.raises(IngestError, match="CC_height_of_air_temperature_measurement_m"):
        load_event_file(store, path)
    assert store.asset_refdeses() == []


CTDPF = "CE04OSPS-SF01B-2A-CTDPFA107"


@pytest.mark.parametrize("order", [("own", "shared"), ("shared", "own")])
def test_two_event_files_of_one_instrument_merge(store, samples_dir: Path, order) -> None:
    """``events.json`` holds deployments 1 and 2 of the CTD; its own file holds 1, 2 and 3."""
    files = {"own": samples_dir / f"{CTDPF}_events.json", "shared": samples_dir / "events.json"}
    first = load_event_file(store, files[order[0]])
    second = load_event_file(store, files[order[1]])
    assert [d.number for d in deployments(store, CTDPF)] == [1, 2, 3]
    if order[0] == "shared":
        assert first.added == [(CTDPF, 1), (CTDPF, 2)]
        assert second.added == [(CTDPF, 3)]
        assert sorted(second.replaced + second.unchanged) == [(CTDPF, 1), (CTDPF, 2)]
    else:
        assert first.added == [(CTDPF, 1), (CTDPF, 2), (CTDPF, 3)]
        assert second.added == [] and second.removed == []
        assert sorted(second.replaced + second.unchanged) == [(CTDPF, 1), (CTDPF, 2)]
    # the later file's deployments 1 and 2 are the ones in force
    later = parse_events(_events(samples_dir, files[order[1]].name))
    stored = {d.number: d for d in deployments(store, CTDPF)}
    for dep in later:
        assert (stored[dep.number].start, stored[dep.number].calibrations) == (dep.start, dep.calibrations)


def test_replace_flag_makes_the_file_the_whole_record(store, samples_dir: Path) -> None:
    load_event_file(store, samples_dir / f"{CTDPF}_events.json")
    summary = load_event_file(store, samples_dir / "events.json", replace=True)
    assert summary.removed == [(CTDPF, 3)]
    assert [d.number for d in deployments(store, CTDPF)] == [1, 2]
    assert "1 removed (CE04OSPS-SF01B-2A-CTDPFA107 #3)" in summary.describe()


def test_deployments_are_parsed_again_only_after_the_events_change(tmp_path: Path) -> None:
    from stream_engine import demo
    from stream_engine.store.embedded import EmbeddedStore
    from stream_engine.store.wrapper import WrapperStore

    refdes = demo.CTD.refdes
    events = demo.asset_events(demo.CTD)
    with EmbeddedStore(tmp_path) as store:
        store.put_asset_events(refdes, events)
        first = assets.deployments(store, refdes)
        assert [d.number for d in first] == [d.number for d in assets.deployments(store, refdes)]
        assert assets.deployments(store, refdes)[0] is first[0]  # kept, not parsed again
        changed = copy.deepcopy(events)
        changed[0]["location"]["latitude"] = 12.5
        store.put_asset_events(refdes, changed)
        assert assets.deployments(store, refdes)[0].lat == 12.5

        class Remote(WrapperStore):
            def local_folder(self):
                return None

        remote = Remote(store)
        assert assets.deployments(remote, refdes)[0] is not assets.deployments(remote, refdes)[0]
