"""Reading ahead of the windows being computed: in order, bounded, nothing left running."""

from __future__ import annotations

import threading
import time

import pytest

from dap_handlers.window_threads import one_ahead, read_ahead


class Reads:
    """A read that takes a while and records what was started and what is running."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.started: list[int] = []
        self.running = 0
        self.lock = threading.Lock()
        self.fail_at = fail_at

    def __call__(self, item: int) -> int:
        with self.lock:
            self.started.append(item)
            self.running += 1
        try:
            time.sleep(0.01)
            if item == self.fail_at:
                raise OSError(f"read {item} failed")
            return item * 10
        finally:
            with self.lock:
                self.running -= 1


def test_reads_come_in_order_at_most_depth_ahead():
    reads = Reads()
    taken = []
    for item, value in read_ahead(reads, range(20), depth=2):
        assert value == item * 10
        assert len(reads.started) <= item + 1 + 2  # never more than two reads beyond the one taken
        taken.append(item)
    assert taken == list(range(20)) and sorted(reads.started) == list(range(20))


def test_nothing_reads_after_the_caller_stops_or_a_read_fails():
    reads = Reads()
    ahead = read_ahead(reads, range(50), depth=3)
    assert [next(ahead) for _ in range(2)] == [(0, 0), (1, 10)]
    ahead.close()  # the response ended early: pending reads are cancelled or waited for
    assert reads.running == 0
    assert len(reads.started) <= 6
    failing = Reads(fail_at=4)
    with pytest.raises(OSError, match="read 4 failed"):
        for _ in read_ahead(failing, range(50), depth=2):
            pass
    assert failing.running == 0 and len(failing.started) <= 8


def test_one_ahead_works_on_one_item_at_a_time_at_most_one_ahead():
    reads = Reads()
    taken = []
    for item, value in one_ahead(reads, range(8)):
        assert value == item * 10
        time.sleep(0.015)  # the caller uses the item while the next one is worked on
        assert reads.started == list(range(min(item + 2, 8)))  # this one and the next, no more
        taken.append(item)
    assert taken == list(range(8)) and reads.running == 0
    assert list(one_ahead(reads, [])) == []


def test_one_ahead_stops_when_the_caller_stops_or_an_item_fails():
    reads = Reads()
    ahead = one_ahead(reads, range(50))
    assert [next(ahead) for _ in range(2)] == [(0, 0), (1, 10)]
    ahead.close()  # the client went away: the item ahead is cancelled or waited for
    assert reads.running == 0 and reads.started in ([0, 1], [0, 1, 2])  # cancelled, or waited for
    failing = Reads(fail_at=3)
    taken = []
    with pytest.raises(OSError, match="read 3 failed"):
        for item, _ in one_ahead(failing, range(50)):
            taken.append(item)
    assert taken == [0, 1, 2] and failing.started == [0, 1, 2, 3] and failing.running == 0
    dropped = Reads(fail_at=1)  # fails ahead, but the caller stops before asking for it
    ahead = one_ahead(dropped, range(50))
    assert next(ahead) == (0, 0)
    ahead.close()
    assert dropped.started in ([0], [0, 1]) and dropped.running == 0  # its failure is dropped
