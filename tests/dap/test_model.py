"""The lazy variable model: key normalisation, lazy subsets, reader contract."""

from __future__ import annotations

import numpy as np
import pytest

from dap_handlers.dtypes import dap_type
from dap_handlers.errors import DapError
from dap_handlers.model import DapDataset, DapVariable

ARRAY = np.arange(60.0).reshape(6, 10)


def recording_variable(array: np.ndarray = ARRAY) -> tuple[DapVariable, list]:
    calls: list = []

    def reader(key):
        calls.append(key)
        return array[key]

    return DapVariable("x", array.dtype, array.shape, ("obs", "channel"), reader), calls


@pytest.mark.parametrize(
    "key",
    [
        (),
        3,
        -1,
        (slice(None, None, -1),),
        (slice(1, 5, 2), slice(9, 0, -3)),
        (Ellipsis, 2),
        (slice(5, 1),),
        (slice(-3, None), -2),
        (slice(None, None, 4), slice(100, None)),
    ],
)
def test_read_matches_numpy_for_basic_keys(key):
    variable, _ = recording_variable()
    np.testing.assert_array_equal(variable.read(key), ARRAY[key])


def test_reader_only_sees_forward_tight_slices():
    variable, calls = recording_variable()
    variable[-1, 9:0:-3]
    assert calls == [(slice(5, 6, 1), slice(3, 10, 3))]


def test_nothing_is_read_until_asked_and_subsets_compose():
    variable, calls = recording_variable()
    view = variable.subset((slice(1, 6, 2), slice(2, 9, 3)))
    inner = view.subset((slice(1, 3), slice(1, 2)))
    assert calls == []
    assert view.shape == (3, 3) and inner.shape == (2, 1)
    np.testing.assert_array_equal(inner.read(), ARRAY[1:6:2, 2:9:3][1:3, 1:2])
    assert calls == [(slice(3, 6, 2), slice(5, 6, 1))]


def test_out_of_bounds_integer_is_an_index_error():
    variable, _ = recording_variable()
    with pytest.raises(IndexError, match="out of bounds"):
        variable[6]


def test_reader_returning_wrong_shape_is_caught():
    variable = DapVariable("bad", "f8", (10,), ("obs",), lambda key: np.zeros(10))
    with pytest.raises(DapError, match=r"returned shape \(10,\).*expected \(3,\)"):
        variable[2:5]


def test_reader_returning_wrong_kind_is_caught():
    variable = DapVariable("bad", "i4", (3,), ("obs",), lambda key: np.zeros(3))
    with pytest.raises(DapError, match="returned dtype float64"):
        variable.read()


def test_dims_must_match_shape_and_dtype_must_be_servable():
    with pytest.raises(TypeError, match="dimension names"):
        DapVariable("t", "f8", (3, 2), ("obs",), lambda key: None)
    with pytest.raises(TypeError, match="datetime64"):
        DapVariable("t", "datetime64[ns]", (3,), ("obs",), lambda key: None)


def test_dataset_keeps_declaration_order_and_refuses_duplicates():
    a = DapVariable.from_array("b_second", [1.0], ["obs"])
    b = DapVariable.from_array("a_first", [1.0], ["obs"])
    dataset = DapDataset("d", [a, b])
    assert [v.name for v in dataset] == ["b_second", "a_first"]
    assert dataset.position("a_first") == 1
    with pytest.raises(TypeError, match="'a_first' twice"):
        DapDataset("d", [b, a, b])


@pytest.mark.parametrize(
    ("dtype", "name", "wire"),
    [
        ("f8", "Float64", ">f8"),
        ("f4", "Float32", ">f4"),
        ("i4", "Int32", ">i4"),
        ("u4", "UInt32", ">u4"),
        ("i2", "Int16", ">i4"),
        ("u2", "UInt16", ">u4"),
        ("i1", "Int16", ">i4"),
        ("u1", "Byte", "u1"),
        ("?", "Byte", "u1"),
        ("i8", "Float64", ">f8"),
        ("u8", "Float64", ">f8"),
        ("U5", "String", None),
        ("O", "String", None),
    ],
)
def test_type_map(dtype, name, wire):
    mapped = dap_type(dtype)
    assert mapped.name == name
    assert mapped.wire == (None if wire is None else np.dtype(wire))
