"""The DODS data response: the constrained DDS, ``Data:``, then XDR values, streamed in blocks.

Variables are written in declaration order. For an array: the element count twice as
big-endian uint32 words (once for String arrays), then the values: Float64/Float32/Int32/UInt32
as themselves, Int16/UInt16 widened to 4 bytes, Byte as bytes padded to a multiple of 4, String
as a length word, UTF-8 bytes and padding to 4. A scalar has no count words. Values are read
from the lazy variables block by block, so memory does not grow with the response.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing

import numpy as np

from dap_handlers.dtypes import EXACT_FLOAT64_INT, is_wide_integer
from dap_handlers.errors import EncodingError
from dap_handlers.model import DapDataset, DapVariable
from dap_handlers.responses.blocks import DEFAULT_BLOCK_BYTES, row_blocks
from dap_handlers.responses.dds import dds_text
from dap_handlers.text import to_text

DATA_MARKER = b"Data:\n"


def _padding(length: int) -> bytes:
    return b"\0" * (-length % 4)


def header_bytes(dataset: DapDataset) -> bytes:
    """Everything before the first value: the constrained DDS and the ``Data:`` line."""
    return dds_text(dataset).encode("utf-8") + DATA_MARKER


def variable_length(variable: DapVariable) -> int | None:
    """Bytes of a variable's XDR encoding, or None for String (its size depends on the values)."""
    dap_type = variable.dap_type
    if dap_type.is_string:
        return None
    values = variable.size * dap_type.wire_size
    if dap_type.is_byte:
        values += -values % 4
    return values if variable.ndim == 0 else 8 + values


def dods_length(dataset: DapDataset) -> int | None:
    """Exact length of the whole DODS response, or None when a String variable is projected."""
    total = len(header_bytes(dataset))
    for variable in dataset.variables:
        length = variable_length(variable)
        if length is None:
            return None
        total += length
    return total


def _check_exact(variable: DapVariable, block: np.ndarray) -> None:
    if block.size and (block.max() > EXACT_FLOAT64_INT or block.min() < -EXACT_FLOAT64_INT):
        raise EncodingError(
            f"variable {variable.name!r} holds an {variable.dtype} value beyond +-2**53, which "
            "DAP2 (Float64) cannot carry exactly; the response was cut short"
        )


def _string_bytes(block: np.ndarray) -> bytes:
    parts = []
    for value in block.ravel().tolist():
        data = to_text(value).encode("utf-8")
        parts.append(len(data).to_bytes(4, "big"))
        parts.append(data)
        parts.append(_padding(len(data)))
    return b"".join(parts)


def variable_chunks(
    variable: DapVariable, block_bytes: int = DEFAULT_BLOCK_BYTES
) -> Iterator[bytes | memoryview]:
    """The XDR encoding of one variable, a block at a time (numbers as a byte view of the block
    in wire order)."""
    dap_type = variable.dap_type
    count = variable.size.to_bytes(4, "big")
    if variable.ndim:
        yield count if dap_type.is_string else count + count
    wide = is_wide_integer(variable.dtype)
    with closing(row_blocks(variable, block_bytes)) as blocks:
        for block in blocks:
            if dap_type.is_string:
                yield _string_bytes(block)
                continue
            if wide:
                _check_exact(variable, block)
            # a byte view of the block in wire order, not a copy (the server sends it as it is)
            yield memoryview(np.ascontiguousarray(block, dtype=dap_type.wire).reshape(-1)).cast("B")
    if dap_type.is_byte:
        pad = _padding(variable.size)
        if pad:
            yield pad


def dods_chunks(dataset: DapDataset, block_bytes: int = DEFAULT_BLOCK_BYTES) -> Iterator[bytes | memoryview]:
    """The whole DODS response as a stream of byte chunks (each at most about ``block_bytes``;
    ``bytes`` or byte views of the values)."""
    yield header_bytes(dataset)
    for variable in dataset.variables:
        yield from variable_chunks(variable, block_bytes)
