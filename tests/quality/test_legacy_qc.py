"""The original's data-QC tests against the DPS test values (as ion-functions' tests give them),
the OOI sample QC records (``qc.json``) parsed and run on the nitrate sample, and records whose
arguments name other variables."""

from __future__ import annotations

import csv
import json

import netCDF4
import numpy as np
import pytest

from stream_engine.quality.legacy_qc import QC_TESTS, load_qc, parse_qc, qc_for, run_qc
from stream_engine.quality.qc_algorithms import (
    global_range,
    gradient,
    local_range,
    modulus,
    ntp_month,
    poly_trend,
    propagate_flags,
    spike,
    stuck_value,
)
from stream_engine.store.base import StreamKey
from stream_engine.store.embedded import EmbeddedStore

NUTNR = StreamKey("CE04OSPS", "SF01B", "4A-NUTNRA102", "streamed", "nutnr_a_sample")


def test_global_range_dps_values():
    got = global_range(np.array([9, 10, 16, 17, 18, 19, 20, 25]), 10, 20)
    np.testing.assert_array_equal(got, [0, 1, 1, 1, 1, 1, 1, 0])


def test_spike_dps_values():
    np.testing.assert_array_equal(spike(np.array([-1, 3, 40, -1, 1, -6, -6, 1]), 0.1, 5, 5),
                                  [1, 1, 0, 1, 1, 1, 1, 1])
    dat = [-1, 3, 40, -1, 1, -6, -6, 1, 2, 4, 3, 1, -1, 40, 1, 1, 4, 2, 2, 2, 1, 2, 100]
    expected = [1] * 13 + [0] + [1] * 8 + [0]
    np.testing.assert_array_equal(spike(np.array(dat), 0.1, 5, 7), expected)
    dat = np.arange(20.0)
    dat[[0, 10, 19]] = 100
    expected = np.ones(20, dtype=np.int8)
    expected[[0, 10, 19]] = 0
    np.testing.assert_array_equal(spike(dat, 0.1, 5, 7), expected)
    rng = np.random.default_rng(4)
    series = np.full(200_000, 10.0)
    series[rng.choice(200_000, 10, replace=False)] = 13.0  # within N * acc of the peers
    outliers = rng.choice(200_000, 10, replace=False)
    series[outliers] = 20.0
    flags = spike(series, 1.0, 5, 5)
    assert (flags[outliers] == 0).all() and (np.delete(flags, outliers) == 1).all()


@pytest.mark.parametrize("dat, expected", [
    ([0.8147, 0.9058, 0.1270, 0.9134, 0.6324, 0.0975, 0.2785, 0.5469, 0.9575, 0.9649], 1),
    ([0.6557, 0.2357, 1.2491, 1.5340, 1.4787, 1.7577, 1.9431, 1.7922, 2.2555, 1.9712], 1),
    ([0.7060, 0.5318, 1.2769, 1.5462, 2.0971, 3.3235, 3.6948, 3.8171, 4.9502, 4.5344], 0),
    ([0] * 10, 1), ([1] * 10, 1),
    ([0.4387, -0.1184, -0.2345, -0.7048, -1.8131, -2.0102, -2.5544, -2.8537, -3.2906, -3.7453], 0),
])
def test_trend_dps_values(dat, expected):
    np.testing.assert_array_equal(poly_trend(np.array(dat), np.arange(1.0, 11.0), 1, 3), [expected] * 10)


def test_stuck_value_dps_values():
    x = np.array([4.83, 1.40, 3.33, 3.33, 3.33, 3.33, 4.09, 2.97, 2.85, 3.67])
    np.testing.assert_array_equal(stuck_value(x, 0.001, 4), [1, 1, 0, 0, 0, 0, 1, 1, 1, 1])
    rng = np.random.default_rng(5)
    a = rng.random(100_000) * 10 + 10
    a[5000:5020] = a[5000]
    flags = stuck_value(a, 0.1, 10)
    assert (flags[5000:5020] == 0).all() and (np.delete(flags, np.s_[5000:5020]) == 1).all()


