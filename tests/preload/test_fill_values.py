"""Fill values derived from value encodings, on real parameters and edge cases."""

from __future__ import annotations

import numpy as np
import pytest

from stream_engine.preload import fill_value_for


def test_float32_parameter_fill_is_nan_whatever_the_dictionary_says(upstream):
    conductivity = upstream.parameter("PD1")  # fillvalue cell -9999999
    assert conductivity.value_encoding == "float32"
    assert conductivity.fill_value.dtype == np.float32
    assert np.isnan(conductivity.fill_value)


def test_float64_time_fill_is_nan(upstream):
    assert upstream.parameter("PD7").fill_value.dtype == np.float64
    assert np.isnan(upstream.parameter("PD7").fill_value)


def test_int32_parameter_keeps_dictionary_fill(upstream):
    checksum = upstream.parameter("PD15")
    assert checksum.value_encoding == "int32"
    assert checksum.fill_value == -9999999
    assert checksum.fill_value.dtype == np.int32


def test_int32_fill_written_in_float_notation(upstream):
    assert upstream.parameter("PD526").fill_value == np.int32(-1_000_000_000)  # cell -1.00E+09


def test_uint16_parameter_keeps_dictionary_fill(upstream):
    channels = upstream.parameter("PD332")
    assert channels.value_encoding == "uint16"
    assert channels.fill_value == 65535
    assert channels.fill_value.dtype == np.uint16


def test_string_parameter_fill_is_empty(upstream):
    preferred = upstream.parameter("PD16")  # fillvalue cell 'empty'
    assert preferred.value_encoding == "string"
    assert preferred.fill_value == ""
    assert isinstance(preferred.fill_value, np.str_)


def test_unknown_encoding_has_no_fill(upstream):
    assert upstream.parameter("PD906").fill_value is None


@pytest.mark.parametrize(
    ("encoding", "cell", "expected"),
    [
        ("uint16", "-9999999", np.uint16(65535)),
        ("uint8", "-9999999", np.uint8(255)),
        ("int8", "-9999999", np.int8(-127)),
        ("int8", "empty", np.int8(-127)),
        ("int16", "", np.int16(-32767)),
        ("int16", "1.5", np.int16(-32767)),
        ("int32", "nan", np.int32(-2147483647)),
        ("int64", "-9999999", np.int64(-9999999)),
        ("uint32", "4294967295", np.uint32(4294967295)),
        ("uint64", "-1", np.uint64(18446744073709551614)),
        ("int8", " -99 ", np.int8(-99)),
    ],
)
def test_integer_fill_falls_back_to_netcdf_default(encoding, cell, expected):
    value = fill_value_for(encoding, cell)
    assert value == expected
    assert value.dtype == expected.dtype


def test_bool_fill_is_false():
    value = fill_value_for("bool", "1")
    assert value.dtype == np.bool_
    assert not value


def test_unknown_encoding_raises():
    with pytest.raises(ValueError, match="float16"):
        fill_value_for("float16", "0")


def test_missing_mask_per_kind() -> None:
    from stream_engine.preload.fill_values import missing_mask

    assert missing_mask(np.array([1.0, np.nan, -9999999.0]), np.nan).tolist() == [False, True, False]
    fill = fill_value_for("int32", "-9999999")
    assert missing_mask(np.array([5, -9999999, 0], np.int32), fill).tolist() == [False, True, False]
    assert missing_mask(np.array(["a", "", "b"]), "").tolist() == [False, True, False]
    assert missing_mask(np.array([True, False]), False).tolist() == [False, False]
