"""Converting store columns to the values a Cassandra row takes, and result pages back to columns.

Writes send protocol bytes cut from one numpy conversion per column; reads turn the
numpy columns of :mod:`~stream_engine.store.cassandra_columnar` pages into the stored dtype, so
the hot path of a read makes no Python object per value. Text, blobs and nulls (rows written by
another tool, or before a column existed) take a slower, per-value path and become fill values
where null.
"""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np

from stream_engine.store.base import ColumnInfo
from stream_engine.store.cassandra_columnar import decode_blobs, encode_blobs
from stream_engine.store.cassandra_msgpack import MsgpackColumn, decode_msgpack, encode_msgpack
from stream_engine.store.cassandra_schema import cql_type
from stream_engine.store.records import STRING_DTYPE, fill_array

__all__ = ["NIL_UUID", "column_from_pages", "serialize", "split_bytes", "uuids"]

NIL_UUID = uuid.UUID(int=0)


# Wire format (big-endian) of each CQL type this store writes fixed-width values as.
_WIRE: dict[str, np.dtype[Any]] = {"double": np.dtype(">f8"), "bigint": np.dtype(">i8"), "int": np.dtype(">i4"), "boolean": np.dtype("?")}


def serialize(values: np.ndarray, info: ColumnInfo) -> list[bytes]:
    """The protocol bytes of each record's value of a column (its CQL type is ``cql_type(info)``).

    Fixed-width values are converted for the whole column at once and cut into pieces, so
    writing makes no Python number per value (the driver's ``bind`` costs ~40 us per row).
    """
    if isinstance(info, MsgpackColumn):
        return encode_msgpack(values)
    if info.shape:
        return encode_blobs(values)
    if info.dtype == STRING_DTYPE:
        return [text.encode("utf-8") for text in values.tolist()]
    wire: np.dtype[Any] = _WIRE[cql_type(info)]
    if values.dtype == np.uint64:
        values = values.view(np.int64)  # bigint keeps the bits
    return split_bytes(np.ascontiguousarray(values, dtype=wire).tobytes(), wire.itemsize)


def split_bytes(data: bytes, width: int) -> list[bytes]:
    """``data`` cut into consecutive pieces of ``width`` bytes."""
    return [data[i : i + width] for i in range(0, len(data), width)]


def _from_numeric(values: np.ndarray, info: ColumnInfo) -> np.ndarray:
    target = np.dtype(info.dtype)
    if target == np.uint64:
        return values.astype(np.int64, copy=False).view(np.uint64)
    return values.astype(target, copy=False)


def column_from_pages(pages: list[Any], info: ColumnInfo) -> np.ndarray:
    """Concatenate one column's page values (arrays, or lists with ``None`` for null) into ``info``'s dtype."""
    if info.shape:
        blobs: list[Any] = []
        for page in pages:
            blobs.extend(page)
        return decode_msgpack(blobs, info) if isinstance(info, MsgpackColumn) else decode_blobs(blobs, info)
    if info.dtype == STRING_DTYPE:
        out = np.empty(sum(len(p) for p in pages), dtype=object)
        i = 0
        for page in pages:
            out[i : i + len(page)] = ["" if v is None else v for v in page]
            i += len(page)
        return out
    parts = []
    for page in pages:
        if isinstance(page, np.ndarray):
            parts.append(_from_numeric(page, info))
            continue
        arr = fill_array(info, len(page))
        present = [i for i, v in enumerate(page) if v is not None]
        if present:
            raw = np.array([page[i] for i in present])
            arr[present] = _from_numeric(raw, info)
        parts.append(arr)
    if not parts:
        return np.empty(0, dtype=np.dtype(info.dtype))
    return np.concatenate(parts)


def uuids(values: Any) -> list[uuid.UUID]:
    """``uuid`` column page values (``V16`` array or list of UUIDs) as ``uuid.UUID`` objects."""
    if isinstance(values, np.ndarray):
        return [uuid.UUID(bytes=bytes(v)) for v in values]
    return [v if v is not None else NIL_UUID for v in values]
