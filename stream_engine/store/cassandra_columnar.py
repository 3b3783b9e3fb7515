"""Decoding Cassandra result pages straight into numpy columns, and array parameters as blobs.

The driver normally turns every row of a result into a tuple of Python objects (about a
microsecond per value). :class:`ColumnarProtocolHandler` replaces the decoding of ``RESULT``
messages: a page whose columns all have a fixed width and no nulls (what this store writes: every
column of every record, fills included) is one regular byte array, read with one
``np.frombuffer`` through a structured dtype, so no Python object is made per row. Pages holding
text, blobs or nulls fall back to the driver's own value decoding, column by column.

(The driver ships a ``NumpyProtocolHandler`` with the same aim, but it calls
``ndarray.newbyteorder``, which numpy 2 removed: every page fails to decode.)

A parsed page is a ``dict`` of column name to a numpy array (fixed-width types, native byte
order) or to a ``list`` of Python values (``None`` where null).
"""

from __future__ import annotations

import io
import json
import struct
from typing import Any

import numpy as np
from cassandra import cqltypes
from cassandra.protocol import ProtocolHandler, ResultMessage

from stream_engine.store.base import ColumnInfo
from stream_engine.store.records import STRING_DTYPE, fill_array

__all__ = ["ColumnarProtocolHandler", "decode_blobs", "encode_blobs"]

# Fixed-width CQL types and their big-endian numpy dtypes (the wire format).
_FIXED: dict[type, np.dtype[Any]] = {
    cqltypes.DoubleType: np.dtype(">f8"),
    cqltypes.FloatType: np.dtype(">f4"),
    cqltypes.LongType: np.dtype(">i8"),
    cqltypes.Int32Type: np.dtype(">i4"),
    cqltypes.ShortType: np.dtype(">i2"),
    cqltypes.ByteType: np.dtype(">i1"),
    cqltypes.BooleanType: np.dtype("?"),
    cqltypes.UUIDType: np.dtype("V16"),
}
_INT32 = struct.Struct(">i")


def _page_dtype(types: list[Any], names: list[str]) -> np.dtype[Any] | None:
    """The structured dtype of one row when every column has a fixed width, else ``None``."""
    fields: list[tuple[str, Any]] = []
    for i, (name, cql) in enumerate(zip(names, types, strict=True)):
        dt = _FIXED.get(cql)
        if dt is None:
            return None
        fields.append((f"_len{i}", ">i4"))
        fields.append((name, dt))
    return np.dtype(fields)


def _regular_page(body: bytes, rowcount: int, names: list[str], types: list[Any]) -> dict[str, Any] | None:
    """Decode a page of fixed-width, non-null values in one go, or ``None`` if it is not one."""
    dtype = _page_dtype(types, names)
    if dtype is None or len(body) != 4 + rowcount * dtype.itemsize:
        return None
    rows = np.frombuffer(body, dtype=dtype, offset=4, count=rowcount)
    for i, cql in enumerate(types):
        if rowcount and not np.all(rows[f"_len{i}"] == _FIXED[cql].itemsize):
            return None  # a null (length -1) somewhere: take the general path
    return {name: rows[name].astype(rows[name].dtype.newbyteorder("=")) if rows[name].dtype.kind != "V"
            else rows[name].copy() for name in names}


def _general_page(body: bytes, rowcount: int, names: list[str], types: list[Any], protocol_version: int) -> dict[str, Any]:
    """Decode any page value by value (text, blobs, nulls); fixed-width columns still end as arrays."""
    f = io.BytesIO(body)
    f.seek(4)
    read, unpack = f.read, _INT32.unpack
    raw: list[list[bytes | None]] = [[] for _ in names]
    for _ in range(rowcount):
        for column in raw:
            (size,) = unpack(read(4))
            column.append(read(size) if size >= 0 else None)
    out: dict[str, Any] = {}
    for name, cql, values in zip(names, types, raw, strict=True):
        out[name] = [None if v is None else cql.from_binary(v, protocol_version) for v in values]
    return out


class _ColumnarResultMessage(ResultMessage):  # type: ignore[misc]
    """A ``RESULT`` message whose rows are decoded into columns (see the module docstring)."""

    def recv_results_rows(
        self, f: io.BytesIO, protocol_version: int, user_type_map: Any, result_metadata: Any,
        column_encryption_policy: Any,
    ) -> None:
        self.recv_results_metadata(f, user_type_map)
        metadata = self.column_metadata or result_metadata
        self.column_names = [md[2] for md in metadata]
        self.column_types = [md[3] for md in metadata]
        body = f.read()
        (rowcount,) = _INT32.unpack_from(body, 0)
        page = _regular_page(body, rowcount, self.column_names, self.column_types)
        if page is None:
            page = _general_page(body, rowcount, self.column_names, self.column_types, protocol_version)
        self.parsed_rows = _Page(page, rowcount)


class _Page(dict[str, Any]):
    """One page of columns; ``rowcount`` says how many rows it holds (also when it has no columns)."""

    def __init__(self, columns: dict[str, Any], rowcount: int) -> None:
        super().__init__(columns)
        self.rowcount = rowcount

    def __bool__(self) -> bool:
        return True  # an empty page is still a page (the driver drops falsy results)


class ColumnarProtocolHandler(ProtocolHandler):  # type: ignore[misc]
    """Set as a session's ``client_protocol_handler``: every result page becomes a ``dict`` of columns."""

    message_types_by_opcode = ProtocolHandler.message_types_by_opcode.copy()
    message_types_by_opcode[_ColumnarResultMessage.opcode] = _ColumnarResultMessage


# -- array parameters as blobs ------------------------------------------------------------------


def encode_blobs(values: np.ndarray) -> list[bytes]:
    """One blob per record of a 2-D column: raw little-endian bytes, or a JSON list for strings."""
    if values.dtype.kind == "O":
        return [json.dumps(row, ensure_ascii=False).encode() for row in values.tolist()]
    data = np.ascontiguousarray(values).tobytes()
    width = values.shape[1] * values.dtype.itemsize
    return [data[i : i + width] for i in range(0, len(data), width)] if width else [b""] * len(values)


def decode_blobs(blobs: list[bytes | None], info: ColumnInfo) -> np.ndarray:
    """Blobs written by :func:`encode_blobs` back into an ``(n, k)`` column; a missing or shorter
    record is padded with the column's fill value."""
    n, width = len(blobs), info.shape[0]
    out = fill_array(info, n)
    if info.dtype == STRING_DTYPE:
        for i, blob in enumerate(blobs):
            if blob:
                row = json.loads(blob)
                out[i, : len(row)] = row
        return out
    itemsize = out.dtype.itemsize
    full = width * itemsize
    if all(blob is not None and len(blob) == full for blob in blobs):
        return np.frombuffer(b"".join(blobs), dtype=out.dtype).reshape(n, width).copy()  # type: ignore[arg-type]
    for i, blob in enumerate(blobs):
        if blob:
            row = np.frombuffer(blob, dtype=out.dtype)
            out[i, : len(row)] = row
    return out
