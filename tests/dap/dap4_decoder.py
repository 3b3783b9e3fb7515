"""An independent reader of DAP4 data responses, written from the specification for the tests:
chunk framing, the DMR (ElementTree) and the little-endian serialization."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

import numpy as np

NS = {"d": "http://xml.opendap.org/ns/DAP/4.0#"}
TYPES = {"Float64": "<f8", "Float32": "<f4", "Int64": "<i8", "UInt64": "<u8", "Int32": "<i4",
         "UInt32": "<u4", "Int16": "<i2", "UInt16": "<u2", "Int8": "i1", "UInt8": "u1"}


@dataclass
class Decoded:
    dmr: ET.Element
    chunk_flags: list[int]
    values: dict[str, np.ndarray] = field(default_factory=dict)
    checksums: dict[str, int] = field(default_factory=dict)
    serialized: dict[str, bytes] = field(default_factory=dict)
    error: str | None = None


def chunks(body: bytes) -> list[tuple[int, bytes]]:
    """The (flags, payload) of every chunk; the last one must be flagged last."""
    out, position = [], 0
    while position < len(body):
        flags, count = body[position], int.from_bytes(body[position + 1:position + 4], "big")
        out.append((flags, body[position + 4:position + 4 + count]))
        position += 4 + count
    assert position == len(body), "chunk counts do not add up to the body"
    return out


def attributes(element: ET.Element) -> dict[str, list[str]]:
    """The ``<Attribute>`` children of an element: name -> value texts."""
    found = {}
    for attribute in element.findall("d:Attribute", NS):
        if attribute.get("value") is not None:
            found[attribute.get("name")] = [attribute.get("value")]
        else:
            found[attribute.get("name")] = [v.text or "" for v in attribute.findall("d:Value", NS)]
    return found


def shape_of(variable: ET.Element, dimensions: dict[str, int]) -> tuple[int, ...]:
    return tuple(dimensions[d.get("name").lstrip("/")] if d.get("name") else int(d.get("size"))
                 for d in variable.findall("d:Dim", NS))


def decode(body: bytes, checksums: bool) -> Decoded:
    parts = chunks(body)
    flags = [f for f, _ in parts]
    dmr = ET.fromstring(parts[0][1].decode("utf-8"))
    result = Decoded(dmr, flags)
    if flags[-1] & 0x02:
        result.error = parts[-1][1].decode("utf-8")
        return result
    data = b"".join(p for _, p in parts[1:])
    dimensions = {d.get("name"): int(d.get("size")) for d in dmr.findall("d:Dimension", NS)}
    position = 0
    for variable in dmr:
        tag = variable.tag.split("}")[1]
        if tag in ("Dimension", "Attribute"):
            continue
        name, shape = variable.get("name"), shape_of(variable, dimensions)
        count = int(np.prod(shape, dtype=np.int64))
        start = position
        if tag == "String":
            items = []
            for _ in range(count):
                size = int.from_bytes(data[position:position + 8], "little")
                items.append(data[position + 8:position + 8 + size].decode("utf-8"))
                position += 8 + size
            result.values[name] = np.array(items, dtype=object).reshape(shape)
        else:
            dtype = np.dtype(TYPES[tag])
            result.values[name] = np.frombuffer(
                data, dtype, count, position).reshape(shape)
            position += count * dtype.itemsize
        result.serialized[name] = data[start:position]
        if checksums:
            result.checksums[name] = int.from_bytes(data[position:position + 4], "little")
            position += 4
    assert position == len(data), "data left over after the last variable"
    return result
