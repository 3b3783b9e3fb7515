"""Turning one file variable's values into a stored column: fills, time units, value encoding.

:func:`stream_engine.ingest.ingest_file` calls :func:`column_values` for every raw parameter of
a file, in this order:

1. **Missing values.** A value is missing when it is NaN, equals the variable's ``_FillValue``
   or ``missing_value``, equals the netCDF default fill of the variable's type (only when it
   declares no ``_FillValue``, and never for 1-byte types, as netCDF-C and netCDF4-python
   decide), or, in a float variable, equals one of the parameter's sentinels (its dictionary
   ``fillvalue`` cell, e.g. ``-9999999``; see :func:`~stream_engine.preload.fill_values.float_sentinels`).
   Missing values are stored as the parameter's fill: NaN for floats, its
   :func:`~stream_engine.preload.fill_values.fill_value_for` value for integers. Every other
   value is stored exactly.
2. **Time units.** A parameter whose dictionary units are a time (``seconds``, ``minutes``...)
   or a time since an epoch (``seconds since 1900-01-01``) is converted from the variable's
   ``units`` when they differ (``minutes`` -> ``seconds``, ``days since 1970-01-01`` ->
   ``seconds since 1900-01-01``). Integer values times integer factors stay in integers, so the
   conversion is exact; a result an integer parameter cannot hold (a fraction of a second) is
   refused. Units that are not convertible (``seconds since ...`` for a plain duration, text
   that is not a time unit) are refused: :class:`UnitsError` names the variable and both units.
   A variable without ``units`` is taken to be in the dictionary's units.
3. **Value encoding.** The values are converted to the parameter's dtype (or the dtype the store
   already holds for the column) when every value fits exactly; :class:`Unfit` says which does not.
"""

from __future__ import annotations

import re
from datetime import date
from typing import TYPE_CHECKING, Any

import numpy as np

from stream_engine.preload.fill_values import NETCDF_DEFAULT_FILLS, NETCDF_DEFAULT_FLOAT_FILLS
from stream_engine.store.records import fill_value

if TYPE_CHECKING:
    from stream_engine.preload.model import Parameter

#: Seconds in one of each time unit that may label a file variable or a parameter.
UNIT_SECONDS = {
    "second": 1, "seconds": 1, "sec": 1, "secs": 1, "s": 1,
    "minute": 60, "minutes": 60, "min": 60, "mins": 60,
    "hour": 3600, "hours": 3600, "hr": 3600, "hrs": 3600, "h": 3600,
    "day": 86400, "days": 86400, "d": 86400,
    "millisecond": 0.001, "milliseconds": 0.001, "ms": 0.001, "msec": 0.001,
    "microsecond": 1e-6, "microseconds": 1e-6, "us": 1e-6, "usec": 1e-6,
}
_SINCE = re.compile(
    r"^\s*(\w+)\s+since\s+(\d{1,4})-(\d{1,2})-(\d{1,2})"
    r"(?:[T ](\d{1,2}):(\d{1,2})(?::(\d{1,2})(\.\d*)?)?)?\s*(?:Z|UTC|\+0+:?0*)?\s*$",
    re.IGNORECASE,
)
_NTP_EPOCH = date(1900, 1, 1)


class UnitsError(ValueError):
    """A variable's units cannot be converted to its parameter's units."""


class Unfit(Exception):
    """A value cannot be represented in the target dtype; args: (index, value, reason, count)."""


# -- time units --------------------------------------------------------------------------------


def ntp_offset(units: str) -> tuple[float, float] | None:
    """``(scale, offset)`` turning values in CF time ``units`` into NTP seconds, or None when
    ``units`` is not ``<unit> since <date>``."""
    m = _SINCE.match(units or "")
    if not m or m.group(1).lower() not in UNIT_SECONDS:
        return None
    year, month, day = (int(m.group(i)) for i in (2, 3, 4))
    hh, mm, ss = (int(m.group(i) or 0) for i in (5, 6, 7))
    frac = float(m.group(8) or 0.0)
    days = (date(year, month, day) - _NTP_EPOCH).days
    return float(UNIT_SECONDS[m.group(1).lower()]), days * 86400.0 + hh * 3600 + mm * 60 + ss + frac


def _duration(units: str) -> float | None:
    return UNIT_SECONDS.get(units.strip().lower()) if units else None


