"""With two compute threads a computed product's windows are computed on the compute pool in
order across blocks, so the next block's windows are computed while the current one is sent (with
one, one block after the other, the next block's store reads going on while one is sent): same
values, in order, at most one block ahead, nothing still computing or reading once the response is
closed (client gone, failure), a failed first block still an HTTP error."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from stream_servers import assert_same, engine_values

from dap_handlers.app import handle_dap
from dap_handlers.dap4.service import handle_dap4
from dap_handlers.stream_dataset import stream_dataset
from dap_handlers.window_work import WindowWork
from stream_engine import demo
from stream_engine.store.embedded import EmbeddedStore

CTD_RECORDS = 40320
WINDOW_RECORDS = 2048
#: 8192 records of Float32 per block: the demo CTD's salinity is sent in 5 blocks of 4 windows.
BLOCK_RECORDS = 8192
BLOCKS = -(-CTD_RECORDS // BLOCK_RECORDS)
SALINITY = "sea_water_practical_salinity"


@pytest.fixture(scope="module")
def own_store(tmp_path_factory, curated):
    with EmbeddedStore(tmp_path_factory.mktemp("dap_ahead")) as store:
        demo.fill_demo(store, curated)
        yield store


class Windows:
    """Records each window as it is computed (:meth:`WindowWork.values`), slowly (the last window
    of each block four times slower), and can fail the windows of one block: which windows
    started (first records), the blocks they belong to, what is running, the most running at
    once, and how many windows started while one of an earlier block still ran."""

    def __init__(self, monkeypatch, fail_block: int | None = None, delay: float = 0.01) -> None:
        self.started: list[int] = []
        self.running = 0
        self.most = 0
        self.across_blocks = 0
        self.lock = threading.Lock()
        running: set[int] = set()
        original = WindowWork.values
        windows = self

        def values(work, span, columns):
            block = span[0] // BLOCK_RECORDS
            with windows.lock:
                windows.started.append(span[0])
                windows.running += 1
                windows.most = max(windows.most, windows.running)
                windows.across_blocks += any(other // BLOCK_RECORDS < block for other in running)
                running.add(span[0])
            try:
                last = span[0] % BLOCK_RECORDS == BLOCK_RECORDS - WINDOW_RECORDS
                time.sleep(delay * (4 if last else 1))
                if span[0] // BLOCK_RECORDS == fail_block:
                    raise OSError(f"block {fail_block} could not be read")
                return original(work, span, columns)
            finally:
                with windows.lock:
                    windows.running -= 1
                    running.discard(span[0])

        monkeypatch.setattr(WindowWork, "values", values)

    @property
    def blocks(self) -> list[int]:
        """The blocks of the windows started, each once, in the order their first window started."""
        return list(dict.fromkeys(start // BLOCK_RECORDS for start in self.started))

    def wait_for(self, condition, seconds: float = 5.0) -> bool:
        deadline = time.monotonic() + seconds
        while not condition() and time.monotonic() < deadline:
            time.sleep(0.002)
        return condition()


def _dataset(store, curated, engine_settings, threads: int):
    settings = engine_settings.replace(DAP_COMPUTE_RECORDS=WINDOW_RECORDS, DAP_CACHE_BYTES=0,
                                       DAP_COMPUTE_THREADS=threads)
    return stream_dataset(store, curated, demo.CTD, settings=settings, projection={SALINITY})


def _dods(dataset, **options):
    return handle_dap(dataset, "dods", SALINITY, max_response_bytes=10**9,
                      block_bytes=BLOCK_RECORDS * 4, **options)


@pytest.mark.parametrize("threads", [1, 2])
def test_blocks_come_in_order_at_most_one_ahead_with_the_engine_s_values(own_store, curated, engine_settings,
                                                                         monkeypatch, threads):
    windows = Windows(monkeypatch)
    answer = _dods(_dataset(own_store, curated, engine_settings, threads))
    assert answer.status == 200
    taken = []
    for chunk in answer.body_iter:
        taken.append(chunk)
        block = len(taken) - 3  # the header and the count words come first
        if block >= 0:  # the block handed out, and with 2 threads the next one: no more
            assert max(windows.blocks) <= block + (threads > 1)
            if threads > 1 and block + 1 < BLOCKS:  # the pool goes on with the next block meanwhile
                assert windows.wait_for(lambda following=block + 1: following in windows.blocks)
    body = b"".join(taken)
    data = body[body.index(b"Data:\n") + 6:]
    assert np.frombuffer(data[:8], ">u4").tolist() == [CTD_RECORDS, CTD_RECORDS]
    expected = engine_values(own_store, curated, engine_settings, demo.CTD)["practical_salinity"]
    assert_same(np.frombuffer(data[8:], ">f4"), expected, "salinity")
    assert sorted(windows.started) == list(range(0, CTD_RECORDS, WINDOW_RECORDS))  # each window once
    assert windows.blocks == list(range(BLOCKS))
    assert windows.most == threads and windows.running == 0
    # 2 threads: while a block's (slow) last window runs, the other thread goes on with the next
    # block instead of waiting for the block to be handed out
    assert (windows.across_blocks > 0) == (threads > 1)


def test_one_compute_thread_computes_one_block_after_the_other(own_store, curated, engine_settings,
                                                               monkeypatch):
    windows = Windows(monkeypatch, delay=0.02)
    answer = _dods(_dataset(own_store, curated, engine_settings, 1))
    chunks = iter(answer.body_iter)
    for _ in range(4):  # header, count words, block 0, block 1
        next(chunks)
    time.sleep(0.1)
    assert windows.blocks == [0, 1] and windows.running == 0
    answer.body_iter.close()
    assert windows.blocks == [0, 1]


class Reads:
    """Records the compiled chain's reads of each window (:meth:`WindowWork.read`, on the reader
    threads with one compute thread): the first records of the windows read, and how many run."""

    def __init__(self, monkeypatch) -> None:
        self.started: list[int] = []
        self.running = 0
        self.lock = threading.Lock()
        original = WindowWork.read
        reads = self

        def read(work, span):
            with reads.lock:
                reads.started.append(span[0])
                reads.running += 1
            try:
                time.sleep(0.005)
                return original(work, span)
            finally:
                with reads.lock:
                    reads.running -= 1

        monkeypatch.setattr(WindowWork, "read", read)

    @property
    def blocks(self) -> set[int]:
        with self.lock:
            return {start // BLOCK_RECORDS for start in self.started}


def test_one_compute_thread_reads_the_next_block_while_one_is_sent(own_store, curated, engine_settings,
                                                                   monkeypatch):
    """With one compute thread the windows are computed as their block is taken, but the store
    reads go on across blocks: while a block is sent, the next block's first windows are read
    (at most one block ahead), and nothing reads once the client has gone."""
    windows = Windows(monkeypatch)
    reads = Reads(monkeypatch)
    answer = _dods(_dataset(own_store, curated, engine_settings, 1))
    chunks = iter(answer.body_iter)
    next(chunks), next(chunks)  # the header and the count words
    for block in range(BLOCKS - 1):
        assert len(next(chunks)) == BLOCK_RECORDS * 4
        assert max(windows.blocks) == block  # computed: only the blocks taken
        assert max(reads.blocks) <= block + 1  # read: at most the next block
        assert windows.wait_for(lambda following=block + 1: following in reads.blocks)
    answer.body_iter.close()
    assert reads.running == 0 and windows.running == 0
    started = list(reads.started)
    time.sleep(0.05)
    assert reads.started == started and reads.running == 0  # nothing read after the close
    assert len(set(started)) == len(started)  # each window read once, up to the last block's first two
    last = (BLOCKS - 1) * BLOCK_RECORDS
    assert set(range(0, last, WINDOW_RECORDS)) <= set(started) <= set(range(0, last + 2 * WINDOW_RECORDS,
                                                                             WINDOW_RECORDS))


def test_a_closed_response_leaves_nothing_computing(own_store, curated, engine_settings, monkeypatch):
    """The client goes away after the first two blocks: the windows computed ahead are cancelled
    or waited for when the body is closed (before the web layer ends the snapshot)."""
    windows = Windows(monkeypatch, delay=0.05)
    answer = _dods(_dataset(own_store, curated, engine_settings, 2))
    chunks = iter(answer.body_iter)
    for _ in range(4):  # header, count words, block 0, block 1
        next(chunks)
    assert windows.wait_for(lambda: windows.running > 0 and 2 in windows.blocks)  # block 2 goes ahead
    answer.body_iter.close()
    assert windows.running == 0
    started = list(windows.started)
    time.sleep(0.15)
    assert windows.started == started and windows.running == 0  # nothing started after the close
    assert windows.blocks == [0, 1, 2]


@pytest.mark.parametrize("threads", [1, 2])
def test_a_failed_first_block_is_a_dap_error(own_store, curated, engine_settings, monkeypatch, threads):
    windows = Windows(monkeypatch, fail_block=0)
    answer = _dods(_dataset(own_store, curated, engine_settings, threads))
    assert answer.status == 500
    assert b"Error {" in b"".join(answer.body_iter)
    assert windows.running == 0
    if threads == 1:  # nothing went beyond the failure
        assert windows.started == [0]
    else:  # nothing beyond the next block
        assert max(windows.blocks) <= 1


@pytest.mark.parametrize("threads", [1, 2])
def test_a_block_failing_ahead_ends_the_body_and_nothing_runs_after(own_store, curated, engine_settings,
                                                                    monkeypatch, threads):
    """A block computed ahead that fails: the blocks before it are sent whole, then DAP2 cuts
    the body (logged; the declared length tells the client) and DAP4 ends with an error chunk."""
    windows = Windows(monkeypatch, fail_block=2)
    answer = _dods(_dataset(own_store, curated, engine_settings, threads))
    assert answer.status == 200
    sent = []
    with pytest.raises(OSError, match="block 2 could not be read"):
        for chunk in answer.body_iter:
            sent.append(chunk)
    assert [len(c) for c in sent[2:]] == [BLOCK_RECORDS * 4] * 2
    assert windows.running == 0
    assert windows.blocks == [0, 1, 2] if threads == 1 else max(windows.blocks) <= 3
    windows.started.clear()
    dap4 = handle_dap4(_dataset(own_store, curated, engine_settings, threads), "dap",
                       f"dap4.ce={SALINITY}", max_response_bytes=10**9, dataset_url="http://x/ctd",
                       block_bytes=BLOCK_RECORDS * 4)
    assert dap4.status == 200
    body = b"".join(dap4.body_iter)
    assert b"the data could not be read completely: OSError" in body[-400:]
    assert windows.running == 0 and max(windows.blocks) <= 2 + (threads > 1)
