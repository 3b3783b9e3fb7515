"""String variables through real clients: how many requests ``ncdump`` makes, and ``str`` values.

``ncdump`` reads a 2-D variable one row per ``nc_get_vara`` call, and DAP2 strings reach
netCDF-C as ``char(obs, maxStrlen64)``; netCDF-C caches only whole-variable fetches (or
prefetches of variables under 1-4 thousand elements), so each row becomes its own request.
With the ``#wholevar`` client parameter the first read fetches the whole variable and every
later row comes from the cache: one data request. The DAS marks strings ``_Encoding "utf-8"``
so netCDF4-python and xarray decode them to ``str``.
"""

from __future__ import annotations

import shutil
import subprocess
import warnings

import numpy as np
import pytest
from stream_servers import dap_url

from stream_engine import demo

NCDUMP = shutil.which("ncdump")
STRING_VARIABLE = "preferred_timestamp"


def _dods_requests(log_dir, stream: str) -> int:
    log = (log_dir / "stream_engine.access.log").read_text()
    return sum(1 for line in log.splitlines() if f"/{stream}.dods" in line)


def test_ncdump_reads_a_string_variable_in_one_request(live, engine_store):
    assert NCDUMP, "ncdump not installed (Debian package netcdf-bin)"
    count = engine_store.coverage(demo.CTD).count
    stored = engine_store.read(demo.CTD, [STRING_VARIABLE])[STRING_VARIABLE]
    before = _dods_requests(live.log_dir, demo.CTD.stream)
    out = subprocess.run(
        [NCDUMP, "-v", STRING_VARIABLE, dap_url(live.url, demo.CTD) + "#wholevar"],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout
    assert _dods_requests(live.log_dir, demo.CTD.stream) - before == 1
    body = out.split(f" {STRING_VARIABLE} =", 1)[1]
    values = [v.strip().strip('"') for v in body.rsplit(";", 1)[0].split(",")]
    assert len(values) == count == len(stored)
    assert values == [str(v) for v in stored]


@pytest.mark.parametrize("engine", ["netcdf4", "pydap"])
def test_xarray_gets_str(live, engine_store, engine):
    xr = pytest.importorskip("xarray")
    stored = engine_store.read(demo.CTD, [STRING_VARIABLE], index_range=None)[STRING_VARIABLE]
    url = dap_url(live.url, demo.CTD)
    if engine == "pydap":  # told the protocol, pydap's client does not warn
        from pydap.client import open_url
        from xarray.backends import PydapDataStore

        with warnings.catch_warnings():
            warnings.simplefilter("error")
            opened = xr.open_dataset(PydapDataStore(open_url(url, protocol="dap2")))
    else:
        opened = xr.open_dataset(url, engine=engine)
    with opened as ds:
        values = ds[STRING_VARIABLE][:5].values
    assert values.dtype.kind in "UO", values.dtype
    assert all(isinstance(v, str) for v in values)
    np.testing.assert_array_equal(values.astype(str), np.asarray(stored[:5], str))
