"""Text forms shared by the DDS, DAS and ASCII encoders: names, quoted strings, numbers.

Numbers are written so they read back to the same value: float64 with Python's shortest
round-trip ``repr`` (at most 17 significant digits), float32 with numpy's shortest float32 form
(at most 9), integers as integers. NaN and infinities are written ``NaN``, ``Inf`` and ``-Inf``,
which libdap, netCDF-C and pydap all parse.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np

_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9_.!~*'+\-]")


def dap_name(name: str) -> str:
    """A name as written in a DDS/DAS: characters outside DAP2's identifier set as ``%XX``."""
    return _UNSAFE_NAME.sub(lambda m: "".join(f"%{b:02X}" for b in m.group().encode()), name)


def quote(text: str) -> str:
    """A DAP2 quoted string: backslash and double quote escaped, in double quotes."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def format_float64(value: float) -> str:
    value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Inf" if value > 0 else "-Inf"
    return repr(value)


def format_float32(value: Any) -> str:
    value = np.float32(value)
    if np.isnan(value):
        return "NaN"
    if np.isinf(value):
        return "Inf" if value > 0 else "-Inf"
    return (
        np.format_float_scientific(value, unique=True, trim="0")
        if _needs_exponent(value)
        else (np.format_float_positional(value, unique=True, trim="0"))
    )


def _needs_exponent(value: np.float32) -> bool:
    magnitude = abs(float(value))
    return magnitude != 0 and not 1e-4 <= magnitude < 1e16


def format_number(value: Any, type_name: str) -> str:
    """One numeric value as text for a DAP2 type (``Float64``, ``Float32``, integers, Byte)."""
    if type_name == "Float64":
        return format_float64(value)
    if type_name == "Float32":
        return format_float32(value)
    return str(int(value))


def to_text(value: Any) -> str:
    """A string-like value (str, bytes, None, other) as text."""
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, np.bytes_)):
        return bytes(value).decode("utf-8", errors="replace")
    if value is None:
        return ""
    return str(value)
