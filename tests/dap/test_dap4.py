"""DAP4 responses of ``handle_dap4``: the DMR, the chunked data response (checked with an
independent decoder written from the specification), checksums, constraints, errors."""

from __future__ import annotations

import xml.etree.ElementTree as ET
import zlib

import numpy as np
import pytest
from dap4_decoder import NS, attributes, chunks, decode
from dap_fixtures import PRECISE, sample_arrays, sample_dataset

from dap_handlers.dap4 import data as dap4_data
from dap_handlers.dap4.service import handle_dap4
from dap_handlers.model import DapDataset, DapVariable
from stream_engine.errors import StoreUnavailable

URL = "http://example.org/dap/ctd_sample"
BIG = 2**60 + 3  # not a float64


def call(dataset, suffix, query="", **kwargs):
    kwargs.setdefault("max_response_bytes", 10**7)
    return handle_dap4(dataset, suffix, query, dataset_url=URL, **kwargs)


def body(response) -> bytes:
    return b"".join(response.body_iter)


def wide_dataset() -> DapDataset:
    """Every integer width, bool, float16, and an int64 beyond 2**53."""
    n = 6
    obs = np.arange(n)
    return DapDataset("wide", [
        DapVariable.from_array("i8", obs.astype("i8") + BIG, ["obs"],
                               {"_FillValue": -(2**62), "valid_range": [0, BIG + 10]}),
        DapVariable.from_array("u8", obs.astype("u8") + 2**63, ["obs"]),
        DapVariable.from_array("i1", (obs - 3).astype("i1"), ["obs"], {"_FillValue": -128}),
        DapVariable.from_array("u1", obs.astype("u1") * 40, ["obs"]),
        DapVariable.from_array("i2", (obs - 3).astype("i2") * 1000, ["obs"]),
        DapVariable.from_array("u2", obs.astype("u2") * 10000, ["obs"]),
        DapVariable.from_array("u4", obs.astype("u4") * 700_000_000, ["obs"]),
        DapVariable.from_array("flag", obs % 2 == 0, ["obs"]),
        DapVariable.from_array("half", (obs / 4).astype("f2"), ["obs"]),
    ], {"count64": BIG, "flags": np.array([1, 2], dtype="u2")})


def test_dmr_declares_dimensions_types_and_typed_attributes():
    root = ET.fromstring(body(call(wide_dataset(), "dmr")))
    assert root.tag == f"{{{NS['d']}}}Dataset"
    assert root.get("dapVersion") == "4.0"
    assert [(d.get("name"), d.get("size")) for d in root.findall("d:Dimension", NS)] == [
        ("obs", "6")]
    types = {v.get("name"): v.tag.split("}")[1] for v in root if v.get("name") and
             v.tag.split("}")[1] not in ("Dimension", "Attribute")}
    assert types == {"i8": "Int64", "u8": "UInt64", "i1": "Int8", "u1": "UInt8", "i2": "Int16",
                     "u2": "UInt16", "u4": "UInt32", "flag": "UInt8", "half": "Float32"}
    i8 = root.find("d:Int64[@name='i8']", NS)
    assert i8.find("d:Dim", NS).get("name") == "/obs"
    fill = i8.find("d:Attribute[@name='_FillValue']", NS)
    assert fill.get("type") == "Int64"
    assert [v.text for v in fill.findall("d:Value", NS)] == [str(-(2**62))]
    assert attributes(i8)["valid_range"] == ["0", str(BIG + 10)]
    assert root.find("d:Int8[@name='i1']/d:Attribute", NS).get("type") == "Int8"
    globals_ = {a.get("name"): (a.get("type"), [v.text for v in a.findall("d:Value", NS)])
                for a in root.findall("d:Attribute", NS)}
    assert globals_ == {"count64": ("Int64", [str(BIG)]), "flags": ("UInt16", ["1", "2"])}


def test_dmr_attributes_equal_the_das_values():
    root = ET.fromstring(body(call(sample_dataset(), "dmr.xml")))
    top = attributes(root)
    assert top["title"] == ['CTD "A" data, path C:\\ooi\\ctd']  # value= form keeps it exact
    assert float(top["precise_global"][0]) == PRECISE
    temperature = root.find("d:Float32[@name='temperature']", NS)
    fill = temperature.find("d:Attribute[@name='_FillValue']", NS)
    assert fill.get("type") == "Float32"
    assert np.float32(fill.find("d:Value", NS).text) == np.float32(-9999999.0)
    assert attributes(temperature)["comment"] == ['computed by "ctd_sbe37im_tempwat", see \\docs']
    time = root.find("d:Float64[@name='time']", NS)
    a = sample_arrays()
    assert [float(v) for v in attributes(time)["actual_range"]] == [a["time"][0], a["time"][-1]]
    spectra = root.find("d:Float64[@name='spectra']", NS)
    assert [d.get("name") for d in spectra.findall("d:Dim", NS)] == ["/obs", "/wavelength"]
    assert root.find("d:String[@name='station']", NS) is not None