def _is_time(units: str) -> bool:
    return _duration(units) is not None or ntp_offset(units) is not None


def time_conversion(file_units: str, parameter_units: str) -> tuple[float, float] | None:
    """``(scale, offset)`` taking values in ``file_units`` to ``parameter_units``.

    ``None`` when nothing is to be done: the parameter's units are not a time, the file gives no
    units, or both mean the same.

    Raises
    ------
    UnitsError
        The parameter's units are a time and the file's cannot be converted to them.
    """
    if not _is_time(parameter_units) or not (file_units or "").strip():
        return None
    target_since, source_since = ntp_offset(parameter_units), ntp_offset(file_units)
    if target_since is not None and source_since is not None:
        scale = source_since[0] / target_since[0]
        offset = (source_since[1] - target_since[1]) / target_since[0]
    else:
        target, source = _duration(parameter_units), _duration(file_units)
        if target is None or source is None:
            raise UnitsError(f"units {file_units!r} cannot be converted to {parameter_units!r}")
        scale, offset = source / target, 0.0
    return None if (scale, offset) == (1.0, 0.0) else (scale, offset)


def _converted(values: np.ndarray, scale: float, offset: float, target: np.dtype) -> np.ndarray:
    """``values * scale + offset``, in integers when all three are integral (exact)."""
    if (target.kind in "iu" and values.dtype.kind in "iu" and float(scale).is_integer()
            and float(offset).is_integer()):
        scale_i, offset_i = int(scale), int(offset)
        limit = (np.iinfo(np.int64).max - abs(offset_i)) // max(abs(scale_i), 1)
        if values.size == 0 or int(np.abs(values.astype(np.int64)).max()) <= limit:
            return values.astype(np.int64) * scale_i + offset_i
    return values.astype(np.float64) * scale + offset


# -- missing values ----------------------------------------------------------------------------


def _attribute_values(var: Any, name: str) -> list[Any]:
    if name not in var.ncattrs():
        return []
    return [v for v in np.atleast_1d(np.asarray(var.getncattr(name))).reshape(-1).tolist()
            if not isinstance(v, str | bytes)]


def file_missing(var: Any, values: np.ndarray, parameter: Parameter) -> np.ndarray | None:
    """Where a variable's values are missing in the file (rule 1 of the module docstring)."""
    kind = values.dtype.kind
    if kind not in "iuf":
        return None
    fills = _attribute_values(var, "_FillValue") + _attribute_values(var, "missing_value")
    if "_FillValue" not in var.ncattrs() and values.dtype.itemsize > 1:
        if kind == "f":
            fills.extend(NETCDF_DEFAULT_FLOAT_FILLS)
        else:
            fills.append(NETCDF_DEFAULT_FILLS.get(values.dtype.str[1:]))
    if kind == "f":
        fills.extend(parameter.sentinels)
    mask = np.isnan(values) if kind == "f" else np.zeros(values.shape, dtype=bool)
    for fill in fills:
        if fill is None:
            continue
        try:
            typed = values.dtype.type(fill)
        except (OverflowError, ValueError):
            continue
        if kind == "f" and np.isnan(typed):
            continue
        if kind != "f" and typed != fill:
            continue  # not representable in the variable's type: it cannot occur
        mask |= values == typed
    return mask if mask.any() else None


# -- value encoding ----------------------------------------------------------------------------


def _first_bad(mask: np.ndarray, values: np.ndarray, reason: str) -> Unfit:
    flat = np.flatnonzero(mask.reshape(-1))
    idx = int(flat[0])
    return Unfit(np.unravel_index(idx, mask.shape), values.reshape(-1)[idx], reason, int(flat.size))


def decode_strings(values: np.ndarray) -> np.ndarray:
    """Text values (char arrays, fixed-width bytes, objects) as unicode."""
    if values.dtype.kind == "S":
        if values.dtype.itemsize == 1 and values.ndim == 2:
            width = values.shape[1]
            values = np.ascontiguousarray(values).view(f"S{max(width, 1)}").reshape(values.shape[0])
        try:
            return np.char.decode(values, "utf-8")
        except UnicodeDecodeError:
            return np.char.decode(values, "latin-1")
    if values.dtype.kind == "O":
        return np.array([v if isinstance(v, str) else str(v) for v in values.ravel()]).reshape(values.shape)
    return values


