"""Missing values over DAP, as clients see them, on real samples: file fills are missing, and
the attributes agree with the data."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from stream_servers import InProcessServer, dap_url, in_process_app

from stream_engine.ingest import ingest_file
from stream_engine.store.base import StreamKey
from stream_engine.store.embedded import EmbeddedStore

netCDF4 = pytest.importorskip("netCDF4")

DOSTA_FILE = "dosta_abcdjm_cspp_instrument_recovered.nc"


@pytest.fixture(scope="module")
def samples_server(tmp_path_factory, samples_dir: Path, curated) -> Iterator[tuple[InProcessServer, dict[str, StreamKey]]]:
    folder = tmp_path_factory.mktemp("dap_missing")
    with EmbeddedStore(folder / "data") as store:
        keys = {"dosta": ingest_file(store, curated, samples_dir / DOSTA_FILE).key}
        server = InProcessServer(in_process_app(store, curated, folder))
        try:
            yield server, keys
        finally:
            server.close()


def test_dosta_cspp_saturation_is_missing_over_dap(samples_server, samples_dir):
    server, keys = samples_server
    with netCDF4.Dataset(samples_dir / DOSTA_FILE) as ds:
        ds.set_auto_maskandscale(False)
        raw_concentration = ds["estimated_oxygen_concentration"][:]
    with netCDF4.Dataset(dap_url(server.url, keys["dosta"])) as ds:
        saturation = ds["estimated_oxygen_saturation"]
        assert np.isnan(saturation._FillValue)
        values = saturation[:]
        assert values.shape == (430,)
        assert np.ma.getmaskarray(values).all()  # NaN is the declared fill: every record masked
        saturation.set_auto_mask(False)
        assert np.isnan(saturation[:]).all()
        concentration = ds["estimated_oxygen_concentration"][:]
        assert not np.ma.getmaskarray(concentration).any()
        np.testing.assert_array_equal(concentration.data, raw_concentration)
