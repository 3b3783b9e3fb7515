"""Checking and normalising a batch of records before any backend stores it.

Backend-neutral: every :class:`~stream_engine.store.base.Store` applies the same rules, so a file
that one backend accepts, the other accepts too.

Internal representation of a column: a C-contiguous little-endian numpy array, 1-D ``(n,)`` or
2-D ``(n, k)``; strings are ``object`` arrays holding ``str`` (fancy indexing and merging keep
them exact, whatever their width). :func:`to_output` turns strings into numpy ``U`` arrays.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from stream_engine.store.base import DEPLOYMENT, TIME, ColumnInfo

STRING_DTYPE = "<U"
TIME_INFO = ColumnInfo(TIME, "<f8")
DEPLOYMENT_INFO = ColumnInfo(DEPLOYMENT, "<i4")

# netCDF-C default fill values (NC_FILL_*), so stored fills look like netCDF fills downstream.
_INT_FILLS = {
    "i1": -127,
    "u1": 255,
    "i2": -32767,
    "u2": 65535,
    "i4": -2147483647,
    "u4": 4294967295,
    "i8": -9223372036854775806,
    "u8": 18446744073709551614,
}
_INT32 = np.iinfo(np.int32)


def fill_value(dtype: str) -> object:
    """The value a column of numpy dtype string ``dtype`` holds where nothing was written."""
    if dtype == STRING_DTYPE:
        return ""
    dt = np.dtype(dtype)
    if dt.kind == "f":
        return dt.type("nan")
    if dt.kind == "b":
        return False
    return dt.type(_INT_FILLS[f"{dt.kind}{dt.itemsize}"])


def fill_array(info: ColumnInfo, n: int) -> np.ndarray:
    """``n`` records of ``info``'s fill value, in the internal representation."""
    shape = (n, *info.shape)
    if info.dtype == STRING_DTYPE:
        out = np.empty(shape, dtype=object)
        out.fill("")
        return out
    return np.full(shape, fill_value(info.dtype), dtype=np.dtype(info.dtype))


def pad_width(values: np.ndarray, info: ColumnInfo) -> np.ndarray:
    """Pad a 2-D column with fill up to ``info``'s record width ``k`` (no-op when it fits)."""
    if not info.shape or values.shape[1] == info.shape[0]:
        return values
    out = fill_array(info, values.shape[0])
    out[:, : values.shape[1]] = values
    return out


@dataclass(frozen=True, slots=True)
class Batch:
    """Records sorted by ``(time, deployment)`` with unique keys (the last duplicate wins)."""

    columns: dict[str, np.ndarray]
    infos: dict[str, ColumnInfo]

    def __len__(self) -> int:
        return len(self.columns[TIME])


def _as_column(name: str, raw: object) -> tuple[np.ndarray, ColumnInfo]:
    values = np.asarray(raw)
    if values.ndim not in (1, 2):
        raise ValueError(
            f"column {name!r} has {values.ndim} dimensions {values.shape}; a column is 1-D (n,) "
            "or 2-D (n, k) with one row per record"
        )
    kind = values.dtype.kind
    if kind == "U":
        values = values.astype(object)
        kind = "O"
    if kind == "O":
        flat = values.ravel()
        bad = [v for v in flat if not isinstance(v, str)][:1]
        if bad:
            bad = bad[0]
            raise ValueError(
                f"column {name!r} holds {type(bad).__name__} value {bad!r}; object columns must "
                "hold str only (convert the values to str or to a numeric array)"
            )
        return np.ascontiguousarray(values), ColumnInfo(name, STRING_DTYPE, values.shape[1:])
    if kind not in "biuf":
        raise ValueError(
            f"column {name!r} has unsupported dtype {values.dtype}; store booleans, integers, "
            "floats or str (decode bytes to str first)"
        )
    dt = values.dtype.newbyteorder("<") if values.dtype.byteorder == ">" else values.dtype
    values = np.ascontiguousarray(values, dtype=dt)
    return values, ColumnInfo(name, values.dtype.str, values.shape[1:])


