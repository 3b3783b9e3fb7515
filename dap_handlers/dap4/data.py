"""The DAP4 data response (``.dap``): the DMR, then the variables' values, in chunks.

Each chunk starts with a 4-byte big-endian header: flags in the first byte (``0x01`` last chunk,
``0x02`` error, ``0x04`` little-endian data) and the byte count in the other three, so a chunk
holds at most 16 MiB - 1. The first chunk is the DMR of the constrained dataset; the values
follow in chunks of :data:`CHUNK_BYTES`, every chunk flagged little-endian, the final one
flagged last. A variable's serialization is its values in C order, little-endian, with no count
(a fixed-size array's size is in the DMR); a String is an 8-byte little-endian byte count and
its UTF-8 bytes. With checksums, each variable is followed by the CRC32 of its serialization
(little-endian UInt32); without them the DMR chunk carries the flag ``0x08`` that netCDF-C 4.9
reads as "no checksums".

Values are read from the lazy variables block by block. Without checksums nothing is held but
the current block and chunk, and no length is declared (a failure while streaming ends the body
with an error chunk; the last-chunk flag tells a client the body is whole). With checksums the DMR must carry every variable's checksum
(``_DAP4_Checksum_CRC32``, which netCDF-C requires and verifies), so the serialized values are
first spooled (memory up to :data:`SPOOL_MEMORY_BYTES`, then a temporary file) while the CRCs are
computed, and sent after the DMR. An error while values stream ends the response with an error
chunk holding a DAP4 ``<Error>`` document.
"""

from __future__ import annotations

import logging
import tempfile
import zlib
from collections.abc import Iterable, Iterator
from contextlib import closing
from typing import IO

import numpy as np

from dap_handlers.dap4.dmr import dmr_text
from dap_handlers.dap4.errors import error_document
from dap_handlers.dap4.types import dap4_type
from dap_handlers.model import DapDataset, DapVariable
from dap_handlers.responses.blocks import DEFAULT_BLOCK_BYTES, row_blocks
from dap_handlers.text import to_text

logger = logging.getLogger("stream_engine.dap")

LAST_CHUNK = 0x01
ERROR_CHUNK = 0x02
LITTLE_ENDIAN_CHUNK = 0x04
#: Not in the specification: netCDF-C 4.9 assumes a checksum after every variable unless the
#: DMR chunk carries this flag (its ``CHECKSUMHACK``); 4.10 ignores it and reads the DMR's
#: ``_DAP4_Checksum_CRC32`` attributes instead; pydap ignores it.
NO_CHECKSUM_CHUNK = 0x08
#: Largest count a chunk header can hold (24 bits).
MAX_CHUNK_BYTES = 2**24 - 1
#: Bytes of values per data chunk (512 KiB: a 1 MiB chunk, and the web server's copy of it for
#: HTTP chunked framing, came from fresh memory every time, 4x the page faults; a cold 560 MB
#: ``.dap`` of stored variables took 0.45 s of CPU in-process with 1 MiB chunks, 0.37 s with 512 KiB).
CHUNK_BYTES = 2**19
#: Serialized values held in memory before a checksummed response spools to disk.
SPOOL_MEMORY_BYTES = 8 * 2**20
CHECKSUM_BYTES = 4


def chunk_header(flags: int, count: int) -> bytes:
    """The 4-byte header of a chunk of ``count`` bytes."""
    if not 0 <= count <= MAX_CHUNK_BYTES:
        raise ValueError(f"a DAP4 chunk holds at most {MAX_CHUNK_BYTES} bytes, not {count}")
    return bytes([flags]) + count.to_bytes(3, "big")


def dmr_chunk(dmr: str, checksums: bool) -> bytes:
    """The DMR as the first chunk of a data response (flagged when no checksums follow)."""
    body = dmr.encode("utf-8")
    flags = LITTLE_ENDIAN_CHUNK | (0 if checksums else NO_CHECKSUM_CHUNK)
    return chunk_header(flags, len(body)) + body


def variable_size(variable: DapVariable) -> int | None:
    """Bytes of a variable's serialization (no checksum), or None for String."""
    wire = dap4_type(variable.dtype).wire_size
    return None if not wire else variable.size * wire


def data_size(dataset: DapDataset, checksums: bool) -> int | None:
    """Bytes of all the variables' serializations, or None when a String is projected."""
    total = 0
    for variable in dataset.variables:
        size = variable_size(variable)
        if size is None:
            return None
        total += size + (CHECKSUM_BYTES if checksums else 0)
    return total


