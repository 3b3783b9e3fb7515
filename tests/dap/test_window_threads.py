"""Reading ahead of the windows being computed: in order, bounded, nothing left running."""

from __future__ import annotations

import threading
import time

import pytest

from dap_handlers.window_threads import read_ahead


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
