"""A 2 GB virtual variable streams in bounded blocks with bounded memory."""

from __future__ import annotations

import tracemalloc

import numpy as np

from dap_handlers.app import handle_dap
from dap_handlers.model import BlockReader, DapDataset, DapVariable
from dap_handlers.responses.dods import dods_chunks, dods_length, header_bytes

N_VALUES = 2 * 2**30 // 8  # 2 GiB of float64
BLOCK = 4 * 2**20


def virtual_dataset(reads: list[slice]) -> DapDataset:
    def reader(key):
        reads.append(key[0])
        return np.arange(key[0].start, key[0].stop, key[0].step, dtype="f8")

    return DapDataset("big", [DapVariable("values", "f8", (N_VALUES,), ("obs",), reader)])


def test_two_gigabyte_dods_streams_in_blocks_with_small_memory():
    reads: list[slice] = []
    dataset = virtual_dataset(reads)
    header = header_bytes(dataset)
    expected_length = len(header) + 8 + N_VALUES * 8
    assert dods_length(dataset) == expected_length

    tracemalloc.start()
    try:
        total, chunks, largest = 0, 0, 0
        first_values = last_values = None
        for chunk in dods_chunks(dataset, block_bytes=BLOCK):
            if chunks == 2:
                first_values = np.frombuffer(chunk, ">f8", 4)
            total += len(chunk)
            chunks += 1
            largest = max(largest, len(chunk))
            last_values = chunk[-16:]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert total == expected_length
    assert chunks >= 512  # 2 GiB / 4 MiB, plus header and count words
    assert largest <= BLOCK
    assert peak < 8 * BLOCK, f"peak traced memory {peak / 2**20:.1f} MiB"
    assert len(reads) == N_VALUES * 8 // BLOCK
    assert all(s.stop - s.start <= BLOCK // 8 for s in reads)
    np.testing.assert_array_equal(first_values, [0.0, 1.0, 2.0, 3.0])
    np.testing.assert_array_equal(np.frombuffer(last_values, ">f8"), [N_VALUES - 2, N_VALUES - 1])


def test_strided_hyperslab_of_a_virtual_variable_reads_only_what_is_asked():
    reads: list[slice] = []
    dataset = virtual_dataset(reads)
    response = handle_dap(
        dataset, "dods", "values[1000:1000000:200000000]", max_response_bytes=10**6
    )
    body = b"".join(response.body_iter)
    assert reads == [slice(1000, 199_001_001, 1_000_000)]
    values = np.frombuffer(body.partition(b"Data:\n")[2][8:], ">f8")
    np.testing.assert_array_equal(values, np.arange(1000, 200_000_001, 1_000_000))
    assert int(response.header("Content-Length")) == len(body)


def test_a_variable_s_block_rows_bounds_its_blocks_through_subsets():
    """A stored column asks for blocks of at most ``block_rows`` rows (the store's chunk size);
    a constrained (subset) view keeps the bound, and the bytes are the same as with one block."""
    reads: list[slice] = []

    def reader(key):
        reads.append(key[0])
        return np.arange(key[0].start, key[0].stop, key[0].step, dtype="f4")

    variable = DapVariable("v", "f4", (10_000,), ("obs",), reader, block_rows=1000)
    dataset = DapDataset("d", [variable])
    body = b"".join(dods_chunks(dataset, block_bytes=BLOCK))
    assert len(reads) == 10 and all(s.stop - s.start == 1000 for s in reads)
    np.testing.assert_array_equal(np.frombuffer(body.partition(b"Data:\n")[2][8:], ">f4"), np.arange(10_000))
    reads.clear()
    response = handle_dap(dataset, "dods", "v[500:2:8499]", max_response_bytes=10**6)
    sliced = b"".join(response.body_iter)
    assert len(reads) == 4 and reads[0] == slice(500, 2499, 2)
    np.testing.assert_array_equal(np.frombuffer(sliced.partition(b"Data:\n")[2][8:], ">f4"),
                                  np.arange(500, 8500, 2))


def test_a_block_reader_gets_a_response_s_blocks_at_once_through_subsets_and_is_closed():
    """A reader offering ``blocks(keys)`` is given every block of a variable in one call (keys
    composed through a constrained subset), its blocks are checked as single reads are, and the
    response's body closes it when closed early."""
    calls: list[list[slice]] = []
    closed: list[bool] = []

    def blocks(keys):
        calls.append([key[0] for key in keys])
        try:
            for key in keys:
                yield np.arange(key[0].start, key[0].stop, key[0].step, dtype="f4")
        finally:
            closed.append(True)

    reader = BlockReader(lambda key: np.arange(key[0].start, key[0].stop, key[0].step, dtype="f4"), blocks)
    dataset = DapDataset("d", [DapVariable("v", "f4", (10_000,), ("obs",), reader, block_rows=1000)])
    response = handle_dap(dataset, "dods", "v[500:2:8499]", max_response_bytes=10**6)
    body = b"".join(response.body_iter)
    assert calls == [[slice(500 + 2000 * i, min(8499, 2499 + 2000 * i), 2) for i in range(4)]]
    assert closed == [True]
    np.testing.assert_array_equal(np.frombuffer(body.partition(b"Data:\n")[2][8:], ">f4"),
                                  np.arange(500, 8500, 2))
    calls.clear()
    closed.clear()
    response = handle_dap(dataset, "dods", "v", max_response_bytes=10**6)
    chunks = iter(response.body_iter)
    next(chunks)
    response.body_iter.close()  # the client went away after the first block
    assert len(calls) == 1 and closed == [True]
    wrong = BlockReader(reader, lambda keys: (np.zeros(3, "f4") for _ in keys))
    bad = DapDataset("d", [DapVariable("v", "f4", (10,), ("obs",), wrong)])
    assert handle_dap(bad, "dods", "v", max_response_bytes=10**6).status == 500
