"""Real clients on an in-memory dataset: DAP4's native 64-bit integers (netCDF4-python's
libnetcdf 4.10, the system ncdump 4.9, pydap) and strings longer than netCDF-C's default 64
characters, over DAP2 (the ``DODS.strlen`` hint) and DAP4."""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
import urllib.request
from collections.abc import Iterator
from wsgiref.simple_server import make_server

import numpy as np
import pytest
from dap_fixtures import DapTestServer, QuietHandler

from dap_handlers.model import DapDataset, DapVariable

NCDUMP = shutil.which("ncdump")
N = 12
BIG = 2**60 + 1  # no float64 holds it
LONG = np.array([f"{'x' * (60 + 3 * i)}|end{i}|ü" for i in range(N)], dtype=object)
WIDE = np.arange(N, dtype="i8") * 1_000_003 + BIG
UWIDE = np.arange(N, dtype="u8") + 2**63 + 7


def _dataset() -> DapDataset:
    return DapDataset("wide", [
        DapVariable.from_array("time", 3.9e9 + np.arange(N, dtype="f8"), ["obs"],
                               {"units": "seconds since 1900-01-01"}),
        DapVariable.from_array("counter", WIDE, ["obs"], {"_FillValue": np.int64(-1)}),
        DapVariable.from_array("ucounter", UWIDE, ["obs"]),
        DapVariable.from_array("label", LONG, ["obs"], {"long_name": "a label's text"}),
    ], {"title": 'wide "integers" & long strings'})


def _serve(dataset: DapDataset) -> Iterator[DapTestServer]:
    app = DapTestServer(dataset)
    server = make_server("127.0.0.1", 0, app, handler_class=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    app.url = f"http://127.0.0.1:{server.server_port}/dap/{dataset.name}"
    yield app
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def served() -> Iterator[DapTestServer]:
    yield from _serve(_dataset())


@pytest.fixture(scope="module")
def strings() -> Iterator[DapTestServer]:
    """The time and label only: DAP2 refuses int64 values beyond 2**53."""
    whole = _dataset()
    yield from _serve(whole.replace_variables([whole["time"], whole["label"]]))


def test_netcdf4_python_reads_int64_natively_over_dap4(served):
    netCDF4 = pytest.importorskip("netCDF4")
    with netCDF4.Dataset(served.url + "#dap4") as ds:
        ds.set_auto_mask(False)
        assert ds["counter"].dtype == np.int64
        assert ds["ucounter"].dtype == np.uint64
        np.testing.assert_array_equal(ds["counter"][:], WIDE)
        np.testing.assert_array_equal(ds["ucounter"][:], UWIDE)
        assert int(ds["counter"][0]) == BIG
        assert ds["counter"]._FillValue == -1
        assert list(ds["label"][:]) == list(LONG)
        assert ds["label"].long_name == "a label's text"
        assert ds.title == 'wide "integers" & long strings'


def test_netcdf4_python_verifies_dap4_checksums(served):
    netCDF4 = pytest.importorskip("netCDF4")
    with netCDF4.Dataset(served.url + "?dap4.checksum=true#dap4") as ds:
        np.testing.assert_array_equal(ds["counter"][:], WIDE)
        assert list(ds["label"][:]) == list(LONG)
    assert any("dap4.checksum=true" in r for r in served.requests if ".dap" in r)


@pytest.mark.skipif(NCDUMP is None, reason="ncdump not installed (Debian package netcdf-bin)")
@pytest.mark.parametrize("checksum", ["false", "true"])
def test_ncdump_reads_int64_and_long_strings_over_dap4(served, checksum):
    url = f"{served.url}?dap4.checksum={checksum}#dap4"
    out = subprocess.run([NCDUMP, url], capture_output=True, text=True, timeout=120,
                         check=True).stdout
    assert "int64 counter(obs) ;" in out
    assert "uint64 ucounter(obs) ;" in out
    values = re.search(r" counter = (.*?);", out, re.S).group(1)
    assert [int(v) for v in values.replace("\n", " ").split(",")] == WIDE.tolist()
    labels = re.findall(r'"(x+\|end\d+\|ü)"', out)
    assert labels == list(LONG)


def test_pydap_reads_int64_over_dap4(served):
    client = pytest.importorskip("pydap.client")
    ds = client.open_url(served.url, protocol="dap4")
    assert ds["counter"].dtype == np.int64
    np.testing.assert_array_equal(np.asarray(ds["counter"][:].data), WIDE)
    np.testing.assert_array_equal(np.asarray(ds["ucounter"][2:9:3].data), UWIDE[2:9:3])


@pytest.mark.skipif(NCDUMP is None, reason="ncdump not installed (Debian package netcdf-bin)")
def test_ncdump_reads_strings_longer_than_64_over_dap2(strings):
    out = subprocess.run([NCDUMP, "-v", "label", strings.url], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    longest = max(len(v.encode()) for v in LONG)
    assert f"maxStrlen{longest} = {longest} ;" in out
    # ncdump writes the bytes of a non-ASCII char as octal escapes
    out = out.replace("\\303\\274", "ü")
    assert re.findall(r'"(x+\|end\d+\|ü)"', out) == list(LONG)


def test_netcdf4_python_and_xarray_read_long_strings_over_dap2(strings):
    netCDF4 = pytest.importorskip("netCDF4")
    xr = pytest.importorskip("xarray")
    with netCDF4.Dataset(strings.url) as ds:
        assert list(ds["label"][:]) == list(LONG)
    with xr.open_dataset(strings.url, engine="netcdf4") as ds:
        assert list(ds["label"].values) == list(LONG)
    with urllib.request.urlopen(strings.url + ".das", timeout=30) as response:
        text = response.read().decode()
    assert f"Int32 DODS.strlen {max(len(v.encode()) for v in LONG)};" in text
