"""With two compute threads a computed product's next block is computed while the current one is
sent (with one, one block after the other): same values, in order, at most one block ahead,
nothing still computing once the response is closed (client gone, failure), a failed first block
still an HTTP error."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from stream_servers import assert_same, engine_values

from dap_handlers.app import handle_dap
from dap_handlers.dap4.service import handle_dap4
from dap_handlers.stream_dataset import stream_dataset
from dap_handlers.stream_reads import StreamReads
from stream_engine import demo
from stream_engine.store.embedded import EmbeddedStore

CTD_RECORDS = 40320
WINDOW_RECORDS = 2048
#: 8192 records of Float32 per block: the demo CTD's salinity is sent in 5 blocks.
BLOCK_RECORDS = 8192
SALINITY = "sea_water_practical_salinity"


@pytest.fixture(scope="module")
def own_store(tmp_path_factory, curated):
    with EmbeddedStore(tmp_path_factory.mktemp("dap_ahead")) as store:
        demo.fill_demo(store, curated)
        yield store


class Blocks:
    """Records each block's windows as they are computed (``StreamReads._windows``), slowly, and
    can fail one: what started, what is running, the most running at once."""

    def __init__(self, monkeypatch, fail_block: int | None = None, delay: float = 0.02) -> None:
        self.started: list[int] = []
        self.running = 0
        self.most = 0
        self.lock = threading.Lock()
        original = StreamReads._windows
        blocks = self

        def windows(reads, name, others, plan_of, spans):
            block = spans[0][0] // BLOCK_RECORDS if spans else -1
            with blocks.lock:
                blocks.started.append(block)
                blocks.running += 1
                blocks.most = max(blocks.most, blocks.running)
            try:
                time.sleep(delay)
                if block == fail_block:
                    raise OSError(f"block {block} could not be read")
                return original(reads, name, others, plan_of, spans)
            finally:
                with blocks.lock:
                    blocks.running -= 1

        monkeypatch.setattr(StreamReads, "_windows", windows)


def _dataset(store, curated, engine_settings, threads: int):
    settings = engine_settings.replace(DAP_COMPUTE_RECORDS=WINDOW_RECORDS, DAP_CACHE_BYTES=0,
                                       DAP_COMPUTE_THREADS=threads)
    return stream_dataset(store, curated, demo.CTD, settings=settings, projection={SALINITY})


def _dods(dataset, **options):
    return handle_dap(dataset, "dods", SALINITY, max_response_bytes=10**9,
                      block_bytes=BLOCK_RECORDS * 4, **options)


@pytest.mark.parametrize("threads", [1, 2])
def test_blocks_come_in_order_one_ahead_with_the_engine_s_values(own_store, curated, engine_settings,
                                                                 monkeypatch, threads):
    blocks = Blocks(monkeypatch)
    answer = _dods(_dataset(own_store, curated, engine_settings, threads))
    assert answer.status == 200
    taken = []
    for chunk in answer.body_iter:
        taken.append(chunk)
        values = len(taken) - 2  # the header and the count words come first
        if values >= 1:  # the block handed out and at most the next one were started
            assert len(blocks.started) <= values + 1
    body = b"".join(taken)
    data = body[body.index(b"Data:\n") + 6:]
    assert np.frombuffer(data[:8], ">u4").tolist() == [CTD_RECORDS, CTD_RECORDS]
    expected = engine_values(own_store, curated, engine_settings, demo.CTD)["practical_salinity"]
    assert_same(np.frombuffer(data[8:], ">f4"), expected, "salinity")
    assert blocks.started == list(range(-(-CTD_RECORDS // BLOCK_RECORDS)))
    assert blocks.most == 1 and blocks.running == 0  # one block at a time, computed ahead


def test_one_compute_thread_computes_one_block_after_the_other(own_store, curated, engine_settings,
                                                               monkeypatch):
    blocks = Blocks(monkeypatch, delay=0.05)
    answer = _dods(_dataset(own_store, curated, engine_settings, 1))
    chunks = iter(answer.body_iter)
    for _ in range(4):  # header, count words, block 0, block 1
        next(chunks)
    time.sleep(0.1)
    assert blocks.started == [0, 1] and blocks.running == 0
    answer.body_iter.close()
    assert blocks.started == [0, 1]


def test_a_closed_response_leaves_nothing_computing(own_store, curated, engine_settings, monkeypatch):
    """The client goes away after the first two blocks: the block being computed ahead is
    cancelled or waited for when the body is closed (before the web layer ends the snapshot)."""
    blocks = Blocks(monkeypatch, delay=0.1)
    answer = _dods(_dataset(own_store, curated, engine_settings, 2))
    chunks = iter(answer.body_iter)
    for _ in range(4):  # header, count words, block 0, block 1
        next(chunks)
    deadline = time.monotonic() + 5
    while blocks.running == 0 and time.monotonic() < deadline:  # block 2 starts ahead
        time.sleep(0.005)
    assert blocks.running == 1
    answer.body_iter.close()
    assert blocks.running == 0
    time.sleep(0.15)
    assert blocks.started == [0, 1, 2] and blocks.running == 0


def test_a_failed_first_block_is_a_dap_error(own_store, curated, engine_settings, monkeypatch):
    blocks = Blocks(monkeypatch, fail_block=0)
    answer = _dods(_dataset(own_store, curated, engine_settings, 1))
    assert answer.status == 500
    assert b"Error {" in b"".join(answer.body_iter)
    assert blocks.started == [0] and blocks.running == 0  # nothing went ahead of the failure


@pytest.mark.parametrize("threads", [1, 2])
def test_a_block_failing_ahead_ends_the_body_and_nothing_runs_after(own_store, curated, engine_settings,
                                                                    monkeypatch, threads):
    """A block computed ahead that fails: the blocks before it are sent whole, then DAP2 cuts
    the body (logged; the declared length tells the client) and DAP4 ends with an error chunk."""
    blocks = Blocks(monkeypatch, fail_block=2)
    answer = _dods(_dataset(own_store, curated, engine_settings, threads))
    assert answer.status == 200
    sent = []
    with pytest.raises(OSError, match="block 2 could not be read"):
        for chunk in answer.body_iter:
            sent.append(chunk)
    assert [len(c) for c in sent[2:]] == [BLOCK_RECORDS * 4] * 2
    assert blocks.started == [0, 1, 2] and blocks.running == 0
    blocks.started.clear()
    dap4 = handle_dap4(_dataset(own_store, curated, engine_settings, threads), "dap",
                       f"dap4.ce={SALINITY}", max_response_bytes=10**9, dataset_url="http://x/ctd",
                       block_bytes=BLOCK_RECORDS * 4)
    assert dap4.status == 200
    body = b"".join(dap4.body_iter)
    assert b"the data could not be read completely: OSError" in body[-400:]
    assert blocks.started == [0, 1, 2] and blocks.running == 0
