"""JSON particle files, one per deployment (the original ``/particles-fs`` output).

Each file is a JSON array of particles exactly as ``POST /particles`` returns them
(:mod:`stream_engine.outputs.particles`: ``time``, every exported variable, the ``pk`` block;
missing values ``null``), written chunk by chunk.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from stream_engine.engine.query_run import QueryChunk
from stream_engine.outputs.particles import encode_chunk
from stream_engine.outputs.writer import ChunkWriter, DeploymentFile
from stream_engine.store.base import TIME

_KEY_FIELDS = ("subsite", "node", "sensor", "method", "stream")


class _Column(NamedTuple):
    name: str
    fill: object


class _JsonFile(DeploymentFile):
    suffix = ".json"

    def open(self, chunk: dict[str, np.ndarray]) -> None:
        key = self.layout.key
        self.key_fields = {name: getattr(key, name) for name in _KEY_FIELDS}
        self.columns = [_Column(TIME, np.nan), *(_Column(v.name, v.fill) for v in self.layout.variables),
                        *(_Column(p.name, np.nan) for p in self.layout.positions)]
        self.handle = open(self.temporary, "wb")  # noqa: SIM115
        self.handle.write(b"[")

    def append(self, chunk: dict[str, np.ndarray]) -> None:
        body = encode_chunk(QueryChunk(chunk), self.columns, self.key_fields)  # type: ignore[arg-type]
        if body:
            self.handle.write((b"," if self.count else b"") + body)

    def finish(self) -> None:
        self.handle.write(b"]")
        self.handle.close()

    def abandon(self) -> None:
        handle = getattr(self, "handle", None)
        if handle is not None:
            handle.close()


class JsonWriter(ChunkWriter):
    """JSON particle arrays, one file per deployment."""

    file_class = _JsonFile
    format_name = "json"
