"""The longest value of each String variable, for the DAS's ``DODS.strlen`` hint.

netCDF-C reads a DAP2 String array as a char array whose last dimension is 64 characters unless
the DAS gives the variable a ``DODS.strlen`` attribute; without it a longer string is cut to 64 bytes
without a word. The DAS therefore gives every String variable the UTF-8 length of its longest
value (variables of up to :data:`MAX_SCANNED_VALUES` values). Finding it reads the variable
(block by block, bounded memory), so the answer is kept per worker, keyed by the dataset's version (ETag), the variable and the window (its shape and time
coverage): a DAS of an unchanged dataset reads no strings again.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable

import numpy as np

from dap_handlers.model import DapDataset, DapVariable
from dap_handlers.responses.blocks import row_blocks
from dap_handlers.text import to_text

#: Answers kept per worker (each an int: the memory is the keys).
MAX_ENTRIES = 1024
#: Variables with more values are not read for a DAS (reading ten million strings takes tens of
#: seconds); they get no hint, and netCDF-C reads them as 64-byte strings: DAP4, or the DAS of a
#: time window (a dated URL or a selection), gives them whole.
MAX_SCANNED_VALUES = 1_000_000

_cache: OrderedDict[Hashable, int] = OrderedDict()
_lock = threading.Lock()


def _longest_in(block: np.ndarray) -> int:
    if block.dtype.kind == "S":  # bytes are sent as they are: the widest is an upper bound
        return block.dtype.itemsize if block.size else 0
    if block.dtype.kind != "U":
        block = np.array([to_text(v) for v in block.ravel().tolist()], dtype=str)
    text = np.ascontiguousarray(block).ravel()
    if text.size == 0 or text.dtype.itemsize == 0:
        return 0
    codes = text.view(np.uint32).reshape(text.size, -1)
    wide = (codes >= 0x80).any(axis=1)  # ASCII needs one byte a character: count characters
    longest = int(np.strings.str_len(text[~wide]).max()) if not wide.all() else 0
    if wide.any():
        longest = max(longest, max(len(str(v).encode("utf-8")) for v in text[wide]))
    return longest


def longest_utf8(variable: DapVariable, block_bytes: int) -> int:
    """Bytes of the longest value of a String variable, UTF-8 encoded (0 when it has none)."""
    return max((_longest_in(block) for block in row_blocks(variable, block_bytes)), default=0)


def string_lengths(dataset: DapDataset, version: str | None, block_bytes: int) -> dict[str, int]:
    """Each String variable's longest UTF-8 length (those of up to :data:`MAX_SCANNED_VALUES`
    values); remembered per ``version`` when given."""
    window = (dataset.attributes.get("time_coverage_start"),
              dataset.attributes.get("time_coverage_end"))
    lengths = {}
    for variable in dataset.variables:
        if not variable.is_string or variable.size > MAX_SCANNED_VALUES:
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
