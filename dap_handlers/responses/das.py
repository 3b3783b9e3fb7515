"""The DAS (Dataset Attribute Structure): every attribute, typed, in full precision.

Global attributes go in the ``NC_GLOBAL`` container (netCDF-C, netCDF-Java and xarray's pydap
backend all read it as global), then one container per variable in declaration order. A nested
mapping becomes a nested container. Attribute types follow the values: ``str`` is String, Python
``float`` is Float64, Python ``int`` is Int32 when it fits (else UInt32, else Float64 when exact,
else its decimal text as String), numpy scalars and arrays keep their dtype's DAP2 type
(:mod:`dap_handlers.dtypes`). ``_FillValue``, ``missing_value``, ``valid_min``, ``valid_max``
and ``valid_range`` are written in their variable's DAP type (exactly for integer types, rounded
like the data for float types), as CF and netCDF-C require. ``None`` values are left out. Unsigned variables (Byte, UInt16, UInt32) get
``_Unsigned = "true"`` and int64/uint64 ones ``dap_source_type``, unless already present; String
variables get ``_Encoding = "utf-8"`` and, given their longest value, ``Int32 DODS.strlen N``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from dap_handlers.dtypes import EXACT_FLOAT64_INT, dap_type, is_wide_integer
from dap_handlers.model import DapDataset, DapVariable
from dap_handlers.text import dap_name, format_number, quote, to_text

INDENT = "    "
GLOBAL_CONTAINER = "NC_GLOBAL"
#: Attributes that CF wants in the data type of their variable.
TYPED_LIKE_VARIABLE = ("_FillValue", "missing_value", "valid_min", "valid_max", "valid_range")
#: Attribute added to int64/uint64 variables, which DAP2 carries as Float64.
SOURCE_TYPE_ATTRIBUTE = "dap_source_type"
#: netCDF-C reads DAP2 Byte/UInt16/UInt32 as signed netCDF-3 types; ``_Unsigned = "true"`` makes
#: netCDF4-python and xarray read them back unsigned (TDS does the same).
UNSIGNED_ATTRIBUTE = "_Unsigned"

_INT_RANGES = (("Int32", -(2**31), 2**31 - 1), ("UInt32", 0, 2**32 - 1))


def _integer_values(values: list[int]) -> tuple[str, list[str]]:
    for type_name, low, high in _INT_RANGES:
        if all(low <= v <= high for v in values):
            return type_name, [str(v) for v in values]
    if all(abs(v) <= EXACT_FLOAT64_INT for v in values):
        return "Float64", [format_number(float(v), "Float64") for v in values]
    return "String", [quote(str(v)) for v in values]


def typed_values(value: Any) -> tuple[str, list[str]] | None:
    """The DAP2 type name and the encoded values of one attribute, or None to leave it out."""
    if value is None:
        return None
    if isinstance(value, (str, bytes, np.str_, np.bytes_)):
        return "String", [quote(to_text(value))]
    if isinstance(value, (bool, np.bool_)):
        return "Byte", [str(int(value))]
    if isinstance(value, int):
        return _integer_values([value])
    if isinstance(value, float):
        return "Float64", [format_number(value, "Float64")]
    array = np.asarray(value)
    if array.ndim > 1:
        array = array.ravel()
    items = [array.item()] if array.ndim == 0 else list(array)
    if not items:
        return "String", [quote("")]
    if array.dtype.kind in "US":
        return "String", [quote(to_text(v)) for v in items]
    if array.dtype.kind == "O" and all(isinstance(v, int) for v in items):
        return _integer_values([int(v) for v in items])
    if is_wide_integer(array.dtype):
        return _integer_values([int(v) for v in items])
    try:
        type_name = dap_type(array.dtype).name
    except TypeError:
        return "String", [quote(to_text(v)) for v in items]
    if type_name == "String":
        return "String", [quote(to_text(v)) for v in items]
    return type_name, [format_number(v, type_name) for v in items]


def _typed_like(value: Any, variable: DapVariable) -> tuple[str, list[str]] | None:
    """``value`` in the variable's own DAP type.

    Into an integer type the cast must be exact; into a float type it rounds like the data
    themselves (a float32 variable compares its values with the float32 fill), but must not
    overflow to infinity.
    """
    if variable.is_string or value is None or isinstance(value, (str, bytes)):
        return None
    source = np.asarray(value)
    if source.dtype.kind not in "biuf":
        return None
    target = np.dtype("f8") if is_wide_integer(variable.dtype) else variable.dtype
    with np.errstate(all="ignore"):
        cast = source.astype(target)
        if target.kind == "f":
            ok = np.array_equal(np.isfinite(cast), np.isfinite(source.astype("f8")))
        else:
            ok = np.array_equal(cast.astype(source.dtype), source)
    if not ok:
        return None
    return typed_values(cast if cast.ndim else cast[()])


def _attribute_lines(
    attributes: Mapping[str, Any], depth: int, variable: DapVariable | None
) -> Iterator[str]:
    pad = INDENT * depth
    for name, value in attributes.items():
        if isinstance(value, Mapping):
            yield f"{pad}{dap_name(name)} {{"
            yield from _attribute_lines(value, depth + 1, None)
            yield f"{pad}}}"
            continue
        typed = None
        if variable is not None and name in TYPED_LIKE_VARIABLE:
            typed = _typed_like(value, variable)
        typed = typed or typed_values(value)
        if typed is None:
            continue
        type_name, values = typed
        yield f"{pad}{type_name} {dap_name(name)} {', '.join(values)};"


#: CF/netCDF convention naming the encoding of a char array's bytes.
STRING_ENCODING_ATTRIBUTE = "_Encoding"


#: Sizes a String's char dimension in netCDF-C. Written as one dotted name: netCDF-C's DAS
#: merge moves every ``DODS {...}`` container (THREDDS's form) to the dataset, where the string
#: length is never looked at; a variable's own ``DODS.strlen`` attribute is (and stays hidden).
STRLEN_ATTRIBUTE = "DODS.strlen"


def _variable_attributes(variable: DapVariable, strlen: int | None) -> Mapping[str, Any]:
    extra: dict[str, Any] = {}
    if strlen is not None:
        # netCDF-C cuts strings to 64 bytes unless told the length of the longest one
        extra[STRLEN_ATTRIBUTE] = np.int32(max(1, strlen))
    if is_wide_integer(variable.dtype):
        extra[SOURCE_TYPE_ATTRIBUTE] = str(variable.dtype)
    elif variable.dtype.kind in "ub":
        extra[UNSIGNED_ATTRIBUTE] = "true"
    elif variable.is_string:
        # netCDF-C sees a char array; with this, netCDF4-python and xarray decode it to str
        extra[STRING_ENCODING_ATTRIBUTE] = "utf-8"
    missing = {k: v for k, v in extra.items() if k not in variable.attributes}
    return {**variable.attributes, **missing} if missing else variable.attributes


def das_text(dataset: DapDataset, string_lengths: Mapping[str, int] | None = None) -> str:
    """The DAS of the whole dataset (a constraint does not change it), ending with a newline.

    ``string_lengths`` (longest UTF-8 value of String variables) become ``Int32 DODS.strlen N``
    hints, which netCDF-C needs to read strings longer than 64 bytes whole."""
    lengths = string_lengths or {}
    lines = ["Attributes {", f"{INDENT}{GLOBAL_CONTAINER} {{"]
    lines.extend(_attribute_lines(dataset.attributes, 2, None))
    lines.append(f"{INDENT}}}")
    for variable in dataset.variables:
        lines.append(f"{INDENT}{dap_name(variable.name)} {{")
        lines.extend(_attribute_lines(
            _variable_attributes(variable, lengths.get(variable.name)), 2, variable))
        lines.append(f"{INDENT}}}")
    lines.append("}")
    return "\n".join(lines) + "\n"
