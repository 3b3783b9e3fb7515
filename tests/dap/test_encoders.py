"""DDS, DAS, DODS (XDR), ASCII and error encoders, checked byte for byte or value for value."""

from __future__ import annotations

import numpy as np
import pytest

from dap_handlers.constraints import apply_constraint
from dap_handlers.errors import EncodingError
from dap_handlers.model import DapDataset, DapVariable
from dap_handlers.responses.ascii import ascii_chunks
from dap_handlers.responses.das import das_text
from dap_handlers.responses.dds import dds_text
from dap_handlers.responses.dods import dods_chunks, dods_length
from dap_handlers.responses.error import error_text

PRECISE = 0.1 + 0.2  # 0.30000000000000004: needs 17 significant digits


def make_dataset() -> DapDataset:
    return DapDataset(
        "ctd",
        [
            DapVariable.from_array(
                "time",
                np.array([3786825600.25, 3786825601.5, 3786825602.75]),
                ["obs"],
                {
                    "units": "seconds since 1900-01-01 0:0:0",
                    "actual_range": [3786825600.25, 3786825602.75],
                },
            ),
            DapVariable.from_array(
                "temp",
                np.array([[1.5, 2.5], [3.25, -4.0], [np.nan, 0.1]], dtype="f4"),
                ["obs", "channel"],
                {"_FillValue": -9999999.0, "scale": np.float32(0.1)},
            ),
            DapVariable.from_array("count", np.array([-7, 0, 2**31 - 1], "i4"), ["obs"]),
            DapVariable.from_array(
                "level", np.array([-3, 0, 5], "i1"), ["obs"], {"_FillValue": -127}
            ),
            DapVariable.from_array("mask", np.array([1, 255, 7], "u1"), ["obs"]),
            DapVariable.from_array("ticks", np.array([2**40, -5, 2**53], "i8"), ["obs"]),
            DapVariable.from_array("station", np.array(['a"b', "", "d\\é"]), ["obs"]),
        ],
        {"title": 'CTD "A" \\ test', "precise": PRECISE, "count": 3, "tags": ["x", "y"]},
    )


def test_dds_text_exact():
    assert dds_text(make_dataset()) == (
        "Dataset {\n"
        "    Float64 time[obs = 3];\n"
        "    Float32 temp[obs = 3][channel = 2];\n"
        "    Int32 count[obs = 3];\n"
        "    Int16 level[obs = 3];\n"
        "    Byte mask[obs = 3];\n"
        "    Float64 ticks[obs = 3];\n"
        "    String station[obs = 3];\n"
        "} ctd;\n"
    )


def test_constrained_dds_reflects_hyperslab_sizes():
    constrained = apply_constraint(make_dataset(), "temp[0:2:2][1],time[1:2]")
    assert dds_text(constrained) == (
        "Dataset {\n    Float64 time[obs = 2];\n    Float32 temp[obs = 2][channel = 1];\n} ctd;\n"
    )


def test_das_text_exact():
    assert das_text(make_dataset()) == (
        "Attributes {\n"
        "    NC_GLOBAL {\n"
        '        String title "CTD \\"A\\" \\\\ test";\n'
        "        Float64 precise 0.30000000000000004;\n"
        "        Int32 count 3;\n"
        '        String tags "x", "y";\n'
        "    }\n"
        "    time {\n"
        '        String units "seconds since 1900-01-01 0:0:0";\n'
        "        Float64 actual_range 3786825600.25, 3786825602.75;\n"
        "    }\n"
        "    temp {\n"
        "        Float32 _FillValue -9999999.0;\n"
        "        Float32 scale 0.1;\n"
        "    }\n"
        "    count {\n"
        "    }\n"
        "    level {\n"
        "        Int16 _FillValue -127;\n"
        "    }\n"
        "    mask {\n"
        '        String _Unsigned "true";\n'
        "    }\n"
        "    ticks {\n"
        '        String dap_source_type "int64";\n'
        "    }\n"
        "    station {\n"
        '        String _Encoding "utf-8";\n'
        "    }\n"
        "}\n"
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (PRECISE, "Float64 a 0.30000000000000004;"),
        (3786825600.123456789, "Float64 a 3786825600.123457;"),
        (1e-30, "Float64 a 1e-30;"),
        (np.float32(273.15123), "Float32 a 273.15125;"),
        (np.nan, "Float64 a NaN;"),
        ([np.inf, -np.inf], "Float64 a Inf, -Inf;"),
        (2**31, "UInt32 a 2147483648;"),
        (2**40, "Float64 a 1099511627776.0;"),
        (2**60, 'String a "1152921504606846976";'),
        (np.int64(12), "Int32 a 12;"),
        (np.uint16(65535), "UInt16 a 65535;"),
        (True, "Byte a 1;"),
        ("line1\nline2", 'String a "line1\nline2";'),
        (b"bytes", 'String a "bytes";'),
    ],
)
def test_das_attribute_types_and_precision(value, expected):
    text = das_text(DapDataset("d", [], {"a": value}))
    assert f"        {expected}\n" in text
    if isinstance(value, float) and np.isfinite(value):
        assert float(expected.split()[-1].rstrip(";")) == value


