"""How a DAP product's computed windows are laid out and assembled into the blocks it sends.

* :class:`ProductShape`: the shape of one record, fill and dtype of a computed product;
* :func:`selected_span`: the selected positions of a hyperslab inside one aligned window;
* :func:`expanded`: a window's computed values put back at their record positions;
* :func:`wire_order`: the byte order DAP2 (or DAP4) sends a dtype in, so a block is swapped while it is
  assembled rather than once more by the encoder.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from dap_handlers.dtypes import dap_type


def selected_span(obs: slice, lo: int, hi: int) -> tuple[int, int] | None:
    """First and last-plus-one selected positions of ``obs`` within ``[lo, hi)``, if any."""
    start = max(lo, obs.start)
    if start > obs.start:
        start = obs.start + -(-(start - obs.start) // obs.step) * obs.step
    stop = min(hi, obs.stop)
    if start >= stop:
        return None
    last = obs.start + (stop - 1 - obs.start) // obs.step * obs.step
    return start, last + 1


@dataclass(frozen=True, slots=True)
class ProductShape:
    """How a product's computed values are laid out: the shape of one record, fill and dtype."""

    row_shape: tuple[int, ...]
    fill: Any
    dtype: np.dtype


#: The byte order each protocol sends numbers in: DAP2 big-endian, DAP4 little-endian.
DAP2_ORDER, DAP4_ORDER = ">", "<"


def wire_order(dtype: np.dtype, byte_order: str = DAP2_ORDER) -> np.dtype:
    """``dtype`` in the byte order of the response its blocks are assembled for, so a block is
    byte-swapped (if at all) while it is assembled rather than once more by the encoder: for
    DAP2 (:data:`DAP2_ORDER`) the numbers it sends as they are (4- and 8-byte) big-endian, for
    DAP4 (:data:`DAP4_ORDER`) every number little-endian."""
    if byte_order == DAP4_ORDER:
        return dtype.newbyteorder(DAP4_ORDER) if dtype.kind in "biuf" else dtype
    wire = dap_type(dtype).wire
    if wire is not None and wire.newbyteorder("=") == dtype.newbyteorder("="):
        return wire
    return dtype


def expanded(
    values: np.ndarray, source_index: np.ndarray, length: int, shape: ProductShape
) -> np.ndarray:
    """Computed values put back at their record positions; dropped records get the fill."""
    row_shape, fill, dtype = shape.row_shape, shape.fill, shape.dtype
    values = np.asarray(values)
    if values.dtype != dtype and not (dtype.kind == "U" and values.dtype.kind in "UO"):
        values = values.astype(dtype)
    if row_shape and values.ndim == 1:
        values = np.broadcast_to(values[:, None], (len(values), *row_shape))
    if len(source_index) == length and values.shape[0] == length:
        return values
    out = np.full((length, *row_shape), fill, dtype=values.dtype if dtype.kind == "U" else dtype)
    out[source_index] = values
    return out
