"""Array parameters as OOI's tools stored them: each record's value a msgpack-encoded (nested) list.

OOI's ingest and stream_engine wrote an ``array<quantity>`` value as ``msgpack.packb(list)`` in
the column's blob; this store writes its own arrays as raw little-endian bytes. Which one a
column of a stream key holds is recorded in ``stream_columns.dtype``: the plain numpy dtype for
ours, ``msgpack:<dtype>`` for OOI's (set by ``stream-engine cassandra reindex``). In memory such
a column is a :class:`MsgpackColumn`, so reads decode and writes encode it the OOI way, keeping
the keyspace readable by OOI's tools. Nested lists are flattened in row-major order; a missing
value (null) or a shorter list is padded with the column's fill value, as OOI padded ragged arrays.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgpack
import numpy as np

from stream_engine.store.base import ColumnInfo
from stream_engine.store.records import STRING_DTYPE, fill_array

__all__ = ["MARKER", "MsgpackColumn", "column_info", "decode_msgpack", "dtype_text", "encode_msgpack", "flat_values"]

#: Prefix of ``stream_columns.dtype`` for a column of msgpack blobs.
MARKER = "msgpack:"


@dataclass(frozen=True, slots=True)
class MsgpackColumn(ColumnInfo):
    """An array column whose blobs are msgpack lists (OOI's encoding), not raw bytes."""


def column_info(name: str, dtype: str, width: int | None) -> ColumnInfo:
    """The column a ``stream_columns`` row describes (a :class:`MsgpackColumn` for ``msgpack:``)."""
    shape = () if width is None else (width,)
    if dtype.startswith(MARKER):
        return MsgpackColumn(name, dtype[len(MARKER):], shape)
    return ColumnInfo(name, dtype, shape)


def dtype_text(info: ColumnInfo) -> str:
    """What ``stream_columns.dtype`` holds for ``info`` (inverse of :func:`column_info`)."""
    return MARKER + info.dtype if isinstance(info, MsgpackColumn) else info.dtype


def flat_values(blob: bytes) -> list[Any]:
    """The values of one msgpack blob, nested lists flattened in row-major order.

    Raises
    ------
    ValueError
        If the blob is not msgpack.
    """
    try:
        value = msgpack.unpackb(blob, raw=False, strict_map_key=False)
    except (msgpack.ExtraData, msgpack.FormatError, msgpack.StackError, ValueError) as exc:
        raise ValueError(f"not a msgpack value: {exc}") from exc
    out: list[Any] = []
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, list | tuple):
            pending.extend(reversed(item))
        else:
            out.append(item)
    return out


def decode_msgpack(blobs: list[bytes | None], info: ColumnInfo) -> np.ndarray:
    """msgpack blobs (``None`` where null) as an ``(n, width)`` column of ``info``'s dtype.

    Values past ``width``, ``None`` values and values of another type become fills rather than
    failing the read: what OOI's tools stored is served as far as it can be.
    """
    out = fill_array(info, len(blobs))
    width = info.shape[0]
    strings = info.dtype == STRING_DTYPE
    for i, blob in enumerate(blobs):
        if not blob:
            continue
        row = flat_values(blob)[:width]
        if strings:
            out[i, : len(row)] = ["" if v is None else str(v) for v in row]
            continue
        try:
            out[i, : len(row)] = row
        except (TypeError, ValueError):
            for j, v in enumerate(row):
                try:
                    out[i, j] = v
                except (TypeError, ValueError, OverflowError):
                    pass
    return out


def encode_msgpack(values: np.ndarray) -> list[bytes]:
    """One msgpack list per record of a 2-D column (how OOI's tools wrote array values)."""
    return [msgpack.packb(row) for row in values.tolist()]
