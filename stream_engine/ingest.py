"""Loading OOI-layout NetCDF files into a store: raw parameters only, validated, one atomic write.

An OOI-layout file has one record dimension (``obs``) and a float64 ``time`` variable; the stream
identity is in the global attributes ``subsite``, ``node``, ``sensor``, ``collection_method`` and
``stream``. Ingest keeps the variables that are raw (non-function) parameters of that stream in
the preload dictionary, stored under the parameter's ``name`` and converted to the parameter's
value encoding (or to the dtype the stream already stores for that column) when every value fits
exactly. Products and anything the dictionary does not know are dropped and reported: products
are always recomputed, never stored.

Values are read undecoded (no masking, no scaling), so fill values are stored as they are in the
file. Two exceptions, both needed to keep the meaning of a value: NaN in a float variable for an
integer parameter becomes the parameter's fill value, and times in other units
(``<unit> since <date>``) become NTP seconds.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from stream_engine.errors import IngestError
from stream_engine.store.base import DEPLOYMENT, TIME, StreamKey
from stream_engine.store.records import STRING_DTYPE, fill_value

if TYPE_CHECKING:
    from stream_engine.preload.model import Parameter, Preload
    from stream_engine.store.base import Store

IDENTITY = (
    ("subsite", "subsite"),
    ("node", "node"),
    ("sensor", "sensor"),
    ("method", "collection_method"),
    ("stream", "stream"),
)
_NC_DOUBLE_FILL = 9.969209968386869e36
_UNIT_SECONDS = {
    "second": 1.0, "seconds": 1.0, "sec": 1.0, "secs": 1.0, "s": 1.0,
    "minute": 60.0, "minutes": 60.0, "min": 60.0, "mins": 60.0,
    "hour": 3600.0, "hours": 3600.0, "hr": 3600.0, "hrs": 3600.0, "h": 3600.0,
    "day": 86400.0, "days": 86400.0, "d": 86400.0,
}
_SINCE = re.compile(
    r"^\s*(\w+)\s+since\s+(\d{1,4})-(\d{1,2})-(\d{1,2})"
    r"(?:[T ](\d{1,2}):(\d{1,2})(?::(\d{1,2})(\.\d*)?)?)?\s*(?:Z|UTC|\+0+:?0*)?\s*$",
    re.IGNORECASE,
)
_NTP_EPOCH = date(1900, 1, 1)


@dataclass(frozen=True)
class IngestReport:
    """What one file contributed: records read, inserted, replaced, and the variables not stored."""

    path: Path
    key: StreamKey
    records: int
    inserted: int
    replaced: int
    dropped: tuple[str, ...]
    notes: tuple[str, ...] = ()


# -- time units --------------------------------------------------------------------------------


def ntp_offset(units: str) -> tuple[float, float] | None:
    """``(scale, offset)`` turning values in CF time ``units`` into NTP seconds, or None when
    ``units`` is not ``<unit> since <date>``."""
    m = _SINCE.match(units or "")
    if not m or m.group(1).lower() not in _UNIT_SECONDS:
        return None
    year, month, day = (int(m.group(i)) for i in (2, 3, 4))
    hh, mm, ss = (int(m.group(i) or 0) for i in (5, 6, 7))
    frac = float(m.group(8) or 0.0)
    days = (date(year, month, day) - _NTP_EPOCH).days
    return _UNIT_SECONDS[m.group(1).lower()], days * 86400.0 + hh * 3600 + mm * 60 + ss + frac


def _is_ntp_units(units: str) -> bool:
    conv = ntp_offset(units)
    return conv is not None and conv == (1.0, 0.0)


# -- value conversion --------------------------------------------------------------------------


class _Unfit(Exception):
    """A value cannot be represented in the target dtype; args: (index, value, reason)."""


def _first_bad(mask: np.ndarray, values: np.ndarray, reason: str) -> _Unfit:
    flat = np.flatnonzero(mask.reshape(-1))
    idx = int(flat[0])
    return _Unfit(np.unravel_index(idx, mask.shape), values.reshape(-1)[idx], reason, int(flat.size))


def _decode_strings(values: np.ndarray) -> np.ndarray:
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


def _to_int(values: np.ndarray, target: np.dtype, fill: Any) -> np.ndarray:
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
        raise _Unfit((0,), values.reshape(-1)[0] if values.size else None, f"is {values.dtype}, not a number", values.size)
    if values.size and values.dtype.kind != "b":
        lo, hi = values.min(), values.max()
        if lo < info.min or hi > info.max:
            bad = (values < info.min) | (values > info.max)
            raise _first_bad(bad, values, f"is outside the {target} range {info.min}..{info.max}")
    return values.astype(target)


def _to_float(values: np.ndarray, target: np.dtype, widen: bool) -> np.ndarray:
    if values.dtype.kind not in "iufb":
        raise _Unfit((0,), values.reshape(-1)[0] if values.size else None, f"is {values.dtype}, not a number", values.size)
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
            raise _Unfit((0,), values.reshape(-1)[0] if values.size else None, "is a number, the parameter is a string", values.size)
        return _decode_strings(values)
    if values.dtype.kind in "SUO":
        raise _Unfit((0,), None, f"is text, the parameter is {target}", values.size)
    if target.kind == "b":
        ints = _to_int(values, np.dtype(np.int64), 0)
        bad = (ints != 0) & (ints != 1)
        if bad.any():
            raise _first_bad(bad, values, "is not 0 or 1 (boolean)")
        return ints.astype(bool)
    if target.kind in "iu":
        return _to_int(values, target, fill)
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


# -- reading a file ----------------------------------------------------------------------------


def _open(path: Path) -> Any:
    import netCDF4

    if not path.is_file():
        raise IngestError(f"{path}: no such file")
    try:
        ds = netCDF4.Dataset(path, "r")
    except OSError as exc:
        raise IngestError(f"{path}: not a NetCDF file ({exc.strerror or exc}); ingest reads OOI-layout NetCDF") from None
    ds.set_auto_maskandscale(False)
    ds.set_auto_chartostring(False)
    return ds


def _stream_key(ds: Any, path: Path, overrides: Mapping[str, str] | None) -> StreamKey:
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - {k for k, _ in IDENTITY})
    if unknown:
        raise IngestError(f"{path}: unknown override(s) {unknown}; use subsite, node, sensor, method, stream")
    parts = []
    for key, attr in IDENTITY:
        value = overrides.get(key)
        if not value:
            value = str(ds.getncattr(attr)).strip() if attr in ds.ncattrs() else ""
        if not value:
            raise IngestError(
                f"{path}: the stream identity lacks {key!r} (no global attribute {attr!r}); pass --{key}"
            )
        parts.append(value)
    try:
        return StreamKey(*parts)
    except TypeError as exc:
        raise IngestError(f"{path}: bad stream identity: {exc}") from None


def _time_column(ds: Any, path: Path) -> tuple[np.ndarray, str]:
    if "time" not in ds.variables:
        raise IngestError(f"{path}: has no 'time' variable; an OOI-layout file needs time (NTP seconds) on its record dimension")
    var = ds.variables["time"]
    if var.ndim != 1 or var.dtype.kind not in "iuf":
        raise IngestError(f"{path}: 'time' must be a 1-D numeric variable, got {var.dtype} {var.dimensions}")
    values = np.asarray(var[:], dtype=np.float64)
    conv = ntp_offset(getattr(var, "units", "") or "seconds since 1900-01-01")
    if conv is None:
        raise IngestError(f"{path}: 'time' has units {var.units!r}; expected '<unit> since <date>' (NTP: seconds since 1900-01-01)")
    bad = ~np.isfinite(values) | (np.abs(values) >= _NC_DOUBLE_FILL)
    fill = getattr(var, "_FillValue", None)
    if fill is not None and np.isfinite(fill):
        bad |= values == fill
    bad |= values == -9999999.0
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise IngestError(
            f"{path}: 'time' has {int(bad.sum())} missing or fill values (first at record {i}: "
            f"{values[i]!r}); every record needs a time"
        )
    if conv != (1.0, 0.0):
        values = values * conv[0] + conv[1]
    return values, var.dimensions[0]


def _deployment_column(ds: Any, path: Path, n: int, dim: str) -> np.ndarray:
    if "deployment" not in ds.variables:
        return np.zeros(n, dtype=np.int32)  # streamed data carry deployment 0, as in OOI's Cassandra
    var = ds.variables["deployment"]
    if var.dimensions != (dim,):
        raise IngestError(f"{path}: 'deployment' must be 1-D on {dim!r}, got {var.dimensions}")
    values = np.asarray(var[:])
    if values.dtype.kind == "f" and np.isnan(values).any():
        raise IngestError(f"{path}: 'deployment' has NaN values; every record needs a deployment number (0 if unknown)")
    try:
        return _to_int(values, np.dtype(np.int32), 0)
    except _Unfit as bad:
        value = bad.args[1].item() if isinstance(bad.args[1], np.generic) else bad.args[1]
        raise IngestError(f"{path}: 'deployment' value {value!r} at record {bad.args[0][0]} {bad.args[2]}") from None


def _parameter_lookup(preload: Preload, stream: str) -> tuple[dict[str, Parameter], set[str]]:
    raw: dict[str, Parameter] = {}
    products: set[str] = set()
    params = preload.stream_parameters(stream)
    for p in params:
        if p.is_function:
            products.update(n for n in (p.netcdf_name, p.name) if n)
    for p in params:
        if not p.is_function and p.netcdf_name:
            raw.setdefault(p.netcdf_name, p)
    for p in params:
        if not p.is_function:
            raw.setdefault(p.name, p)
    return raw, products


def _read_columns(
    ds: Any, path: Path, key: StreamKey, preload: Preload, stored: Mapping[str, Any], progress: bool
) -> tuple[dict[str, np.ndarray], tuple[str, ...], tuple[str, ...], int]:
    from tqdm import tqdm

    time, dim = _time_column(ds, path)
    n = len(time)
    if n == 0:
        raise IngestError(f"{path}: has no records (time is empty); nothing to ingest")
    columns: dict[str, np.ndarray] = {TIME: time, DEPLOYMENT: _deployment_column(ds, path, n, dim)}
    lookup, products = _parameter_lookup(preload, key.stream)
    dropped: list[str] = []
    notes: list[str] = []
    names = [v for v in ds.variables if v not in (TIME, DEPLOYMENT)]
    for name in tqdm(names, desc=f"reading {path.name}", unit="var", disable=not progress, leave=False):
        var = ds.variables[name]
        param = lookup.get(name)
        if param is None or param.name in (TIME, DEPLOYMENT) or param.name in columns:
            dropped.append(name)
            continue
        is_text = var.dtype == str or np.dtype(var.dtype).kind in "SUO"
        ndim = var.ndim - (1 if is_text and np.dtype(var.dtype).kind == "S" and var.ndim >= 2 else 0)
        want = 2 if param.is_array else 1
        if not var.dimensions or var.dimensions[0] != dim or ndim != want:
            raise IngestError(
                f"{path}: variable {name!r} has dimensions {var.dimensions}; parameter "
                f"{param.name!r} ({param.pd}) needs {'(obs, k)' if want == 2 else '(obs,)'} on {dim!r}"
            )
        info = stored.get(param.name)
        target = np.dtype(param.dtype if info is None else ("U" if info.dtype == STRING_DTYPE else info.dtype))
        values = np.asarray(var[:])
        units = getattr(var, "units", "")
        conv = ntp_offset(units) if isinstance(units, str) else None
        if target.kind == "f" and conv and conv != (1.0, 0.0) and _is_ntp_units(param.units or ""):
            values = values.astype(np.float64) * conv[0] + conv[1]
        fill = _int_fill(param, target) if target.kind in "iu" else None
        try:
            columns[param.name] = _convert(values, target, fill, widen=info is None)
        except _Unfit as bad:
            where, value, reason, count = bad.args
            value = value.item() if isinstance(value, np.generic) else value
            if name in products:
                # The dictionary gives a raw parameter and a product the same name; values the raw
                # encoding cannot hold are the product's (an earlier engine's output), not raw.
                dropped.append(name)
                notes.append(
                    f"{name!r} names both raw {param.pd} and a product; its value {value!r} at record "
                    f"{where[0]} {reason} for {param.value_encoding}, so the file holds the product: not stored"
                )
                continue
            raise IngestError(
                f"{path}: variable {name!r} (parameter {param.name!r}, {param.value_encoding}) value "
                f"{value!r} at record {where[0]} {reason} ({count} such values); fix the file or the "
                "parameter's value encoding"
            ) from None
    return columns, tuple(dropped), tuple(notes), n


def ingest_file(
    store: Store,
    preload: Preload,
    path: Path,
    *,
    overrides: Mapping[str, str] | None = None,
    progress: bool = False,
) -> IngestReport:
    """Validate and store one OOI-layout NetCDF file's raw parameters in a single write.

    Parameters
    ----------
    store, preload
        Where to write, and the dictionary that says which variables are raw parameters.
    path
        The NetCDF file.
    overrides
        Stream identity values replacing or supplying the global attributes; keys ``subsite``,
        ``node``, ``sensor``, ``method``, ``stream``.
    progress
        Show a tqdm progress bar while reading variables and writing.

    Returns
    -------
    IngestReport

    Raises
    ------
    IngestError
        Not a NetCDF file, missing identity, unknown stream, missing or fill times, a value that
        does not fit its parameter, or a store refusal. Nothing of the file is stored.
    """
    from tqdm import tqdm

    path = Path(path)
    ds = _open(path)
    try:
        key = _stream_key(ds, path, overrides)
        try:
            definition = preload.stream(key.stream)
        except KeyError:
            raise IngestError(
                f"{path}: stream {key.stream!r} is not in the preload dictionary "
                f"{preload.source or ''}; pass --stream with a known stream or use a preload that defines it"
            ) from None
        if definition.is_virtual:
            raise IngestError(f"{path}: stream {key.stream!r} is virtual (computed from other streams); it cannot be ingested")
        stored = store.columns(key) if store.coverage(key) is not None else {}
        columns, dropped, notes, n = _read_columns(ds, path, key, preload, stored, progress)
    finally:
        ds.close()
    with tqdm(total=n, desc=f"writing {path.name}", unit="rec", disable=not progress, leave=False) as bar:
        try:
            result = store.write(key, columns, bin_seconds=definition.bin_seconds)
        except ValueError as exc:
            raise IngestError(f"{path}: the store refused the records: {exc}") from None
        bar.update(n)
    return IngestReport(path, key, n, result.inserted, result.replaced, dropped, notes)