def response_length(dmr: str, values: int) -> int:
    """Exact length of a data response with ``values`` bytes after the DMR."""
    chunks = max(1, -(-values // CHUNK_BYTES))
    return 4 + len(dmr.encode("utf-8")) + values + 4 * chunks


def _string_bytes(block: np.ndarray) -> bytes:
    parts = []
    for value in block.ravel().tolist():
        data = to_text(value).encode("utf-8")
        parts.append(len(data).to_bytes(8, "little"))
        parts.append(data)
    return b"".join(parts)


def variable_blocks(variable: DapVariable, block_bytes: int) -> Iterator[bytes | memoryview]:
    """The serialization of one variable, a block at a time (numbers as a byte view of the
    block in wire order: whoever frames them copies them once, into the chunk)."""
    wire = dap4_type(variable.dtype).wire
    with closing(row_blocks(variable, block_bytes)) as blocks:
        for block in blocks:
            if wire is None:
                yield _string_bytes(block)
            else:
                yield memoryview(np.ascontiguousarray(block, dtype=wire).reshape(-1)).cast("B")


def values_stream(dataset: DapDataset, block_bytes: int,
                  checksums: dict[str, int] | None = None) -> Iterator[bytes | memoryview]:
    """Every variable's serialization in order; with ``checksums`` (a dict filled here), each
    followed by its CRC32."""
    for variable in dataset.variables:
        crc = 0
        with closing(variable_blocks(variable, block_bytes)) as blocks:
            for data in blocks:
                if checksums is not None:
                    crc = zlib.crc32(data, crc)
                yield data
        if checksums is not None:
            checksums[variable.name] = crc
            yield crc.to_bytes(CHECKSUM_BYTES, "little")


def chunked(pieces: Iterable[bytes | memoryview], what: str) -> Iterator[bytes | memoryview]:
    """Frame a byte stream as data chunks of :data:`CHUNK_BYTES` (the last one flagged last).

    A chunk is its 4-byte header followed by views of the pieces (nothing is copied here: the
    server sends the views as they are, or the application makes them ``bytes``). An exception
    from ``pieces`` is logged and sent as a final error chunk.
    """
    parts: list[memoryview] = []
    size = 0
    try:
        for piece in pieces:
            view = memoryview(piece)
            while view.nbytes:
                if size == CHUNK_BYTES:  # full, and more follows: not the last one
                    yield chunk_header(LITTLE_ENDIAN_CHUNK, CHUNK_BYTES)
                    yield from parts
                    parts, size = [], 0
                take = view[: CHUNK_BYTES - size]
                parts.append(take)
                size += take.nbytes
                view = view[take.nbytes :]
    except Exception as exc:
        logger.error("DAP4 %s response failed while streaming; it ends with an error chunk: %s",
                     what, exc, exc_info=exc)
        message = error_document(500, "the data could not be read completely: "
                                      f"{type(exc).__name__}; the response is incomplete")
        body = message.encode("utf-8")
        yield chunk_header(LAST_CHUNK | ERROR_CHUNK | LITTLE_ENDIAN_CHUNK, len(body)) + body
        return
    yield chunk_header(LAST_CHUNK | LITTLE_ENDIAN_CHUNK, size)
    yield from parts


def _spooled_file(spool: IO[bytes]) -> Iterator[bytes]:
    try:
        spool.seek(0)
        while True:
            data = spool.read(CHUNK_BYTES)
            if not data:
                return
            yield data
    finally:
        spool.close()


def checksummed_response(dataset: DapDataset, block_bytes: int = DEFAULT_BLOCK_BYTES,
                         ) -> tuple[Iterator[bytes | memoryview], int]:
    """The data response with checksums, and its length: the values are serialized and spooled
    first (their CRCs go into the DMR), then sent.

    Raises whatever reading the values raises (before anything is sent).
    """
    checksums: dict[str, int] = {}
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY_BYTES)
    try:
        size = 0
        for data in values_stream(dataset, block_bytes, checksums):
            spool.write(data)
            size += len(data)
    except BaseException:
        spool.close()
        raise
    dmr = dmr_text(dataset, checksums)

    def body() -> Iterator[bytes | memoryview]:
        yield dmr_chunk(dmr, checksums=True)
        yield from chunked(_spooled_file(spool), ".dap")

    return body(), response_length(dmr, size)
