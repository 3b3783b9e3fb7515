"""QARTOD flags over DAP: equal to ioos_qc run directly on the served values, and a slice's flags
(window tests included) equal the whole stream's."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator

import numpy as np
import pytest
from stream_servers import InProcessServer, dap_url, in_process_app

from stream_engine import demo
from stream_engine.assets import NTP_UNIX_OFFSET
from stream_engine.quality.qartod import load_qartod
from stream_engine.store.embedded import EmbeddedStore

netCDF4 = pytest.importorskip("netCDF4")
SALINITY = "sea_water_practical_salinity"


@pytest.fixture(scope="module")
def served(tmp_path_factory, curated) -> Iterator[tuple[InProcessServer, dict]]:
    folder = tmp_path_factory.mktemp("dap_qartod")
    with EmbeddedStore(folder / "data") as store:
        demo.fill_demo(store, curated)
        server = InProcessServer(in_process_app(store, curated, folder))
        with netCDF4.Dataset(dap_url(server.url, demo.CTD)) as ds:
            times, values = np.ma.filled(ds["time"][:], np.nan), ds[SALINITY][:].filled(np.nan)
        steps = np.abs(np.diff(values)) / np.diff(times)
        config = {"qartod": {
            "gross_range_test": {"suspect_span": list(np.nanpercentile(values, [10, 90])),
                                 "fail_span": list(np.nanpercentile(values, [2, 98]))},
            "spike_test": {"suspect_threshold": float(np.nanpercentile(np.abs(np.diff(values)), 90)),
                           "fail_threshold": float(np.nanpercentile(np.abs(np.diff(values)), 99))},
            "rate_of_change_test": {"threshold": float(np.nanpercentile(steps, 95))},
            "flat_line_test": {"tolerance": float(np.nanpercentile(np.abs(np.diff(values)), 5)),
                               "suspect_threshold": 180, "fail_threshold": 300},
        }}
        load_qartod(store, [{"refDes": {"subsite": demo.CTD.subsite, "node": demo.CTD.node, "sensor": None},
                             "stream": demo.CTD.stream, "parameters": json.dumps({"inp": "practical_salinity",
                                                                                 "tinp": "time", "zinp": "None"}),
                             "qcConfig": json.dumps(config)}])
        try:
            yield server, {"times": times, "values": values, "config": config}
        finally:
            server.close()


def _direct(times, values, config):
    from ioos_qc.config import QcConfig

    stamps = ((times - NTP_UNIX_OFFSET) * 1e6).astype("datetime64[us]")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = QcConfig(config).run(inp=np.ma.masked_invalid(values), tinp=stamps)["qartod"]
    return {name: np.ma.filled(flags, 9).astype(np.uint8) for name, flags in results.items()}


def test_flags_equal_ioos_qc_run_directly(served):
    server, data = served
    direct = _direct(data["times"], data["values"], data["config"])
    with netCDF4.Dataset(dap_url(server.url, demo.CTD)) as ds:
        results = ds[f"{SALINITY}_qartod_results"]
        assert list(results.flag_values) == [1, 2, 3, 4, 9]
        assert results.flag_meanings == "pass not_evaluated suspect_or_of_high_interest fail missing_data"
        assert results.tests_executed == ", ".join(f"qartod.{t}" for t in direct)
        assert f"{SALINITY}_qartod_results" in ds[SALINITY].ancillary_variables
        aggregate = results[:]
        executed = ds[f"{SALINITY}_qartod_executed"][:]
    np.testing.assert_array_equal(aggregate, np.max(np.vstack(list(direct.values())), axis=0))
    for position, flags in enumerate(direct.values()):
        np.testing.assert_array_equal([int(e[position]) for e in executed], flags)
    assert {1, 3, 4} <= set(np.unique(aggregate))
    for name in ("spike_test", "rate_of_change_test", "flat_line_test"):
        assert {1, 3} <= set(np.unique(direct[name])) or {1, 4} <= set(np.unique(direct[name])), name


@pytest.mark.parametrize("start, stop, step", [(0, 50, 1), (1, 2, 1), (37, 611, 1), (100, 1000, 7), (403, 404, 1)])
def test_slices_flag_as_the_whole_stream(served, start, stop, step):
    server, data = served
    url = dap_url(server.url, demo.CTD)
    with netCDF4.Dataset(url) as ds:
        whole = ds[f"{SALINITY}_qartod_results"][:]
        whole_executed = ds[f"{SALINITY}_qartod_executed"][:]
    with netCDF4.Dataset(url) as ds:  # a fresh request: nothing kept from the whole read
        part = ds[f"{SALINITY}_qartod_results"][start:stop:step]
        part_executed = ds[f"{SALINITY}_qartod_executed"][start:stop:step]
    np.testing.assert_array_equal(part, whole[start:stop:step])
    np.testing.assert_array_equal(part_executed, whole_executed[start:stop:step])
