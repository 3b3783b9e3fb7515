"""Working ahead of the item taken: in order, bounded, nothing left running."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from dap_handlers.window_threads import ahead, done


class Reads:
    """Work that takes a while and records what was started, what is running and the most at once."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.started: list[int] = []
        self.running = 0
        self.most = 0
        self.lock = threading.Lock()
        self.fail_at = fail_at

    def __call__(self, item: int) -> int:
        with self.lock:
            self.started.append(item)
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            time.sleep(0.01)
            if item == self.fail_at:
                raise OSError(f"read {item} failed")
            return item * 10
        finally:
            with self.lock:
                self.running -= 1


@pytest.fixture
def pool():
    with ThreadPoolExecutor(4) as executor:
        yield executor


def test_items_come_in_order_at_most_depth_ahead(pool):
    reads = Reads()
    taken = []
    for item, value in ahead(lambda i: pool.submit(reads, i), range(20), depth=2):
        assert value == item * 10
        assert len(reads.started) <= item + 1 + 2  # never more than two beyond the one taken
        taken.append(item)
    assert taken == list(range(20)) and sorted(reads.started) == list(range(20))
    assert reads.most <= 2


def test_depth_one_works_on_one_item_at_a_time_at_most_one_ahead(pool):
    reads = Reads()
    for item, value in ahead(lambda i: pool.submit(reads, i), range(8), depth=1):
        assert value == item * 10
        time.sleep(0.015)  # the caller uses the item while the next one is worked on
        assert reads.started == list(range(min(item + 2, 8)))  # this one and the next, no more
    assert reads.most == 1 and reads.running == 0
    assert list(ahead(lambda i: pool.submit(reads, i), [], depth=1)) == []


def test_items_are_drawn_on_the_caller_s_thread_and_done_ones_run_nowhere(pool):
    drawn_on = set()
    reads = Reads()

    def items():
        for item in range(10):
            drawn_on.add(threading.get_ident())
            yield item

    def start(item: int):  # even items were found (a cache), odd ones are worked on
        return done(-item) if item % 2 == 0 else pool.submit(reads, item)

    got = list(ahead(start, items(), depth=3))
    assert got == [(i, -i if i % 2 == 0 else i * 10) for i in range(10)]
    assert drawn_on == {threading.get_ident()}
    assert sorted(reads.started) == [1, 3, 5, 7, 9]


def test_nothing_runs_after_the_caller_stops_or_an_item_fails(pool):
    reads = Reads()
    stream = ahead(lambda i: pool.submit(reads, i), range(50), depth=3)
    assert [next(stream) for _ in range(2)] == [(0, 0), (1, 10)]
    stream.close()  # the response ended early: what was started ahead is cancelled or waited for
    assert reads.running == 0
    assert len(reads.started) <= 5
    time.sleep(0.03)
    assert len(reads.started) <= 5 and reads.running == 0  # and nothing starts later
    failing = Reads(fail_at=4)
    taken = []
    with pytest.raises(OSError, match="read 4 failed"):
        for item, _ in ahead(lambda i: pool.submit(failing, i), range(50), depth=2):
            taken.append(item)
    assert taken == [0, 1, 2, 3]  # everything before the failure was handed out
    assert failing.running == 0 and len(failing.started) <= 6
    dropped = Reads(fail_at=1)  # fails ahead, but the caller stops before asking for it
    stream = ahead(lambda i: pool.submit(dropped, i), range(50), depth=1)
    assert next(stream) == (0, 0)
    time.sleep(0.03)
    stream.close()
    assert dropped.started == [0, 1] and dropped.running == 0  # its failure is dropped
