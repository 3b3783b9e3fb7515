"""The JSON particle form of a query run, as the original Stream Engine wrote it, streamed.

A particle is one record: every output variable by name (``time`` first, the preload
``netcdf_name`` of each parameter, ``<stream>-<netcdf_name>`` for values interpolated from a
further stream), then a ``pk`` block naming the primary stream, the record's time and its
deployment::

    {"time": 3653424021.62, "nutnr_voltage_int": 12.1, ...,
     "pk": {"subsite": "CE04OSPS", "node": "SF01B", "sensor": "4A-NUTNRA102", "method": "streamed",
            "stream": "nutnr_a_sample", "time": 3653424021.62, "deployment": 2}}

Missing values are ``null``: whatever :func:`~stream_engine.preload.fill_values.missing_mask`
marks (NaN, an integer parameter's fill value, ``""``). Values are written as the numbers they
are (float32 values widened to the double nearest them, as ``ndarray.tolist`` gives), so a
client reading them back as the parameter's dtype gets the stored or computed value exactly.

:func:`particle_array` yields the bare array (``[{...}, ...]``); :func:`particle_document` the
object form (``{"data": [...], "provenance": ..., ...}``) whose provenance keys follow the data,
since provenance is merged while the chunks are computed. Both encode one chunk at a time with
``orjson``, so memory holds one chunk's records, never the response.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson

from stream_engine.preload.fill_values import missing_mask

if TYPE_CHECKING:
    from stream_engine.engine.query_run import OutputVariable, QueryChunk, QueryRun

PK = "pk"
#: Particles built and encoded at a time (Python dicts cost ~1 kB a particle; this bounds them).
ENCODE_RECORDS = 8192
_KEY_FIELDS = ("subsite", "node", "sensor", "method", "stream")


def column_values(values: np.ndarray, fill: Any) -> list[Any]:
    """``values`` as a list of Python values with ``None`` where they are missing."""
    listed: list[Any] = values.tolist()
    mask = missing_mask(values, fill)
    if values.ndim == 1:
        for i in np.flatnonzero(mask).tolist():
            listed[i] = None
        return listed
    for i in np.flatnonzero(mask.reshape(len(values), -1).any(axis=1)).tolist():
        row = np.asarray(values[i], dtype=object)
        row[mask[i]] = None
        listed[i] = row.tolist()
    return listed


def encode_chunk(chunk: QueryChunk, variables: list[OutputVariable], key_fields: Mapping[str, str],
                 part: slice = slice(None)) -> bytes:
    """The chunk's particles (those of ``part``) as JSON array elements joined by commas."""
    names = [v.name for v in variables]
    columns = [column_values(chunk.data[v.name][part], v.fill) for v in variables]
    times = chunk.time[part].tolist()
    numbers = chunk.deployment[part].tolist()
    pks = [{**key_fields, "time": t, "deployment": d} for t, d in zip(times, numbers, strict=True)]
    names.append(PK)
    columns.append(pks)
    particles = [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]
    return orjson.dumps(particles)[1:-1]


def _elements(run: QueryRun) -> Iterator[bytes]:
    key = run.query.primary.key
    key_fields = {name: getattr(key, name) for name in _KEY_FIELDS}
    first = True
    for chunk in run.chunks():
        for start in range(0, len(chunk), ENCODE_RECORDS):
            body = encode_chunk(chunk, run.variables, key_fields, slice(start, start + ENCODE_RECORDS))
            if not body:
                continue
            yield body if first else b"," + body
            first = False


def particle_array(run: QueryRun) -> Iterator[bytes]:
    """The particles as one JSON array, a chunk at a time."""
    yield b"["
    yield from _elements(run)
    yield b"]"


def particle_document(run: QueryRun, trailer: Callable[[], Mapping[str, Any]]) -> Iterator[bytes]:
    """``{"data": [particles...], <trailer keys>}``; ``trailer()`` is called after the last chunk
    (when provenance is complete) and its keys follow ``data``."""
    yield b'{"data":['
    yield from _elements(run)
    rest = orjson.dumps(dict(trailer()), option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS)
    yield b"]" + (b"," + rest[1:] if rest != b"{}" else b"}")