def test_fill_value_takes_the_variable_type():
    variables = [
        DapVariable.from_array(
            "f", np.zeros(2, "f4"), ["obs"], {"_FillValue": 0.1, "valid_range": [0.0, 1e39]}
        ),
        DapVariable.from_array(
            "b", np.zeros(2, "i1"), ["obs"], {"_FillValue": -127, "missing_value": 300}
        ),
        DapVariable.from_array("t", np.zeros(2, "i8"), ["obs"], {"_FillValue": -9999}),
    ]
    text = das_text(DapDataset("d", variables))
    assert "Float32 _FillValue 0.1;" in text
    assert "Float64 valid_range 0.0, 1e+39;" in text  # would overflow float32: kept as given
    assert "Int16 _FillValue -127;" in text
    assert "Int32 missing_value 300;" in text  # would not fit int8 exactly: natural type
    assert "Float64 _FillValue -9999.0;" in text


def decode_dods(body: bytes, layout: list[tuple[str, str]]) -> dict[str, np.ndarray]:
    """Decode a DODS body; ``layout`` is (name, wire dtype or 'string') in order."""
    header, _, data = body.partition(b"Data:\n")
    assert header.startswith(b"Dataset {")
    values, at = {}, 0
    for name, wire in layout:
        count = int(np.frombuffer(data, ">u4", 1, at)[0])
        if wire == "string":
            at += 4
            items = []
            for _ in range(count):
                length = int(np.frombuffer(data, ">u4", 1, at)[0])
                items.append(data[at + 4 : at + 4 + length].decode("utf-8"))
                at += 4 + length + (-length % 4)
            values[name] = np.array(items)
            continue
        assert int(np.frombuffer(data, ">u4", 1, at + 4)[0]) == count
        at += 8
        dtype = np.dtype(wire)
        values[name] = np.frombuffer(data, dtype, count, at)
        at += count * dtype.itemsize
        if dtype.itemsize == 1:
            assert data[at : at + (-count % 4)] == b"\0" * (-count % 4)
            at += -count % 4
    assert at == len(data), "trailing bytes after the last variable"
    return values


def test_dods_xdr_round_trip_every_type():
    dataset = make_dataset()
    body = b"".join(dods_chunks(dataset))
    layout = [
        ("time", ">f8"),
        ("temp", ">f4"),
        ("count", ">i4"),
        ("level", ">i4"),
        ("mask", "u1"),
        ("ticks", ">f8"),
        ("station", "string"),
    ]
    values = decode_dods(body, layout)
    for variable in dataset:
        expected = variable.read().ravel()
        if variable.is_string:
            np.testing.assert_array_equal(values[variable.name], expected)
        else:
            np.testing.assert_array_equal(
                values[variable.name], expected.astype(values[variable.name].dtype)
            )
    assert body.startswith(dds_text(dataset).encode() + b"Data:\n")
    assert dods_length(dataset) is None  # a String variable is projected


def test_dods_of_constraint_has_exact_length_and_declaration_order():
    dataset = make_dataset()
    constrained = apply_constraint(dataset, "mask[1:2],temp%5B0:2:2%5D%5B1%5D,time")
    body = b"".join(dods_chunks(constrained, block_bytes=8))
    assert len(body) == dods_length(constrained)
    values = decode_dods(body, [("time", ">f8"), ("temp", ">f4"), ("mask", "u1")])
    np.testing.assert_array_equal(values["temp"], np.array([2.5, 0.1], "f4"))
    np.testing.assert_array_equal(values["mask"], [255, 7])
    np.testing.assert_array_equal(values["time"], dataset["time"].read())


def test_int64_beyond_float64_precision_aborts_instead_of_rounding():
    big = DapVariable.from_array("ticks", np.array([1, 2**53 + 1], "i8"), ["obs"])
    chunks = dods_chunks(DapDataset("d", [big]))
    with pytest.raises(EncodingError, match="beyond \\+-2\\*\\*53"):
        list(chunks)


def test_scalar_variables_have_no_count_words():
    dataset = DapDataset(
        "d",
        [
            DapVariable.from_array("x", np.float64(2.5), []),
            DapVariable.from_array("b", np.uint8(9), []),
        ],
    )
    body = b"".join(dods_chunks(dataset))
    assert body.endswith(b"Data:\n" + np.array(2.5, ">f8").tobytes() + b"\x09\0\0\0")
    assert len(body) == dods_length(dataset)


def test_ascii_full_precision_on_slices():
    dataset = make_dataset()
    text = b"".join(
        ascii_chunks(apply_constraint(dataset, "temp[1:2],station,time[0:1]"), 16)
    ).decode()
    assert text == (
        dds_text(apply_constraint(dataset, "temp[1:2],station,time[0:1]"))
        + "-" * 45
        + "\n"
        + "time[2]\n3786825600.25, 3786825601.5\n\n"
        + "temp[2][2]\n[0], 3.25, -4.0\n[1], NaN, 0.1\n\n"
        + 'station[3]\n"a\\"b", "", "d\\\\é"\n\n'
    )


def test_ascii_values_round_trip():
    values = np.array([0.1 + 0.2, 1 / 3, 3786825600.123456789, 1e-300])
    dataset = DapDataset("d", [DapVariable.from_array("v", values, ["obs"])])
    line = b"".join(ascii_chunks(dataset)).decode().splitlines()[-2]
    np.testing.assert_array_equal([float(v) for v in line.split(", ")], values)


def test_error_body_is_escaped_and_terminated():
    assert error_text(1005, 'bad "x" \\ y') == (
        'Error {\n    code = 1005;\n    message = "bad \\"x\\" \\\\ y";\n};\n'
    )