def to_int(values: np.ndarray, target: np.dtype, fill: Any) -> np.ndarray:
    """Integers of dtype ``target`` when every value is one that fits (NaN becomes ``fill``)."""
    info = np.iinfo(target)
    if values.dtype.kind == "f":
        nan = np.isnan(values)
        if nan.any():
            values = np.where(nan, np.float64(fill), values)
        bad = ~np.isfinite(values)
        if bad.any():
            raise _first_bad(bad, values, "is not finite")
        bad = values != np.trunc(values)
        if bad.any():
            raise _first_bad(bad, values, "has a fractional part")
    elif values.dtype.kind not in "iub":
        raise Unfit((0,), values.reshape(-1)[0] if values.size else None, f"is {values.dtype}, not a number", values.size)
    if values.size and values.dtype.kind != "b":
        lo, hi = values.min(), values.max()
        if lo < info.min or hi > info.max:
            bad = (values < info.min) | (values > info.max)
            raise _first_bad(bad, values, f"is outside the {target} range {info.min}..{info.max}")
    return values.astype(target)


def _to_float(values: np.ndarray, target: np.dtype, widen: bool) -> np.ndarray:
    if values.dtype.kind not in "iufb":
        raise Unfit((0,), values.reshape(-1)[0] if values.size else None, f"is {values.dtype}, not a number", values.size)
    if values.dtype == target or (values.dtype.kind == "f" and values.dtype.itemsize < target.itemsize):
        return values.astype(target, copy=False)
    cast = values.astype(target)
    back = cast.astype(values.dtype)
    same = (back == values) | (np.isnan(back) & np.isnan(values)) if values.dtype.kind == "f" else back == values
    if same.all():
        return cast
    if widen and values.dtype.kind == "f":
        return values  # keep the file's wider float type: no bit of the value is lost
    raise _first_bad(~same, values, f"cannot be represented exactly as {target}")


def _convert(values: np.ndarray, target: np.dtype, fill: Any, widen: bool) -> np.ndarray:
    if target.kind == "U":
        if values.dtype.kind not in "SUO":
            raise Unfit((0,), values.reshape(-1)[0] if values.size else None, "is a number, the parameter is a string", values.size)
        return decode_strings(values)
    if values.dtype.kind in "SUO":
        raise Unfit((0,), None, f"is text, the parameter is {target}", values.size)
    if target.kind == "b":
        ints = to_int(values, np.dtype(np.int64), 0)
        bad = (ints != 0) & (ints != 1)
        if bad.any():
            raise _first_bad(bad, values, "is not 0 or 1 (boolean)")
        return ints.astype(bool)
    if target.kind in "iu":
        return to_int(values, target, fill)
    return _to_float(values, target, widen)


def _int_fill(param: Parameter, target: np.dtype) -> Any:
    value = param.fill_value
    try:
        if value is not None and not (isinstance(value, float) and np.isnan(value)):
            info = np.iinfo(target)
            if info.min <= int(value) <= info.max:
                return int(value)
    except (TypeError, ValueError, OverflowError):
        pass
    return fill_value(target.str)


def column_values(var: Any, param: Parameter, target: np.dtype, *, widen: bool) -> np.ndarray:
    """A file variable's values as the stored column of ``param`` (see the module docstring).

    Parameters
    ----------
    var
        The netCDF4 variable, opened without auto mask/scale/chartostring.
    param
        The raw parameter it supplies.
    target
        The dtype to store (the parameter's, or the one the store already holds).
    widen
        Whether a float wider than ``target`` may be kept as it is (no column stored yet).

    Raises
    ------
    UnitsError
        The units are not convertible to the parameter's.
    Unfit
        A value does not fit ``target``.
    """
    values = np.asarray(var[:])
    if target.kind == "U" or values.dtype.kind in "SUO":
        return _convert(values, target, None, widen)
    fill = _int_fill(param, target) if target.kind in "iu" else None
    missing = file_missing(var, values, param)
    if missing is not None:
        values = values.copy()
        values[missing] = 0
    units = getattr(var, "units", "")
    conversion = time_conversion(units if isinstance(units, str) else "", param.units or "")
    if conversion is not None:
        values = _converted(values, *conversion, target)
    out = _convert(values, target, fill, widen)
    if missing is not None:
        if out.dtype.kind == "f":
            out[missing] = np.nan
        elif out.dtype.kind in "iu":
            out[missing] = fill
    return out
