"""Legacy QC bitmasks over DAP: the samples' ``qc.json`` stored and run on the nitrate sample;
the windowed tests (spike, stuck value) flag a slice as the whole stream."""

from __future__ import annotations

import json
from collections.abc import Iterator

import numpy as np
import pytest
from stream_servers import InProcessServer, dap_url, in_process_app

from stream_engine.ingest import ingest_file
from stream_engine.quality.legacy_qc import global_range, load_qc, spike, stuck_value
from stream_engine.store.embedded import EmbeddedStore

netCDF4 = pytest.importorskip("netCDF4")
NAME = "nitrate_concentration"


@pytest.fixture(scope="module")
def served(tmp_path_factory, curated, samples_dir) -> Iterator[tuple[InProcessServer, object]]:
    folder = tmp_path_factory.mktemp("dap_legacy_qc")
    with EmbeddedStore(folder / "data") as store:
        overrides = {"subsite": "CE04OSPS", "node": "SF01B", "sensor": "4A-NUTNRA102", "method": "streamed",
                     "stream": "nutnr_a_sample"}
        key = ingest_file(store, curated, samples_dir / "nutnr_a_sample.nc", overrides=overrides).key
        load_qc(store, json.loads((samples_dir / "qc.json").read_text()))
        server = InProcessServer(in_process_app(store, curated, folder))
        try:
            yield server, key
        finally:
            server.close()


def test_qc_json_on_the_nitrate_sample_over_dap(served):
    server, key = served
    with netCDF4.Dataset(dap_url(server.url, key)) as ds:
        values = np.ma.filled(ds[NAME][:].astype(np.float64), np.nan)
        executed = ds[f"{NAME}_qc_executed"][:]
        results = ds[f"{NAME}_qc_results"][:]
        assert f"{NAME}_qc_results" in ds[NAME].ancillary_variables
        part = ds[f"{NAME}_qc_results"][5:17]
    assert (executed == 0b11101).all()
    windowed = (global_range(values, 0, 40) * 1 + spike(values, 0.5, 10, 15) * 4
                + stuck_value(values, 0.5, 20) * 16)
    np.testing.assert_array_equal(results & 0b10101, windowed)
    np.testing.assert_array_equal(part & 0b10101, windowed[5:17])  # the slice's context
