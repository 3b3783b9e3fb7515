"""Attributes in the DMR: the same attributes as the DAS, typed with DAP4's types.

A value's type follows the value as in the DAS (:mod:`dap_handlers.responses.das`) with DAP4's
wider choice: ``str`` is String, ``bool`` UInt8, Python ``int`` Int32 when it fits (else Int64,
else UInt64, else its decimal text as String), Python ``float`` Float64, numpy scalars and arrays
keep their dtype's DAP4 type (int64 stays Int64). ``_FillValue``, ``missing_value``,
``valid_min``, ``valid_max`` and ``valid_range`` are written in their variable's own type, as CF
and netCDF-C require. A nested mapping becomes a ``Container`` attribute. ``None`` values are
left out. DAP2's helpers (``_Unsigned``, ``dap_source_type``, ``_Encoding``) are not needed:
DAP4 carries unsigned, 64-bit and string types natively.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from dap_handlers.dap4.types import dap4_type
from dap_handlers.model import DapVariable
from dap_handlers.responses.das import TYPED_LIKE_VARIABLE
from dap_handlers.text import format_number, to_text

_INT_TYPES = (
    ("Int32", -(2**31), 2**31 - 1),
    ("Int64", -(2**63), 2**63 - 1),
    ("UInt64", 0, 2**64 - 1),
)


def _integers(values: list[int]) -> tuple[str, list[str]]:
    for type_name, low, high in _INT_TYPES:
        if all(low <= v <= high for v in values):
            return type_name, [str(v) for v in values]
    return "String", [str(v) for v in values]


def typed_values(value: Any) -> tuple[str, list[str]] | None:
    """The DAP4 type name and the values (as text) of one attribute, or None to leave it out."""
    if value is None:
        return None
    if isinstance(value, (str, bytes, np.str_, np.bytes_)):
        return "String", [to_text(value)]
    if isinstance(value, (bool, np.bool_)):
        return "UInt8", [str(int(value))]
    if isinstance(value, int):
        return _integers([value])
    if isinstance(value, float):
        return "Float64", [format_number(value, "Float64")]
    array = np.asarray(value)
    items = [array.item()] if array.ndim == 0 else list(array.ravel())
    if not items:
        return "String", [""]
    if array.dtype.kind == "O" and all(isinstance(v, int) for v in items):
        return _integers([int(v) for v in items])
    if array.dtype.kind in "USO":
        return "String", [to_text(v) for v in items]
    try:
        type_name = dap4_type(array.dtype).name
    except TypeError:
        return "String", [to_text(v) for v in items]
    return type_name, [format_number(v, type_name) for v in items]


def _typed_like(value: Any, variable: DapVariable) -> tuple[str, list[str]] | None:
    """``value`` in the variable's own type: exactly into an integer type, rounded like the data
    into a float type (but never overflowing to infinity)."""
    if variable.is_string or value is None or isinstance(value, (str, bytes)):
        return None
    source = np.asarray(value)
    if source.dtype.kind not in "biuf":
        return None
    target = variable.dtype
    with np.errstate(all="ignore"):
        cast = source.astype(target)
        if target.kind == "f":
            ok = np.array_equal(np.isfinite(cast), np.isfinite(source.astype("f8")))
        else:
            ok = np.array_equal(cast.astype(source.dtype), source)
    return typed_values(cast if cast.ndim else cast[()]) if ok else None


def attribute_items(
    attributes: Mapping[str, Any], variable: DapVariable | None = None
) -> Iterator[tuple[str, str, list[str] | Mapping[str, Any]]]:
    """``(name, type, values)`` for each attribute to write, in order; a ``Container`` carries
    the nested mapping instead of values."""
    for name, value in attributes.items():
        if isinstance(value, Mapping):
            yield name, "Container", value
            continue
        typed = None
        if variable is not None and name in TYPED_LIKE_VARIABLE:
            typed = _typed_like(value, variable)
        typed = typed or typed_values(value)
        if typed is not None:
            yield name, typed[0], typed[1]