def test_bits_are_the_preloads_qcflags(ooi_dir):
    with open(ooi_dir / "preload" / "ParameterFunctions.csv", newline="") as f:
        flags = {row["function"]: int(row["qcflag"], 2) for row in csv.DictReader(f) if row["qcflag"]}
    for name, test in QC_TESTS.items():
        assert flags[name] == test.bit, name


def test_sample_qc_records_on_the_nitrate_sample(samples_dir, tmp_path):
    records = json.loads((samples_dir / "qc.json").read_text())
    with EmbeddedStore(tmp_path) as store:
        assert len(load_qc(store, records)) == 28
        functions = qc_for(store, NUTNR)
        assert qc_for(store, StreamKey("CE04OSPS", "SF01B", "2A-CTDPFA107", "streamed", "ctdpf_sbe43_sample")) == {}
    assert sorted(functions) == ["nitrate_concentration", "salinity_corrected_nitrate"]
    assert functions["nitrate_concentration"]["dataqc_spiketest_wrapper"] == {"dat": "data", "N": 10.0, "L": 15.0,
                                                                              "acc": 0.5}
    with netCDF4.Dataset(samples_dir / "nutnr_a_sample.nc") as ds:
        times = np.asarray(ds["time"][:], dtype=np.float64)
        values = np.ma.filled(ds["nitrate_concentration"][:].astype(np.float64), np.nan)
    flags, notes = run_qc(functions["nitrate_concentration"], values, times)
    assert notes == []
    assert (flags.executed == 0b11101).all()
    given = functions["nitrate_concentration"]
    expected = (global_range(values, 0, 40) * 1 + spike(values, 0.5, 10, 15) * 4
                + poly_trend(values, times, 1, 0) * 8 + stuck_value(values, 0.5, 20) * 16)
    np.testing.assert_array_equal(flags.results, expected)
    assert given["dataqc_polytrendtest_wrapper"]["nstd"] == 0.0  # nstd 0: any variation is a "trend"
    assert ((flags.results & 8) == 0).all() == (np.nanstd(values) > 0)
    in_range = (values >= 0) & (values <= 40)
    np.testing.assert_array_equal(flags.results & 1, in_range.astype(np.uint8))


def test_bad_records_refused():
    with pytest.raises(ValueError, match="qcId"):
        parse_qc({"qcParameterPK": {"qcId": "nope", "parameter": "x", "streamParameter": "p"},
                  "valueType": "FLOAT", "value": "1"})
    with pytest.raises(ValueError, match="not a number"):
        parse_qc({"qcParameterPK": {"qcId": "dataqc_stuckvaluetest_wrapper", "parameter": "num",
                                    "streamParameter": "p"}, "valueType": "FLOAT", "value": "many"})


def test_local_range_dps_values():
    dat = np.array([3.5166, 8.3083, 5.8526, 5.4972, 9.1719, 2.8584, 7.5720, 7.5373, 3.8045, 5.6782])
    z = np.array([0.1517, 0.1079, 1.0616, 1.5583, 1.8680, 0.2598, 1.1376, 0.9388, 0.0238, 0.6742])
    datlim = np.array([[0, 2], [0, 2], [1, 8], [1, 9], [1, 10]])
    datlimz = np.array([0, 0.5, 1, 1.5, 2])
    np.testing.assert_array_equal(local_range(dat, z, datlim, datlimz), [0, 0, 1, 1, 1, 0, 1, 0, 0, 0])
    # the table's order does not matter; a location outside the table fails
    order = [3, 0, 4, 1, 2]
    np.testing.assert_array_equal(local_range(dat, z, datlim[order], datlimz[order]), [0, 0, 1, 1, 1, 0, 1, 0, 0, 0])
    assert local_range(np.array([1.0]), np.array([2.5]), datlim, datlimz).tolist() == [0]