def _key_columns(columns: dict[str, np.ndarray]) -> None:
    time = columns[TIME]
    if time.ndim != 1 or time.dtype.kind not in "iuf":
        raise ValueError(f"'time' must be a 1-D array of NTP seconds, got dtype {time.dtype} shape {time.shape}")
    time = time.astype(np.float64, copy=False)
    bad = np.flatnonzero(~np.isfinite(time))
    if bad.size:
        raise ValueError(
            f"'time' has {bad.size} NaN or infinite values (first at index {bad[0]}: "
            f"{time[bad[0]]!r}); every record needs a finite NTP time"
        )
    dep = columns[DEPLOYMENT]
    if dep.ndim != 1 or dep.dtype.kind not in "iu":
        raise ValueError(f"'deployment' must be a 1-D integer array, got dtype {dep.dtype} shape {dep.shape}")
    if dep.size and (dep.min() < _INT32.min or dep.max() > _INT32.max):
        raise ValueError(f"'deployment' values {dep.min()}..{dep.max()} do not fit int32")
    columns[TIME] = time
    columns[DEPLOYMENT] = dep.astype(np.int32, copy=False)


def sort_unique(columns: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], int]:
    """Sort by ``(time, deployment)`` and drop earlier duplicates of a key.

    Returns the sorted columns and the number of records dropped. Among records with equal keys
    the one that comes last in the input survives, so concatenating ``old`` then ``new`` and
    calling this makes ``new`` replace ``old``.
    """
    time, dep = columns[TIME], columns[DEPLOYMENT]
    n = len(time)
    if n > 1 and np.all(time[1:] > time[:-1]):
        return columns, 0
    order = np.lexsort((dep, time))
    t, d = time[order], dep[order]
    keep = np.ones(n, dtype=bool)
    if n > 1:
        keep[:-1] = (t[1:] != t[:-1]) | (d[1:] != d[:-1])
    idx = order[keep]
    return {name: values[idx] for name, values in columns.items()}, n - len(idx)


def normalize(records: Mapping[str, object]) -> Batch:
    """Check a write's records and return them as a sorted, de-duplicated :class:`Batch`.

    Raises
    ------
    ValueError
        Missing ``time``/``deployment``, unequal lengths, NaN or infinite times, non-integer
        deployments, or unsupported dtypes. Nothing is ever partly accepted.
    """
    if not isinstance(records, Mapping):
        raise TypeError(f"records must be a mapping of column name to array, got {type(records).__name__}")
    columns: dict[str, np.ndarray] = {}
    infos: dict[str, ColumnInfo] = {}
    for name, raw in records.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"column names must be non-empty strings, got {name!r}")
        columns[name], infos[name] = _as_column(name, raw)
    lengths = {name: len(v) for name, v in columns.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"columns have unequal lengths {lengths}; every column needs one value per record")
    if not columns or not next(iter(lengths.values())):
        return Batch({TIME: np.empty(0, np.float64), DEPLOYMENT: np.empty(0, np.int32)},
                     {TIME: TIME_INFO, DEPLOYMENT: DEPLOYMENT_INFO})
    missing = [k for k in (TIME, DEPLOYMENT) if k not in columns]
    if missing:
        raise ValueError(f"records lack the key column(s) {missing}; every write needs 'time' and 'deployment'")
    _key_columns(columns)
    infos[TIME], infos[DEPLOYMENT] = TIME_INFO, DEPLOYMENT_INFO
    columns, _ = sort_unique(columns)
    return Batch(columns, infos)


def conform(name: str, values: np.ndarray, new: ColumnInfo, stored: ColumnInfo, where: str) -> np.ndarray:
    """Make ``values`` fit the stored column, or raise ``ValueError`` saying why it cannot.

    Allowed: the same dtype; a safe widening within integers (``int16`` into ``int32``, ``uint8``
    into ``int16``) or within floats (``float32`` into ``float64``); a 2-D width ``k`` different
    from the stored one (the narrower side is padded with fill).
    """
    if len(new.shape) != len(stored.shape):
        raise ValueError(
            f"column {name!r} of {where} is stored with record shape {stored.shape}; cannot "
            f"write values of record shape {new.shape}"
        )
    if new.dtype == stored.dtype:
        return values
    family = {"i": "int", "u": "int", "f": "float", "b": "bool"}
    if new.dtype != STRING_DTYPE and stored.dtype != STRING_DTYPE:
        nd, sd = np.dtype(new.dtype), np.dtype(stored.dtype)
        if family[nd.kind] == family[sd.kind] and np.can_cast(nd, sd, "safe"):
            return values.astype(sd)
    raise ValueError(
        f"column {name!r} of {where} is stored as {stored.dtype}; cannot write {new.dtype} values "
        f"into it (convert them to {stored.dtype} first)"
    )


def to_output(values: np.ndarray) -> np.ndarray:
    """The array a reader gets: strings as numpy ``U`` arrays, everything else unchanged."""
    if values.dtype.kind == "O":
        return values.astype(str) if values.size else np.empty(values.shape, dtype="<U1")
    return values
