"""The original's data-QC tests against the DPS test values (as ion-functions' tests give them),
the OOI sample QC records (``qc.json``) parsed and run on the nitrate sample."""

from __future__ import annotations

import csv
import json

import netCDF4
import numpy as np
import pytest

from stream_engine.quality.legacy_qc import (
    QC_TESTS,
    global_range,
    load_qc,
    parse_qc,
    poly_trend,
    qc_for,
    run_qc,
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
