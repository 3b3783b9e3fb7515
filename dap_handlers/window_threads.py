"""The threads that compute a DAP request's product windows, and the one that reads ahead.

* :func:`compute_pool`: the process's pool of window-computing threads (``DAP_COMPUTE_THREADS``),
  shared by requests, so it bounds them.
* :func:`read_ahead`: the store reads of upcoming windows, done on a reader thread a few windows
  ahead of the windows being computed, so reading (which waits on the store and, for the
  embedded store, on its snapshot's connection) overlaps computing instead of adding to it. Reads
  still go through the request's one snapshot; none is left running when the iterator ends, is
  closed or fails.
* :func:`one_ahead`: the next block of a response computed on a thread of the process's "ahead"
  pool while the caller assembles, encodes and sends the current one: at most one block ahead,
  and none still running once the caller is done (it is cancelled or waited for).
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any, TypeVar

_S = TypeVar("_S")
_R = TypeVar("_R")

_POOLS: dict[str, tuple[int, int, ThreadPoolExecutor]] = {}
_POOLS_LOCK = threading.Lock()
#: Threads reading ahead for all requests of a process.
READ_THREADS = 2
#: Threads computing the next block of a response for all requests of a process (a request
#: holds at most one; a request finding them all busy waits for one).
AHEAD_THREADS = 4


def _named_pool(name: str, threads: int) -> ThreadPoolExecutor:
    with _POOLS_LOCK:
        known = _POOLS.get(name)
        if known is None or known[:2] != (os.getpid(), threads):
            if known is not None and known[0] == os.getpid():
                known[2].shutdown(wait=False)
            known = _POOLS[name] = (os.getpid(), threads, ThreadPoolExecutor(max_workers=threads,
                                                                             thread_name_prefix=name))
        return known[2]


def compute_pool(threads: int) -> ThreadPoolExecutor:
    """The process's pool of window-computing threads (shared by requests, so it bounds them)."""
    return _named_pool("dap-window", threads)


def read_ahead(read: Callable[[_S], _R], items: Iterable[_S], depth: int = 2) -> Iterator[tuple[_S, _R]]:
    """``(item, read(item))`` for each item in order, each read started up to ``depth`` items
    before it is taken, on the process's reader threads."""
    pool = _named_pool("dap-read", READ_THREADS)
    upcoming = iter(items)
    pending: deque[tuple[_S, Future[_R]]] = deque()
    try:
        for item in upcoming:
            pending.append((item, pool.submit(read, item)))
            if len(pending) > depth:
                first, future = pending.popleft()
                yield first, future.result()
        while pending:
            first, future = pending.popleft()
            yield first, future.result()
    finally:  # nothing may still read the request's snapshot once the caller is done
        for _, future in pending:
            future.cancel()
        wait([future for _, future in pending])


def one_ahead(work: Callable[[_S], _R], items: Iterable[_S]) -> Iterator[tuple[_S, _R]]:
    """``(item, work(item))`` for each item in order: the first computed by the caller, each
    next one started on the process's ahead threads just before the previous one is handed out,
    so it runs while the caller uses that one, and one at a time.

    At most one item is worked on ahead of the one the caller holds. When the caller stops (the
    iterator is closed) or ``work`` fails, the item ahead is cancelled or waited for: nothing
    this started still runs once it ends (its failure, if nobody asks for it, is dropped).
    """
    upcoming = iter(items)
    item = next(upcoming, _END)
    if item is _END:
        return
    result = work(item)
    pool = _named_pool("dap-ahead", AHEAD_THREADS)
    future: Future[_R] | None = None
    try:
        while True:
            following = next(upcoming, _END)
            if following is not _END:
                future = pool.submit(work, following)
            yield item, result
            if future is None:
                return
            item, result = following, future.result()
            future = None
    finally:  # nothing may still read the request's snapshot once the caller is done
        if future is not None:
            future.cancel()
            wait([future])


_END: Any = object()

__all__ = ["AHEAD_THREADS", "READ_THREADS", "compute_pool", "one_ahead", "read_ahead"]
