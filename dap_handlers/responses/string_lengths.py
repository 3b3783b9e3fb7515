"""The longest value of each String variable, for the DAS's ``DODS.strlen`` hint.

netCDF-C reads a DAP2 String array as a char array whose last dimension is 64 characters unless
the DAS gives the variable a ``DODS.strlen`` attribute; without it a longer string is cut to 64 bytes
without a word. The DAS therefore gives every String variable the UTF-8 length of its longest
value. Finding it reads the variable (block by block, bounded memory), so the answer is kept per
worker, keyed by the dataset's version (ETag), the variable and the window (its shape and time
coverage): a DAS of an unchanged dataset reads no strings again.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable

import numpy as np

from dap_handlers.model import DapDataset, DapVariable
from dap_handlers.responses.blocks import row_blocks

#: Answers kept per worker (each an int: the memory is the keys).
MAX_ENTRIES = 1024

_cache: OrderedDict[Hashable, int] = OrderedDict()
_lock = threading.Lock()


def longest_utf8(variable: DapVariable, block_bytes: int) -> int:
    """Bytes of the longest value of a String variable, UTF-8 encoded (0 when it has none)."""
    longest = 0
    for block in row_blocks(variable, block_bytes):
        if block.size == 0:
            continue
        text = block if block.dtype.kind == "U" else block.astype(str)
        longest = max(longest, np.strings.encode(text, "utf-8").dtype.itemsize)
    return longest


def string_lengths(dataset: DapDataset, version: str | None, block_bytes: int) -> dict[str, int]:
    """Each String variable's longest UTF-8 length; remembered per ``version`` when given."""
    window = (dataset.attributes.get("time_coverage_start"),
              dataset.attributes.get("time_coverage_end"))
    lengths = {}
    for variable in dataset.variables:
        if not variable.is_string:
            continue
        key = (version, dataset.name, variable.name, variable.shape, window)
        with _lock:
            known = _cache.get(key) if version is not None else None
            if known is not None:
                _cache.move_to_end(key)
        if known is None:
            known = longest_utf8(variable, block_bytes)
            if version is not None:
                with _lock:
                    _cache[key] = known
                    while len(_cache) > MAX_ENTRIES:
                        _cache.popitem(last=False)
        lengths[variable.name] = known
    return lengths
