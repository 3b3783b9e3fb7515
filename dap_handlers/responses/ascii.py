"""The ASCII response (``.ascii``/``.asc``): the DDS, a dashed line, then values as text.

Layout (as TDS writes it): for each variable a line ``name[n0][n1]...``, then the values
comma-separated, one line per innermost row prefixed by the leading indices (``[i][j], v, v``),
or all on one line for a 1-D array; a blank line follows each variable. Numbers are written in
full precision (:mod:`dap_handlers.text`), strings quoted and escaped. Works on any hyperslab and
streams block by block.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import closing
from itertools import product

import numpy as np

from dap_handlers.model import DapDataset, DapVariable
from dap_handlers.responses.blocks import DEFAULT_BLOCK_BYTES, row_blocks
from dap_handlers.responses.dds import dds_text
from dap_handlers.text import dap_name, format_float32, format_float64, quote, to_text

SEPARATOR = "-" * 45
#: Text bytes assumed per value when estimating the size of an ASCII response.
TEXT_BYTES_PER_VALUE = 24


def _formatter(variable: DapVariable) -> Callable[[np.ndarray], list[str]]:
    kind, size = variable.dtype.kind, variable.dtype.itemsize
    if variable.is_string:
        return lambda block: [quote(to_text(v)) for v in block.ravel().tolist()]
    if kind == "f" and size == 8:
        return lambda block: [format_float64(v) for v in block.ravel().tolist()]
    if kind == "f":
        return lambda block: [format_float32(v) for v in block.ravel()]
    if kind == "b":
        return lambda block: [str(int(v)) for v in block.ravel().tolist()]
    return lambda block: [str(v) for v in block.ravel().tolist()]


def _variable_lines(variable: DapVariable, block_bytes: int) -> Iterator[str]:
    shape_text = "".join(f"[{n}]" for n in variable.shape)
    yield f"{dap_name(variable.name)}{shape_text}\n"
    fmt = _formatter(variable)
    if variable.ndim <= 1:
        first = True
        with closing(row_blocks(variable, block_bytes)) as blocks:
            for block in blocks:
                values = fmt(block)
                if values:
                    yield ("" if first else ", ") + ", ".join(values)
                    first = False
        yield "\n\n"
        return
    row_length = variable.shape[-1]
    offset = 0
    with closing(row_blocks(variable, block_bytes)) as blocks:
        for block in blocks:
            values = fmt(block)
            lines = []
            leading = product(*(range(n) for n in block.shape[:-1]))
            for i, index in enumerate(leading):
                index = (index[0] + offset, *index[1:])
                prefix = "".join(f"[{k}]" for k in index)
                row = values[i * row_length : (i + 1) * row_length]
                lines.append(prefix + "".join(", " + v for v in row) + "\n")
            offset += block.shape[0]
            yield "".join(lines)
    yield "\n"


def ascii_chunks(dataset: DapDataset, block_bytes: int = DEFAULT_BLOCK_BYTES) -> Iterator[bytes]:
    """The ASCII response as a stream of UTF-8 chunks."""
    yield (dds_text(dataset) + SEPARATOR + "\n").encode("utf-8")
    for variable in dataset.variables:
        for text in _variable_lines(variable, max(1, block_bytes // TEXT_BYTES_PER_VALUE * 8)):
            yield text.encode("utf-8")


def ascii_length_estimate(dataset: DapDataset) -> int:
    """A rough size of the ASCII response, for the size cap."""
    return sum(v.size for v in dataset.variables) * TEXT_BYTES_PER_VALUE