def test_dap_values_round_trip_natively():
    response = call(wide_dataset(), "dap")
    raw = body(response)
    assert response.header("Content-Length") is None  # streamed: the last-chunk flag ends it
    decoded = decode(raw, checksums=False)
    assert decoded.chunk_flags[0] == 0x04 | 0x08  # little-endian, no checksums (netCDF-C 4.9)
    assert decoded.chunk_flags[-1] & 0x01
    source = {v.name: v.read() for v in wide_dataset().variables}
    for name, expected in source.items():
        got = decoded.values[name]
        if name == "flag":
            expected = expected.astype("u1")
        if name == "half":
            expected = expected.astype("f4")
        np.testing.assert_array_equal(got, expected, err_msg=name)
        assert got.dtype.kind == expected.dtype.kind
    assert int(decoded.values["i8"][0]) == BIG


@pytest.mark.parametrize(("ce", "expected"), [
    ("/time[3]", {"time": np.s_[3:4]}),
    ("/time[10:19];/temperature[0:3:30]", {"time": np.s_[10:20], "temperature": np.s_[0:31:3]}),
    ("%2Ftemperature%5B4990%3A%5D", {"temperature": np.s_[4990:]}),
    ("/count[4995:2:]", {"count": np.s_[4995::2]}),
    ("/spectra[7][]", {"spectra": np.s_[7:8, :]}),
    ("/spectra[0:1][2:3]", {"spectra": np.s_[0:2, 2:4]}),
    ("obs=[100:109];/time;/spectra[][6]", {"time": np.s_[100:110], "spectra": np.s_[100:110, 6:7]}),
    ("/station[0:2];/time[0:2]", {"time": np.s_[0:3], "station": np.s_[0:3]}),
])
def test_constraints_select_what_they_say(ce, expected):
    response = call(sample_dataset(), "dap", f"dap4.ce={ce}")
    assert response.status == 200, body(response)
    decoded = decode(body(response), checksums=False)
    arrays = sample_arrays()
    assert list(decoded.values) == [n for n in arrays if n in expected]  # declaration order
    for name, key in expected.items():
        np.testing.assert_array_equal(decoded.values[name], arrays[name][key], err_msg=name)


def test_differently_sliced_dimension_becomes_anonymous():
    response = call(sample_dataset(), "dap", "dap4.ce=/time[0:9];/temperature[0:4]")
    decoded = decode(body(response), checksums=False)
    temperature = decoded.dmr.find("d:Float32[@name='temperature']", NS)
    assert temperature.find("d:Dim", NS).get("size") == "5"
    assert decoded.dmr.find("d:Dimension", NS).get("size") == "10"


def test_checksums_follow_each_variable_and_are_in_the_dmr():
    response = call(sample_dataset(), "dap",
                    "dap4.ce=/time[0:99];/station[0:9];/spectra[0:3]&dap4.checksum=true")
    raw = body(response)
    assert response.header("Content-Length") == str(len(raw))
    decoded = decode(raw, checksums=True)
    assert decoded.chunk_flags[0] == 0x04
    assert set(decoded.checksums) == {"time", "station", "spectra"}
    for name, crc in decoded.checksums.items():
        assert crc == zlib.crc32(decoded.serialized[name]), name
        variable = decoded.dmr.find(f"*[@name='{name}']", NS)
        assert attributes(variable)["_DAP4_Checksum_CRC32"] == [str(crc)]
    assert list(decoded.values["station"]) == list(sample_arrays()["station"][:10])