# ion-functions' test of its wrapper: limits on a (pressure, month) grid, times in June 2013
WRAPPER_TIMES = 3580144703.7555027 + np.arange(10.0)


def _pressure_month_table():
    pressure_grid, month_grid = np.meshgrid(np.arange(0, 150, 10), np.arange(11))
    points = np.column_stack([pressure_grid.ravel(), month_grid.ravel()]).astype(float)
    datlim = np.column_stack([points[:, 0] + points[:, 1] + 10, points[:, 0] + points[:, 1] + 20])
    return points, datlim


def test_local_range_by_pressure_and_month_dps_wrapper_values():
    pressure = np.random.default_rng(7).random(10) * 2 + 33.0
    assert (ntp_month(WRAPPER_TIMES) == 5).all()  # June, 0-based as ion-functions' ntp_to_month
    dat = ntp_month(WRAPPER_TIMES) + pressure + np.arange(16, 26)
    points, datlim = _pressure_month_table()
    expected = [1, 1, 1, 1, 1, 0, 0, 0, 0, 0]
    z = np.column_stack([pressure, ntp_month(WRAPPER_TIMES)])
    np.testing.assert_array_equal(local_range(dat, z, datlim, points), expected)
    # the same through a record set naming pressure and the month of the time
    functions = {"dataqc_localrangetest_wrapper": {
        "dat": "data", "dims": ["pressure", "month"], "datlim": datlim.tolist(), "datlimz": points.ravel().tolist()}}
    flags, notes = run_qc(functions, dat, WRAPPER_TIMES, {"pressure": pressure}.get)
    assert notes == []
    assert (flags.executed == 2).all()
    np.testing.assert_array_equal(flags.results, np.array(expected) * 2)


def test_gradient_dps_values():
    dat = np.array([3, 5, 98, 99, 4.0])
    x = np.array([1, 2, 3, 4, 5.0])
    np.testing.assert_array_equal(gradient(dat, x, (-50, 50), np.nan, np.nan, 5.0), [1, 1, 0, 0, 1])
    np.testing.assert_array_equal(gradient(dat, x, (-50, 50), np.nan, 100.0, 5.0), [0, 0, 1, 1, 0])
    np.testing.assert_array_equal(gradient(dat, np.array([1, 2, 3, 3.1, 5]), (-50, 50), 0.2, np.nan, 5.0),
                                  [1, 1, 0, -99, 1])
    # ion-functions' own cases beyond the DPS: several skipped runs
    np.testing.assert_array_equal(gradient(dat, np.array([1, 2, 2.1, 2.2, 5]), (-50, 50), 0.9, np.nan, 5.0),
                                  [1, 1, -99, -99, 1])
    np.testing.assert_array_equal(gradient(np.full(10, 2.0), np.arange(10.0), (-2, 2), 2.0, np.nan, 5.0),
                                  [1, -99, -99, 1, -99, -99, 1, -99, -99, 1])
    # missing values are not scanned (and fail); the scan goes on over them
    np.testing.assert_array_equal(gradient(np.array([3, np.nan, 5, 98, 4.0]), x, (-50, 50), 0, np.nan, 5.0),
                                  [1, 0, 1, 0, 1])


def test_propagate_flags_dps_values():
    cases = [([[0], [0]], [0]), ([[1], [0]], [0]), ([[0], [1]], [0]), ([[1], [1]], [1]),
             ([[0, 0, 1, 1], [0, 1, 0, 1]], [0, 0, 0, 1]),
             ([[0, 0, 1, 1, 1, 0, 1], [0, 1, 0, 0, 1, 1, 1], [1, 0, 0, 1, 0, 1, 1]], [0, 0, 0, 0, 0, 0, 1])]
    for inflags, expected in cases:
        np.testing.assert_array_equal(propagate_flags(np.array(inflags, dtype=np.int8)), expected)


