"""The DAS's ``DODS.strlen`` hint: each String variable's longest UTF-8 length, read once per
dataset version, left out for variables too large to read for a DAS."""

from __future__ import annotations

import numpy as np

from dap_handlers.model import DapDataset, DapVariable
from dap_handlers.responses import string_lengths as lengths_module
from dap_handlers.responses.das import das_text
from dap_handlers.responses.string_lengths import string_lengths

VALUES = np.array(["a" * 70, "dé" * 40, "", "plain"], dtype=object)  # "dé" is 3 bytes


def _dataset(reads: list[int]) -> DapDataset:
    def reader(key):
        reads.append(1)
        return VALUES[key]

    return DapDataset("s", [
        DapVariable("label", object, (4,), ("obs",), reader),
        DapVariable.from_array("x", np.arange(4.0), ["obs"]),
    ])


def test_longest_is_counted_in_utf8_bytes_and_written_to_the_das():
    reads: list[int] = []
    dataset = _dataset(reads)
    found = string_lengths(dataset, "version-a", 1024)
    assert found == {"label": 120}
    text = das_text(dataset, found)
    assert "Int32 DODS.strlen 120;" in text
    assert "DODS.strlen" not in das_text(dataset)


def test_read_once_per_version_and_window():
    reads: list[int] = []
    dataset = _dataset(reads)
    string_lengths(dataset, "version-b", 1024)
    count = len(reads)
    assert count > 0
    string_lengths(dataset, "version-b", 1024)
    assert len(reads) == count
    string_lengths(dataset, "version-c", 1024)  # the data changed: read again
    assert len(reads) == 2 * count
    window = dataset.replace_variables([dataset["label"].subset(slice(2, 4))])
    assert string_lengths(window, "version-c", 1024) == {"label": 5}


def test_variables_too_large_get_no_hint(monkeypatch):
    monkeypatch.setattr(lengths_module, "MAX_SCANNED_VALUES", 3)
    reads: list[int] = []
    assert string_lengths(_dataset(reads), None, 1024) == {}
    assert reads == []
