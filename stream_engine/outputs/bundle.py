"""Zip archives streamed as they are written.

:func:`zip_stream` yields the bytes of a zip of some files block by block: nothing but one block
is ever held in memory, and the first bytes leave before the last file is read. NetCDF4 files
(compressed inside already) are stored; text files are deflated. Entries use zip64 so files
past 4 GiB are fine.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path

BLOCK_BYTES = 1 << 20


class _Sink:
    """A write-only stream (no ``seek``/``tell``, so :mod:`zipfile` writes data descriptors)."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        if data:
            self.parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def drain(self) -> Iterator[bytes]:
        parts, self.parts = self.parts, []
        yield from parts


def zip_stream(paths: Iterable[Path], block_bytes: int = BLOCK_BYTES) -> Iterator[bytes]:
    """The bytes of a zip holding ``paths`` (each under its own name), block by block."""
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", allowZip64=True) as archive:  # type: ignore[arg-type]
        for path in paths:
            info = zipfile.ZipInfo.from_file(path, path.name)
            info.compress_type = zipfile.ZIP_STORED if path.suffix == ".nc" else zipfile.ZIP_DEFLATED
            with archive.open(info, "w", force_zip64=True) as entry, open(path, "rb") as source:
                while block := source.read(block_bytes):
                    entry.write(block)
                    yield from sink.drain()
            yield from sink.drain()
    yield from sink.drain()