def test_modulus_dps_values():
    np.testing.assert_array_equal(modulus(np.array([-10, 0, 10, 350, 360, 370]), 360), [350, 0, 10, 350, 0, 10])


def _record(function, argument, value, kind="VECTOR", parameter="temp"):
    return {"qcParameterPK": {"qcId": function, "parameter": argument, "streamParameter": parameter,
                              "refDes": {"subsite": "S", "node": "N", "sensor": "X"}},
            "valueType": kind, "value": value}


def test_list_values_as_the_service_wrote_them_and_as_json():
    assert parse_qc(_record("dataqc_localrangetest_wrapper", "datlim", "[0 2 1 8]", "LIST")).value == [0, 2, 1, 8]
    assert parse_qc(_record("dataqc_localrangetest_wrapper", "datlim", [[0, 2], [1, 8]], "LIST")).value == [
        [0, 2], [1, 8]]
    assert parse_qc(_record("dataqc_localrangetest_wrapper", "dims", "[pressure month]", "LIST")).value == [
        "pressure", "month"]
    assert parse_qc(_record("dataqc_localrangetest_wrapper", "dims", '["pressure"]', "LIST")).value == ["pressure"]
    with pytest.raises(ValueError, match="name flag variables"):
        parse_qc(_record("dataqc_propagateflags_wrapper", "a", "1", "FLOAT"))


def test_gradient_and_propagate_through_records_naming_other_variables():
    times = 3.6e9 + np.arange(8.0)
    temp = np.array([10, 10.5, 30, 30, 11, 11.2, 11, 10.9])
    pressure = np.array([1, 2, 3, 4, 5, 6, 7, 8.0])
    salinity = np.array([33, 33, 33, 50, 33, 33, 33, 33.0])
    records = [
        _record("dataqc_gradienttest_wrapper", "dat", "data"),
        _record("dataqc_gradienttest_wrapper", "x", "pressure"),
        _record("dataqc_gradienttest_wrapper", "ddatdx", "5", "FLOAT"),
        _record("dataqc_gradienttest_wrapper", "toldat", "1", "FLOAT"),
        _record("dataqc_globalrangetest_minmax", "dat", "data", parameter="salinity"),
        _record("dataqc_globalrangetest_minmax", "dat_min", "0", "FLOAT", parameter="salinity"),
        _record("dataqc_globalrangetest_minmax", "dat_max", "42", "FLOAT", parameter="salinity"),
        _record("dataqc_propagateflags_wrapper", "a", "salinity_qc_results"),
        _record("dataqc_propagateflags_wrapper", "b", "flag"),
    ]
    everything = {}
    for r in map(parse_qc, records):
        everything.setdefault(r.parameter, {}).setdefault(r.function, {})[r.argument] = r.value
    flag = np.array([1, 1, 1, 1, 1, 1, 0, 1.0])
    known = {"pressure": pressure, "salinity": salinity, "flag": flag}
    flags, notes = run_qc(everything["temp"], temp, times, known.get, everything=everything)
    assert notes == []
    assert (flags.executed == 32 + 128).all()
    expected_gradient = gradient(temp, pressure, (-5, 5), np.nan, np.nan, 1)
    np.testing.assert_array_equal(expected_gradient, [1, 1, 0, 0, 1, 1, 1, 1])
    expected_propagate = propagate_flags(np.vstack([global_range(salinity, 0, 42), flag]))
    np.testing.assert_array_equal(expected_propagate, [1, 1, 1, 0, 1, 1, 0, 1])
    np.testing.assert_array_equal(flags.results, expected_gradient * 32 + expected_propagate.astype(int) * 128)
    # a name the dataset does not hold: the function is not run, and the note says why
    flags, notes = run_qc(everything["temp"], temp, times, {"salinity": salinity, "pressure": pressure}.get,
                          everything=everything)
    assert (flags.executed == 32).all()
    assert notes == ["dataqc_propagateflags_wrapper not run: b names 'flag', which the dataset does not hold"]
