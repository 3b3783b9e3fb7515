"""Fill values derived from a parameter's value encoding.

Upstream ``fillvalue`` cells are strings and unreliable (``-9999999`` on float parameters,
``empty`` on strings, ``0`` on counts, ``-1.00E+08``...). The original Stream Engine ignored them
and chose a fill per dtype (``FILL_VALUES`` in its ``config/default.py``: floats NaN, strings
``""``). We keep that, except that an integer parameter keeps its dictionary value when that value
is usable, because files written by the original engine carry it as ``_FillValue``:

==================  ==========================================================================
value encoding      fill value
==================  ==========================================================================
float32, float64    NaN (whatever the dictionary says)
int8 ... uint64     the dictionary value if it is an integer (``-1.00E+08`` counts) that fits the
                    dtype, otherwise the netCDF default fill of the dtype (``NC_FILL_INT``...)
string              ``""``
bool, boolean       ``False``
==================  ==========================================================================

Every value is returned as a numpy scalar of the encoding's dtype (``np.str_`` for strings).
Unknown encodings raise ``ValueError``.

A float parameter's dictionary cell is not its fill, but it is still a *sentinel*: upstream
writers stored it (``-9999999``) where a value was missing, as they stored the netCDF default
fill (``9.96921e36``). :func:`float_sentinels` lists those values; ingest turns them into NaN and
the engine masks them again when it reads raw values (an existing store may hold them), so they
are missing everywhere and never an input to an algorithm.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from stream_engine.preload.model import dtype_of_encoding

#: netCDF-C default fill values (``NC_FILL_BYTE`` ... ``NC_FILL_UINT64``) per integer dtype.
NETCDF_DEFAULT_FILLS: dict[str, int] = {
    "i1": -127,
    "i2": -32767,
    "i4": -2147483647,
    "i8": -9223372036854775806,
    "u1": 255,
    "u2": 65535,
    "u4": 4294967295,
    "u8": 18446744073709551614,
}


#: netCDF-C default fill values of ``float`` and ``double`` (``NC_FILL_FLOAT``, ``NC_FILL_DOUBLE``).
NETCDF_DEFAULT_FLOAT_FILLS: tuple[float, ...] = (float(np.float32(9.9692099683868690e36)), 9.9692099683868690e36)


def float_sentinels(value_encoding: str, dictionary_value: str = "") -> tuple[float, ...]:
    """Values of a float parameter that mean "missing" besides NaN, sorted.

    The netCDF default fills of ``float`` and ``double``, and the dictionary ``fillvalue`` cell
    when it is a finite number. Empty for every other encoding (their fill is the value itself).
    """
    try:
        dtype = dtype_of_encoding(value_encoding)
    except ValueError:
        return ()
    if dtype.kind != "f":
        return ()
    values = set(NETCDF_DEFAULT_FLOAT_FILLS)
    try:
        cell = float((dictionary_value or "").strip())
    except ValueError:
        cell = math.nan
    if math.isfinite(cell):
        values.add(float(dtype.type(cell)))
    return tuple(sorted(values))


def sentinel_mask(values: np.ndarray, sentinels: tuple[float, ...]) -> np.ndarray | None:
    """Where float ``values`` hold one of ``sentinels``; ``None`` when none does (or not floats)."""
    if values.dtype.kind != "f" or not sentinels or values.size == 0:
        return None
    mask: np.ndarray | None = None
    for sentinel in sentinels:
        hit = values == values.dtype.type(sentinel)
        if hit.any():
            mask = hit if mask is None else mask | hit
    return mask


def fill_value_for(value_encoding: str, dictionary_value: str = "") -> Any:
    """The fill value of a parameter, typed with its dtype.

    Parameters
    ----------
    value_encoding
        The ``valueencoding`` cell (``float32``, ``uint16``, ``string``...).
    dictionary_value
        The ``fillvalue`` cell; only consulted for integer encodings.

    Returns
    -------
    numpy scalar
        ``np.float32('nan')``, ``np.int32(-9999999)``, ``np.str_('')``, ``np.bool_(False)``...

    Raises
    ------
    ValueError
        ``value_encoding`` is not a known encoding.
    """
    dtype = dtype_of_encoding(value_encoding)
    if dtype.kind == "f":
        return dtype.type(np.nan)
    if dtype.kind == "U":
        return np.str_("")
    if dtype.kind == "b":
        return np.bool_(False)
    value = _integer(dictionary_value)
    info = np.iinfo(dtype)
    if value is None or not info.min <= value <= info.max:
        value = NETCDF_DEFAULT_FILLS[dtype.str[1:]]
    return dtype.type(value)


def missing_mask(values: np.ndarray, fill: Any) -> np.ndarray:
    """Where ``values`` are missing: NaN for floats, ``fill`` (the parameter's
    :func:`fill_value_for`) for integers, ``""`` for strings, nothing for booleans.

    This is the one definition of "missing" for values the engine returns; every interface (DAP,
    JSON, CSV, NetCDF) derives its missing markers from it.
    """
    values = np.asarray(values)
    if values.dtype.kind == "f":
        return np.asarray(np.isnan(values))
    if values.dtype.kind in "iu":
        return np.asarray(values == fill)
    if values.dtype.kind in "UO":
        return np.asarray(values == "")
    return np.zeros(values.shape, bool)


def _integer(text: str) -> int | None:
    text = (text or "").strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        return None
    if not math.isfinite(number) or not number.is_integer():
        return None
    return int(number)
