"""Loading OOI-layout NetCDF files into a store: raw parameters only, validated, one atomic write.

An OOI-layout file has one record dimension (``obs``) and a float64 ``time`` variable; the stream
identity is in the global attributes ``subsite``, ``node``, ``sensor``, ``collection_method`` and
``stream``. Ingest keeps the variables that are raw (non-function) parameters of that stream in
the preload dictionary, stored under the parameter's ``name`` and converted to the parameter's
value encoding (or to the dtype the stream already stores for that column) when every value fits
exactly. Products and anything the dictionary does not know are dropped and reported: products
are always recomputed, never stored.

Values are read undecoded (no masking, no scaling) and stored exactly, with two exceptions that
keep the meaning of a value (:mod:`stream_engine.ingest_values`): values that are missing in the
file (its ``_FillValue``/``missing_value``, the netCDF default fill, the parameter's dictionary
fill) are stored as the parameter's fill (NaN for floats), and time-like parameters in other units
(``minutes``, ``days since 1970-01-01``) are converted to the dictionary's units; units that
cannot be converted refuse the file. Records identical to those already stored are counted as
``unchanged`` and not written again (a re-ingest changes nothing, not even change tokens).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from stream_engine.errors import IngestError
from stream_engine.ingest_values import Unfit, UnitsError, column_values, ntp_offset, to_int
from stream_engine.store.base import DEPLOYMENT, TIME, StreamKey, TimeRange
from stream_engine.store.records import STRING_DTYPE

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


@dataclass(frozen=True)
class IngestReport:
    """What one file contributed: records read, inserted, replaced by different values, found
    identical to what the store held (``unchanged``), and the variables not stored."""

    path: Path
    key: StreamKey
    records: int
    inserted: int
    replaced: int
    dropped: tuple[str, ...]
    notes: tuple[str, ...] = ()
    unchanged: int = 0


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
        return to_int(values, np.dtype(np.int32), 0)
    except Unfit as bad:
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
        try:
            columns[param.name] = column_values(var, param, target, widen=info is None)
        except UnitsError as exc:
            raise IngestError(
                f"{path}: variable {name!r} (parameter {param.name!r}, {param.pd}) has {exc}; "
                "nothing of the file was stored. Fix the variable's units attribute"
            ) from None
        except Unfit as bad:
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
    return columns, tuple(sorted(dropped)), tuple(notes), n


def _same(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per record, whether two columns hold the same value (NaN equals NaN)."""
    if a.dtype.kind == "f" and b.dtype.kind == "f":
        equal = (a == b) | (np.isnan(a) & np.isnan(b))
    else:
        equal = np.asarray(a == b)
    return equal.reshape(len(a), -1).all(axis=1) if equal.ndim > 1 else equal


def _unchanged(store: Store, key: StreamKey, columns: Mapping[str, np.ndarray], stored: Mapping[str, Any]) -> np.ndarray:
    """Which of the file's records the store already holds with identical values."""
    time, deployment = columns[TIME], columns[DEPLOYMENT]
    same = np.zeros(len(time), dtype=bool)
    names = [c for c in columns if c not in (TIME, DEPLOYMENT)]
    if not stored or set(names) != set(stored) - {TIME, DEPLOYMENT}:
        return same
    span = TimeRange(float(time.min()), float(np.nextafter(time.max(), np.inf)))
    old = store.read(key, names, time_range=span)
    if len(old[TIME]) == 0:
        return same
    lo = np.searchsorted(old[TIME], time, side="left")
    hi = np.searchsorted(old[TIME], time, side="right")
    match = np.full(len(time), -1, dtype=np.int64)
    single = (hi - lo) == 1
    hit = single & (old[DEPLOYMENT][np.minimum(lo, len(old[TIME]) - 1)] == deployment)
    match[hit] = lo[hit]
    for i in np.flatnonzero(hi - lo > 1):
        found = lo[i] + np.flatnonzero(old[DEPLOYMENT][lo[i]:hi[i]] == deployment[i])
        if len(found):
            match[i] = found[0]
    found = match >= 0
    same[found] = True
    for name in names:
        if not same.any():
            break
        rows = np.flatnonzero(same)
        same[rows] = _same(np.asarray(columns[name])[rows], np.asarray(old[name])[match[rows]])
    return same


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
    unchanged = int(_unchanged(store, key, columns, stored).sum())
    if unchanged == n:
        return IngestReport(path, key, n, 0, 0, dropped, notes, unchanged)
    with tqdm(total=n, desc=f"writing {path.name}", unit="rec", disable=not progress, leave=False) as bar:
        try:
            result = store.write(key, columns, bin_seconds=definition.bin_seconds)
        except ValueError as exc:
            raise IngestError(f"{path}: the store refused the records: {exc}") from None
        bar.update(n)
    return IngestReport(path, key, n, result.inserted, max(result.replaced - unchanged, 0), dropped, notes,
                        unchanged)
