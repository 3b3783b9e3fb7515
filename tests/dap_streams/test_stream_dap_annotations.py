"""Exclusion annotations over DAP (netCDF4 as the client): the records they cover are missing in
every variable but ``time`` and ``deployment`` (stored and computed alike), parameters named by one
are missing there, other streams are untouched, and the dataset names the annotations."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from stream_servers import InProcessServer, dap_url, in_process_app

from stream_engine import demo
from stream_engine.assets import NTP_UNIX_OFFSET
from stream_engine.quality.annotations import load_annotations
from stream_engine.store.embedded import EmbeddedStore

netCDF4 = pytest.importorskip("netCDF4")

DEP2 = demo.DEPLOYMENTS[1]
CUT_FROM, CUT_TO = DEP2.start + 3600.0, DEP2.start + 5400.0
NULL_FROM, NULL_TO = DEP2.start + 7200.0, DEP2.start + 9000.0
SALINITY = 13


def ms(ntp):
    return (ntp - NTP_UNIX_OFFSET) * 1000.0


@pytest.fixture(scope="module")
def served(tmp_path_factory, curated) -> Iterator[tuple[InProcessServer, EmbeddedStore]]:
    folder = tmp_path_factory.mktemp("dap_annotations")
    with EmbeddedStore(folder / "data") as store:
        demo.fill_demo(store, curated)
        server = InProcessServer(in_process_app(store, curated, folder))
        try:
            yield server, store
        finally:
            server.close()


def _read(url, names):
    with netCDF4.Dataset(url) as ds:
        out = {}
        for name in names:
            out[name] = ds[name][:]
        return out, ds.__dict__


def test_exclusion_hides_exactly_its_records(served):
    server, store = served
    names = ["time", "deployment", "conductivity", "sea_water_practical_salinity", "sea_water_density",
             "sea_water_temperature"]
    before, _ = _read(dap_url(server.url, demo.CTD), names)
    optode_before, _ = _read(dap_url(server.url, demo.OPTODE), ["time", "dissolved_oxygen"])
    ids = load_annotations(store, [
        {"subsite": demo.CTD.subsite, "node": demo.CTD.node, "sensor": demo.CTD.sensor, "method": demo.CTD.method,
         "stream": demo.CTD.stream, "beginDT": ms(CUT_FROM), "endDT": ms(CUT_TO), "annotation": "pump off",
         "exclusionFlag": True, "qcFlag": "fail", "parameters": []},
        {"subsite": demo.CTD.subsite, "node": demo.CTD.node, "sensor": demo.CTD.sensor, "beginDT": ms(NULL_FROM),
         "endDT": ms(NULL_TO), "annotation": "cell fouled", "exclusionFlag": True, "parameters": [SALINITY]},
    ])
    after, attrs = _read(dap_url(server.url, demo.CTD), names)
    times = before["time"]
    cut = (times >= CUT_FROM) & (times <= CUT_TO)
    nulled = (times >= NULL_FROM) & (times <= NULL_TO)
    assert cut.sum() > 20 and nulled.sum() > 20
    np.testing.assert_array_equal(after["time"], times)
    np.testing.assert_array_equal(after["deployment"], before["deployment"])
    for name in names[2:]:  # the masks a client sees (_FillValue / NaN)
        assert not np.ma.getmaskarray(before[name]).any(), name
        expected = cut | nulled if name == "sea_water_practical_salinity" else cut
        np.testing.assert_array_equal(np.ma.getmaskarray(after[name]), expected, err_msg=name)
        np.testing.assert_array_equal(after[name].data[~expected], before[name].data[~expected], err_msg=name)
    assert f"annotation {ids[0]}:" in attrs["annotations_excluded"] and "pump off" in attrs["annotations_excluded"]
    assert f"annotation {ids[1]}:" in attrs["annotations_excluded"]
    optode_after, optode_attrs = _read(dap_url(server.url, demo.OPTODE), ["time", "dissolved_oxygen"])
    np.testing.assert_array_equal(optode_after["dissolved_oxygen"].data, optode_before["dissolved_oxygen"].data)
    assert "annotations" not in optode_attrs
