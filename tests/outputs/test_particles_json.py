"""The particle encoder: missing values become null through missing_mask, whatever the dtype."""

from __future__ import annotations

import numpy as np
import orjson

from stream_engine.engine.query_run import OutputVariable, QueryChunk
from stream_engine.outputs.particles import column_values, encode_chunk
from stream_engine.preload.fill_values import fill_value_for
from stream_engine.store.base import StreamKey

KEY = StreamKey("CE04OSPS", "SF01B", "4A-NUTNRA102", "streamed", "nutnr_a_sample")


def test_each_dtypes_missing_marker_becomes_none():
    fill = fill_value_for("int32", "-9999999")
    assert column_values(np.array([1, -9999999, 3], np.int32), fill) == [1, None, 3]
    assert column_values(np.array([1.5, np.nan], np.float32), np.float32(np.nan)) == [1.5, None]
    assert column_values(np.array(["a", ""]), np.str_("")) == ["a", None]
    assert column_values(np.array([True, False]), np.bool_(False)) == [True, False]
    spectra = np.array([[1, 65535], [2, 3]], np.uint16)
    assert column_values(spectra, fill_value_for("uint16", "")) == [[1, None], [2, 3]]


def test_a_chunk_encodes_to_particles_with_a_pk_block():
    variables = [OutputVariable("time", KEY, None, "time", np.nan),
                 OutputVariable("counts", KEY, None, "counts", np.int32(-1))]
    chunk = QueryChunk({"time": np.array([10.0, 11.0, 12.0]), "deployment": np.array([2, 2, 3], np.int32),
                        "counts": np.array([5, -1, 7], np.int32)})
    pk = {"subsite": KEY.subsite}
    encoded = encode_chunk(chunk, variables, pk, slice(1, None))
    assert orjson.loads(b"[" + encoded + b"]") == [
        {"time": 11.0, "counts": None, "pk": {"subsite": "CE04OSPS", "time": 11.0, "deployment": 2}},
        {"time": 12.0, "counts": 7, "pk": {"subsite": "CE04OSPS", "time": 12.0, "deployment": 3}},
    ]