def test_large_response_is_split_in_chunks_with_exact_length(monkeypatch):
    """Checksummed responses are computed before they are sent: their length is known."""
    monkeypatch.setattr(dap4_data, "CHUNK_BYTES", 1000)
    response = call(sample_dataset(), "dap", "dap4.ce=/time;/spectra&dap4.checksum=true",
                    block_bytes=4096)
    raw = body(response)
    assert response.header("Content-Length") == str(len(raw))
    parts = chunks(raw)
    data_bytes = 5000 * 8 * 8 + 2 * 4  # and two checksums
    assert len(parts) == 1 + -(-data_bytes // 1000)
    assert all(len(p) == 1000 and f == 0x04 for f, p in parts[1:-1])
    assert parts[-1][0] == 0x05
    decoded = decode(raw, checksums=True)
    np.testing.assert_array_equal(decoded.values["spectra"], sample_arrays()["spectra"])


def test_time_filter_picks_a_window():
    a = sample_arrays()
    dataset = sample_dataset()
    dataset.time_index = lambda start, stop: (
        int(np.searchsorted(a["time"], start)), int(np.searchsorted(a["time"], stop)))
    low, high = float(a["time"][100]), float(a["time"][200])
    ce = f"/time;/count[0:2:]|time>={low!r},time<{high!r}"
    decoded = decode(body(call(dataset, "dap", f"dap4.ce={ce}")), checksums=False)
    np.testing.assert_array_equal(decoded.values["time"], a["time"][100:200])
    np.testing.assert_array_equal(decoded.values["count"], a["count"][100:200:2])
    dmr = ET.fromstring(body(call(dataset, "dmr", f"dap4.ce=|time>={low!r}")))
    assert dmr.find("d:Dimension", NS).get("size") == str(5000 - 100)


@pytest.mark.parametrize(("suffix", "query", "status"), [
    ("dap", "dap4.ce=/nope", 404),
    ("dmr", "dap4.ce=/time[5000]", 400),
    ("dap", "dap4.ce=/time[3:1]", 400),
    ("dap", "dap4.ce=/time[0:0:9]", 400),
    ("dap", "dap4.ce=/time[a]", 400),
    ("dap", "dap4.ce=/time[0][0]", 400),
    ("dap", "dap4.ce=/Point{x}", 400),
    ("dap", "dap4.ce=/time|temperature>3", 400),
    ("dap", "dap4.ce=/g/time", 404),
    ("dap", "dap4.ce=nobs=[0:9]", 400),
    ("dap", "time[0:9]", 400),
    ("dap", "dap4.checksum=maybe", 400),
    ("dmr", "dap4.ce=wavelen=[0:1];/spectra", 400),
    ("dmrpp", "", 404),
])
def test_errors_are_dap4_error_documents(suffix, query, status):
    response = call(sample_dataset(), suffix, query)
    assert response.status == status
    assert response.header("Content-Type") == "application/vnd.opendap.dap4.error+xml"
    error = ET.fromstring(body(response))
    assert error.tag == f"{{{NS['d']}}}Error"
    assert error.get("httpcode") == str(status)
    assert error.find("d:Message", NS).text


def test_too_large_is_413_before_any_data():
    response = call(sample_dataset(), "dap", "dap4.ce=/spectra", max_response_bytes=100_000)
    assert response.status == 413
    assert "dap4.ce=" in ET.fromstring(body(response)).find("d:Message", NS).text


def _failing_dataset(fail_after: int) -> DapDataset:
    calls = {"n": 0}

    def reader(key):
        calls["n"] += 1
        if calls["n"] > fail_after:
            raise StoreUnavailable("the data store is unavailable")
        return np.zeros(len(range(*key[0].indices(100_000))))

    return DapDataset("x", [DapVariable("v", "f8", (100_000,), ("obs",), reader)])


def test_failure_in_first_block_is_an_http_error():
    response = call(_failing_dataset(0), "dap", block_bytes=8000)
    assert response.status == 503
    assert ET.fromstring(body(response)).get("httpcode") == "503"


def test_failure_while_streaming_ends_with_an_error_chunk():
    response = call(_failing_dataset(3), "dap", block_bytes=8000)
    assert response.status == 200
    decoded = decode(body(response), checksums=False)
    assert decoded.chunk_flags[-1] & 0x03 == 0x03
    assert "incomplete" in decoded.error


def test_dsr_lists_the_responses():
    root = ET.fromstring(body(call(sample_dataset(), "dsr")))
    links = {link.get("href") for link in root.iter("{http://xml.opendap.org/ns/DAP/4.0/"
                                                     "dataset-services#}link")}
    assert {URL + ".dmr", URL + ".dap", URL + ".dds", URL + ".dsr"} <= links


def test_conditional_get_and_headers():
    from dap_fixtures import LAST_MODIFIED
    first = call(sample_dataset(), "dmr", etag="v1", last_modified=LAST_MODIFIED)
    assert first.header("X-DAP") == "4.0"
    assert first.header("ETag") == '"v1"'
    again = call(sample_dataset(), "dmr", etag="v1", request_headers={"If-None-Match": '"v1"'})
    assert again.status == 304
